"""SQL over the lake's tables in embedded DuckDB.

Tables are named ``namespace.table`` in SQL, exactly as in the catalog: each namespace a
query mentions becomes a DuckDB schema and each table a view over the files of its
current snapshot, planned by PyIceberg with the query's simple filters pushed down
(``pruning.py``), so partitions and files that cannot match are never opened. Tables
with delete files or an evolved schema are read through PyIceberg's Arrow reader, which
applies deletes and maps columns by field id.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table

from icehouse.errors import QueryError
from icehouse.query import time_travel
from icehouse.query.delete import parse_delete, run_delete
from icehouse.query.pruning import pushdown_filter
from icehouse.tables.catalog import load_table

_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b")


@dataclass(frozen=True)
class TablePlan:
    """What a query had to read of one table (``icehouse sql --explain``)."""

    table: str
    pushed_filter: str
    files_in_snapshot: int
    files_planned: int
    bytes_planned: int
    planning_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    plans: list[TablePlan]
    execution_seconds: float


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


def attach_table(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table: Table,
    row_filter: BooleanExpression | None = None,
) -> TablePlan:
    started = time.perf_counter()
    namespace, table_name = name.split(".")
    row_filter = row_filter if row_filter is not None else AlwaysTrue()
    view = f"{_quote(namespace)}.{_quote(table_name)}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
    scan = table.scan(row_filter=row_filter)
    tasks = list(scan.plan_files())
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot is not None and snapshot.summary else {}
    plan = TablePlan(
        table=name,
        pushed_filter=str(row_filter),
        files_in_snapshot=int(summary.get("total-data-files", 0) or 0),
        files_planned=len(tasks),
        bytes_planned=sum(t.file.file_size_in_bytes for t in tasks),
        planning_seconds=time.perf_counter() - started,
    )
    local = all(t.file.file_path.startswith(("file:", "/")) for t in tasks)
    evolved = len(table.metadata.schemas) > 1  # renamed or added columns: map by field id
    if any(task.delete_files for task in tasks) or not tasks or not local or evolved:
        relation_name = f"__icehouse_{namespace}_{table_name}"
        conn.register(relation_name, scan.to_arrow())
        conn.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {_quote(relation_name)}")
        return plan
    paths = ", ".join(
        "'" + t.file.file_path.removeprefix("file://").replace("'", "''") + "'" for t in tasks
    )
    columns = ", ".join(_quote(f.name) for f in table.schema().fields)
    conn.execute(
        f"CREATE OR REPLACE VIEW {view} AS SELECT {columns} "
        f"FROM read_parquet([{paths}], union_by_name = true)"
    )
    return plan


def attach_snapshot(
    conn: duckdb.DuckDBPyConnection, catalog: SqlCatalog, name: str, snapshot_id: int
) -> TablePlan:
    """A view of an older snapshot, read by PyIceberg with that snapshot's schema."""
    started = time.perf_counter()
    table = load_table(catalog, name)
    scan = table.scan(snapshot_id=snapshot_id)
    tasks = list(scan.plan_files())
    view = time_travel.view_name(name, snapshot_id)
    namespace, view_table = view.split(".")
    relation = f"__icehouse_{namespace}_{view_table}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
    conn.register(relation, scan.to_arrow())
    conn.execute(
        f"CREATE OR REPLACE VIEW {_quote(namespace)}.{_quote(view_table)} AS "
        f"SELECT * FROM {_quote(relation)}"
    )
    snapshot = table.snapshot_by_id(snapshot_id)
    summary = snapshot.summary if snapshot is not None and snapshot.summary else {}
    return TablePlan(
        table=f"{name}@{snapshot_id}",
        pushed_filter=str(AlwaysTrue()),
        files_in_snapshot=int(summary.get("total-data-files", 0) or 0),
        files_planned=len(tasks),
        bytes_planned=sum(t.file.file_size_in_bytes for t in tasks),
        planning_seconds=time.perf_counter() - started,
    )


def _rewrite_time_travel(
    conn: duckdb.DuckDBPyConnection, catalog: SqlCatalog, sql: str, known: set[str]
) -> tuple[str, list[TablePlan]]:
    plans = []
    for match, name in reversed(time_travel.find(sql)):  # right to left keeps offsets valid
        if name not in known:
            continue
        snapshot_id = time_travel.resolve(load_table(catalog, name), name, match, sql)
        plans.append(attach_snapshot(conn, catalog, name, snapshot_id))
        namespace, view = time_travel.view_name(name, snapshot_id).split(".")
        sql = f"{sql[: match.start()]}{_quote(namespace)}.{_quote(view)}{sql[match.end() :]}"
    return sql, plans


def run_sql(catalog: SqlCatalog, sql: str, *, prune: bool = True) -> QueryResult:
    """Raises: QueryError with DuckDB's message (and the tables it knows)."""
    statement = parse_delete(sql)
    if statement is not None:
        started = time.perf_counter()
        deleted = run_delete(load_table(catalog, statement.table), statement, sql)
        return QueryResult(pa.table({"deleted_rows": [deleted]}), [], time.perf_counter() - started)
    known = known_tables(catalog)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    original = sql
    try:
        sql, plans = _rewrite_time_travel(conn, catalog, sql, known)
        for name in referenced_tables(sql, known):
            iceberg_table = load_table(catalog, name)
            schema = iceberg_table.schema()
            row_filter = pushdown_filter(sql, name, schema) if prune else AlwaysTrue()
            plans.append(attach_table(conn, name, iceberg_table, row_filter))
        started = time.perf_counter()
        try:
            table = conn.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            tables = ", ".join(sorted(known)) or "none"
            raise QueryError(f"{exc}\n(tables: {tables})", sql=original) from exc
        return QueryResult(table, plans, time.perf_counter() - started)
    finally:
        conn.close()
