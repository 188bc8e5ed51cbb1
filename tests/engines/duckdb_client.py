"""Run SQL statements in DuckDB with its iceberg extension, as another engine would.

Runs in its own virtualenv (DuckDB and the extension wheels of one exact version; see
``tests/fixtures_engines.py``), never in icehouse's interpreter: reads a JSON list of
statements on stdin, prints one JSON list of row lists (one per statement) on stdout.
Extensions are loaded from their wheels' files, so nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import duckdb

EXTENSIONS = ("httpfs", "avro", "iceberg")


def connect() -> duckdb.DuckDBPyConnection:
    """A connection with the extensions of the ``duckdb-extension-*`` wheels loaded."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    for name in EXTENSIONS:
        package = importlib.import_module(f"duckdb_extension_{name}")
        folder = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}"
        connection.execute(f"LOAD '{folder / f'{name}.duckdb_extension'}'")
    return connection


def main() -> None:
    statements: list[str] = json.load(sys.stdin)
    connection = connect()
    results = []
    for statement in statements:
        try:
            rows = connection.execute(statement).fetchall()
        except duckdb.Error as error:
            sys.exit(f"DuckDB refused: {statement}\n{error}")
        results.append([list(row) for row in rows])
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
