"""SQL over the lake's tables in embedded DuckDB (minimal; issue #4 makes it fast).

Tables are named ``namespace.table`` in SQL, exactly as in the catalog: each namespace a
query mentions becomes a DuckDB schema and each table a view over the files of its
current snapshot, planned by PyIceberg. Tables with delete files are read through
PyIceberg's Arrow reader, which applies them.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import QueryError
from icehouse.tables.catalog import load_table

_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def referenced_tables(sql: str, known: set[str]) -> list[str]:
    found = []
    for match in _NAME.finditer(sql):
        name = f"{match.group(1)}.{match.group(2)}"
        if name in known and name not in found:
            found.append(name)
    return found


def known_tables(catalog: SqlCatalog) -> set[str]:
    return {
        ".".join(identifier)
        for namespace in catalog.list_namespaces()
        for identifier in catalog.list_tables(namespace)
    }


def attach_table(conn: duckdb.DuckDBPyConnection, catalog: SqlCatalog, name: str) -> None:
    namespace, table_name = name.split(".")
    table = load_table(catalog, name)
    view = f"{_quote(namespace)}.{_quote(table_name)}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
    tasks = list(table.scan().plan_files())
    local = all(t.file.file_path.startswith(("file:", "/")) for t in tasks)
    evolved = len(table.metadata.schemas) > 1  # renamed or added columns: map by field id
    if any(task.delete_files for task in tasks) or not tasks or not local or evolved:
        data = table.scan().to_arrow()
        relation_name = f"__icehouse_{namespace}_{table_name}"
        conn.register(relation_name, data)
        conn.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {_quote(relation_name)}")
        return
    paths = ", ".join(
        "'" + t.file.file_path.removeprefix("file://").replace("'", "''") + "'" for t in tasks
    )
    columns = ", ".join(_quote(f.name) for f in table.schema().fields)
    conn.execute(
        f"CREATE OR REPLACE VIEW {view} AS SELECT {columns} "
        f"FROM read_parquet([{paths}], union_by_name = true)"
    )


def run_sql(catalog: SqlCatalog, sql: str) -> pa.Table:
    """Raises: QueryError with DuckDB's message (and the tables it knows)."""
    known = known_tables(catalog)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    try:
        for name in referenced_tables(sql, known):
            attach_table(conn, catalog, name)
        try:
            return conn.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            tables = ", ".join(sorted(known)) or "none"
            raise QueryError(f"{exc}\n(tables: {tables})", sql=sql) from exc
    finally:
        conn.close()
