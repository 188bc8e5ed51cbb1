"""Iceberg views in the lake's SQL: a view a query names becomes a DuckDB view of its
SQL, over the same lake tables the query can read.

A view carries its SQL per dialect; DuckDB runs the ``duckdb`` representation, else the
``spark`` one (Spark SQL that DuckDB's parser accepts: plain SELECTs over
``namespace.table`` names). Views may name other views: the ones reached are created
innermost first, since DuckDB binds a view's SQL when it is created.
"""

from __future__ import annotations

from collections.abc import Callable

from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import QueryError
from icehouse.tables.catalog_views import view_representations

DIALECTS = ("duckdb", "spark")
"""The dialects DuckDB is given, in order of preference."""


def views_in(catalog: SqlCatalog, sql: str, names: Callable[[str], list[str]]) -> dict[str, str]:
    """The views ``sql`` names, directly or through other views, with the SQL DuckDB
    runs for each: innermost first. ``names`` lists the ``namespace.name`` names in a
    SQL text.

    Raises: QueryError (a view with no SQL in a dialect DuckDB runs)."""
    found: dict[str, str] = {}
    pending = [sql]
    while pending:
        for name in names(pending.pop()):
            if name in found:
                continue
            representations = view_representations(catalog, name)
            if representations is None:
                continue
            found[name] = _duckdb_sql(name, representations, sql)
            pending.append(found[name])
    return dict(reversed(found.items()))


def _duckdb_sql(name: str, representations: dict[str, str], sql: str) -> str:
    for dialect in DIALECTS:
        if dialect in representations:
            return representations[dialect]
    raise QueryError(
        f"view {name!r} has SQL only in {', '.join(sorted(representations))}; the lake's SQL "
        f"runs a view's {' or '.join(DIALECTS)} representation. Replace the view with one",
        sql=sql,
    )
