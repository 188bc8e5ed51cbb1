"""The query API's Python client: ``icehouse.connect(url, credential=...)`` and SQL
against an ``icehouse serve``, rows back as pyarrow Tables. It needs no lake home, no
state database and no DuckDB: only HTTP (``requests``) and pyarrow."""

from icehouse.client.connection import Connection, ExplainedQuery, connect

__all__ = ["Connection", "ExplainedQuery", "connect"]
