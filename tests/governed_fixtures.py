"""A filtered lake for the governed query tests: ``web.requests`` with a value in every
cell that names its row and column (``note-7``, ``cost-7``), so that a leak of any
cell is found by looking for such values in whatever a principal was given.

The policy is the test's own: ``Policy`` maps table UUIDs (and view names) to the cell
sets granted, as the governance model will, so a renamed table keeps its access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.schema import Schema

from icehouse.govern.access import CellSet, TableAccess
from icehouse.lake import Lake
from icehouse.query.governed import run_governed_sql
from icehouse.query.sql import QueryResult
from icehouse.tables.catalog import find_table
from icehouse.tables.row_filters import encode_row_filter
from tests import fixtures_lake
from tests.test_query_deletes import append_rows

TABLE = "web.requests"
SCHEMA = {"id": "long!", "region": "string", "status": "long", "note": "string", "cost": "string"}
IDS = range(1, 13)
REGIONS = ("eu", "us", "ap")
MARKER = re.compile(r"\b(note|cost)-(\d+)\b")


def region_of(i: int) -> str:
    return REGIONS[i % 3]


def status_of(i: int) -> int:
    return 500 if i % 4 == 0 else 200


def batch(ids: Iterable[int]) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "region": [region_of(i) for i in ids],
            "status": pa.array([status_of(i) for i in ids], pa.int64()),
            "note": [f"note-{i}" for i in ids],
            "cost": [f"cost-{i}" for i in ids],
        }
    )


def make_table(lake: Lake, name: str = TABLE) -> None:
    """``name`` partitioned by region (one file per region), holding ``IDS``."""
    namespace = (name.split(".")[0],)
    if namespace not in lake.namespaces.list():
        lake.namespaces.create(namespace)
    lake.tables.create(name, schema=SCHEMA, partition=["region"])
    append_rows(lake, name, batch(IDS))


def schema(lake: Lake, name: str = TABLE) -> Schema:
    return fixtures_lake.iceberg_table(lake, name).schema()


def uuid(lake: Lake, name: str = TABLE) -> str:
    return str(fixtures_lake.iceberg_table(lake, name).metadata.table_uuid)


def ids_of(lake: Lake, *columns: str, name: str = TABLE) -> frozenset[int]:
    found = schema(lake, name)
    return frozenset(found.find_field(c).field_id for c in columns)


def row_filter(lake: Lake, where: str, name: str = TABLE) -> dict[str, Any]:
    return encode_row_filter(where, name, schema(lake, name))


@dataclass
class Policy:
    """Grants by table UUID and by view name; ``definers`` holds what a view's definer
    may read of a table (by view name and table UUID) or of another view (by the two
    view names, the cells unused)."""

    lake: Lake
    tables: dict[str, tuple[CellSet, ...]] = field(default_factory=dict)
    views: set[str] = field(default_factory=set)
    definers: dict[tuple[str, str], tuple[CellSet, ...]] = field(default_factory=dict)

    def __call__(self, name: str, *, as_definer: str | None = None) -> TableAccess:
        if name in self.views and (as_definer is None or (as_definer, name) in self.definers):
            return TableAccess(name, (CellSet(None, None, f"view {name}"),))
        table = find_table(fixtures_lake.catalog_of(self.lake), name)
        if table is None:
            return TableAccess("", ())
        key = str(table.metadata.table_uuid)
        if as_definer is not None:
            cells = self.definers.get((as_definer, key), ())
        else:
            cells = self.tables.get(key, ())
        return TableAccess(key if cells else "", cells)  # no grant: not even described


def governed(lake: Lake, policy: Policy, sql: str, *, explain: bool = False) -> QueryResult:
    """``sql`` run as a governed principal whose reads ``policy`` decides, on the lake's
    own query session (as ``Lake.sql`` runs it for a principal)."""
    return run_governed_sql(
        fixtures_lake.catalog_of(lake),
        sql,
        policy,
        session=lake._queries,
        delete=lake.delete,
        explain=explain,
    )


def markers(text: str) -> set[str]:
    """Every cell value (``note-7``...) in ``text``."""
    return {f"{m.group(1)}-{m.group(2)}" for m in MARKER.finditer(text)}
