"""``FOR VERSION AS OF`` / ``FOR TIMESTAMP AS OF`` after a table name (Spark/Trino syntax).

Each time-travel reference is resolved to a snapshot id (a number, a tag or branch name,
or the snapshot current at a timestamp) and rewritten to a view of that snapshot, named
``<table>__at_<snapshot id>`` in the table's namespace. A mounted table's reference
(``mount.namespace.table FOR ...``) is found whole, so that it is never taken for a
local ``namespace.table`` of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
from pyiceberg.table import Table

from icehouse.errors import QueryError

_TIME_TRAVEL = re.compile(
    r"\b(?:(?P<mount>[A-Za-z_][A-Za-z0-9_]*)\s*\.\s*)?"
    r"(?P<ns>[A-Za-z_][A-Za-z0-9_]*)\s*\.\s*(?P<table>[A-Za-z_][A-Za-z0-9_]*)\s+"
    r"FOR\s+(?P<kind>VERSION|TIMESTAMP|SYSTEM_TIME)\s+AS\s+OF\s+"
    r"(?P<value>'(?:[^']|'')*'|-?\d+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimeTravel:
    table: str  # namespace.table
    snapshot_id: int
    view: str  # the name the rewritten query uses, namespace.view


def find(sql: str) -> list[tuple[re.Match[str], str]]:
    """Every time-travel reference with its table name (``mount.namespace.table`` for a
    three-part one)."""
    return [(m, _name(m)) for m in _TIME_TRAVEL.finditer(sql)]


def _name(match: re.Match[str]) -> str:
    parts = match.group("mount", "ns", "table")
    return ".".join(part for part in parts if part is not None)


def resolve(
    table: Table, name: str, match: re.Match[str], sql: str, conn: duckdb.DuckDBPyConnection
) -> int:
    """``conn`` (the query's connection, in UTC) reads a timestamp as DuckDB would.

    Raises: QueryError naming what does not exist."""
    kind, value = match.group("kind").upper(), match.group("value")
    text = value[1:-1].replace("''", "'") if value.startswith("'") else value
    if kind == "VERSION":
        if not value.startswith("'"):
            if table.snapshot_by_id(int(text)) is None:
                raise QueryError(
                    f"{name} has no snapshot {text} (see `icehouse table history`)", sql=sql
                )
            return int(text)
        snapshot = table.snapshot_by_name(text)
        if snapshot is None:
            refs = ", ".join(sorted(table.metadata.refs)) or "none"
            raise QueryError(f"{name} has no tag or branch {text!r} (refs: {refs})", sql=sql)
        return snapshot.snapshot_id
    row = conn.execute("SELECT epoch_ms(TRY_CAST(? AS TIMESTAMPTZ))", [text]).fetchone()
    assert row is not None  # a scalar SELECT returns one row
    millis = row[0]
    if millis is None:
        raise QueryError(f"cannot read timestamp {text!r} in FOR TIMESTAMP AS OF", sql=sql)
    snapshot = table.snapshot_as_of_timestamp(millis)
    if snapshot is None:
        raise QueryError(f"{name} had no snapshot yet at {text}", sql=sql)
    return snapshot.snapshot_id


def view_name(name: str, snapshot_id: int) -> str:
    """``ns.t__at_<id>`` for ``ns.t`` (``mount.ns.t__at_<id>`` for ``mount.ns.t``)."""
    namespace, table = name.rsplit(".", 1)
    return f"{namespace}.{table}__at_{snapshot_id}".replace("-", "m")
