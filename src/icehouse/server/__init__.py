"""The Iceberg REST catalog server: engines (PyIceberg, DuckDB, Spark, Trino) read and
write the lake's tables through it. Its routes call the ``Lake`` facade only."""

from icehouse.server.app import create_app

__all__ = ["create_app"]
