"""Iceberg views in the lake's SQL: a view a query names becomes a DuckDB view of its
SQL, over the same lake tables the query can read.

A view carries its SQL per dialect; DuckDB runs the ``duckdb`` representation, else the
``spark`` one (Spark SQL that DuckDB's parser accepts: plain SELECTs over
``namespace.table`` names). Views may name other views: the ones reached are created
innermost first, since DuckDB binds a view's SQL when it is created.

An engine may name the lake's catalog in a view's SQL: Spark writes ``lake.web.hits``
when ``lake`` is what its session calls the REST catalog, and a DuckDB that attached the
catalog as ``icehouse`` writes ``icehouse.web.hits``. Such a leading catalog name (the
view's recorded default catalog, or ``icehouse``) is dropped, unless the lake has a
namespace of that name, in which case the name means that namespace's nested one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import QueryError
from icehouse.tables.catalog import CATALOG_NAME
from icehouse.tables.catalog_views import ViewSql, view_sql
from icehouse.tables.namespaces import namespace_exists

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
            view = view_sql(catalog, name)
            if view is None:
                continue
            catalogs = {c for c in (view.default_catalog, CATALOG_NAME) if c is not None}
            named = {c.casefold() for c in catalogs if not namespace_exists(catalog, (c,))}
            found[name] = without_catalog(_duckdb_sql(name, view, sql), named)
            pending.append(found[name])
    return dict(reversed(found.items()))


def without_catalog(sql: str, catalogs: set[str]) -> str:
    """``sql`` with ``catalog.`` dropped before every three-part name
    (``catalog.namespace.name``) whose first part is one of ``catalogs`` (lower case).
    Only identifiers are looked at: a string or a comment that reads the same is kept."""
    tokens = duckdb.tokenize(sql)
    texts = [
        sql[start : (tokens[i + 1][0] if i + 1 < len(tokens) else len(sql))].strip()
        for i, (start, _) in enumerate(tokens)
    ]
    kinds = [kind for _, kind in tokens]
    identifier, dot = duckdb.token_type.identifier, "."
    cuts = []
    for i in range(len(tokens) - 4):
        shape = (kinds[i], texts[i + 1], kinds[i + 2], texts[i + 3], kinds[i + 4])
        follows_a_dot = i > 0 and texts[i - 1] == dot
        if (
            shape == (identifier, dot, identifier, dot, identifier)
            and not follows_a_dot
            and texts[i].strip('"').casefold() in catalogs
        ):
            cuts.append((tokens[i][0], tokens[i + 2][0]))
    for start, end in reversed(cuts):
        sql = sql[:start] + sql[end:]
    return sql


def _duckdb_sql(name: str, view: ViewSql, sql: str) -> str:
    for dialect in DIALECTS:
        if dialect in view.by_dialect:
            return view.by_dialect[dialect]
    raise QueryError(
        f"view {name!r} has SQL only in {', '.join(sorted(view.by_dialect))}; the lake's SQL "
        f"runs a view's {' or '.join(DIALECTS)} representation. Replace the view with one",
        sql=sql,
    )
