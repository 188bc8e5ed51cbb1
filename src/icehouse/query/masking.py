"""A principal's access to one table (``govern.access.TableAccess``) as SQL and as an
Iceberg expression, for one schema of the table.

The SQL is what the trusted connection runs to make the only copy of the table a
principal's SQL may read: rows no cell set covers are dropped (``WHERE p1 OR p2 ...``),
each column shows a cell only where a cell set covering that column covers the row
(``CASE WHEN p_i ... THEN column END``: NULL elsewhere), and columns no cell set covers
are left out, so that not even their names reach the principal. Rows and columns are
named by field id in the access and resolved against the schema given, which is the
current one or, for time travel, the snapshot's: a rename or an older schema keeps the
protection where it was granted.

The expression is the OR of the cell sets' predicates: planning ANDs it into the query's
own pushdown, so a filtered principal reads no file that holds none of its rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    Not,
    Or,
    Reference,
    UnboundPredicate,
)
from pyiceberg.schema import Schema

from icehouse.govern.access import CellSet, TableAccess
from icehouse.query.filter_text import describe_filter
from icehouse.tables.row_filters import row_filter_expression, row_filter_fields, row_filter_sql


@dataclass(frozen=True)
class _Cells:
    """One cell set resolved against a schema: its predicate as DuckDB SQL (None: every
    row) and the field ids of its columns that the schema has."""

    predicate: str | None
    field_ids: frozenset[int]
    cells: CellSet


def _resolved(access: TableAccess, schema: Schema) -> list[_Cells]:
    """The cell sets that cover at least one column of ``schema`` (the others show no
    cell, so their rows must not make a row appear)."""
    all_ids = frozenset(f.field_id for f in schema.fields)
    resolved = []
    for cells in access.cell_sets:
        ids = all_ids if cells.field_ids is None else cells.field_ids & all_ids
        if not ids:
            continue
        predicate = None if cells.row_filter is None else row_filter_sql(cells.row_filter, schema)
        resolved.append(_Cells(predicate, ids, cells))
    return resolved


def _any(predicates: list[str | None]) -> str | None:
    """The OR of ``predicates``; None (every row) when one of them is None."""
    if not predicates or any(p is None for p in predicates):
        return None if predicates else "false"
    return " OR ".join(f"({p})" for p in predicates)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def visible_columns(access: TableAccess, schema: Schema) -> list[str]:
    """The names of ``schema``'s top-level columns the access shows any cell of, in
    schema order (empty: the principal sees nothing of the table)."""
    shown = set().union(*(c.field_ids for c in _resolved(access, schema)))
    return [f.name for f in schema.fields if f.field_id in shown]


def copied_columns(access: TableAccess, schema: Schema, only: set[str] | None) -> list[str]:
    """The visible columns a statement's copy of the table needs, given ``only``, the
    lower-case names the statement reads (None: whole rows, so all). A statement that
    names no column at all (``count(*)``) gets the first column; one whose names are
    none of this table's (it reads the table through ``information_schema`` or a table
    function) gets all."""
    visible = visible_columns(access, schema)
    if only is None:
        return visible
    named = [name for name in visible if name.lower() in only]
    return named or (visible[:1] if not only else visible)


def masked_select(
    relation: str,
    access: TableAccess,
    schema: Schema,
    *,
    columns: Collection[str] | None = None,
    narrowed: str | None = None,
) -> str:
    """A SELECT over ``relation`` (a quoted name whose columns are ``schema``'s) giving
    exactly the cells ``access`` shows, of ``columns`` (default: every visible one).
    The access must show some column (``visible_columns``). ``narrowed``: a condition
    on columns the access shows unmasked (the statement's own pushed filter), which
    drops rows the statement would drop anyway, before they are copied."""
    resolved = _resolved(access, schema)
    shown = []
    for field in schema.fields:
        covering = [c.predicate for c in resolved if field.field_id in c.field_ids]
        if not covering or (columns is not None and field.name not in columns):
            continue
        name = _quote(field.name)
        condition = None if access.unrestricted else _any(covering)
        shown.append(
            name if condition is None else f"CASE WHEN {condition} THEN {name} END AS {name}"
        )
    rows = None if access.unrestricted else _any([c.predicate for c in resolved])
    conditions = [f"({c})" for c in (rows, narrowed) if c is not None]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(shown)} FROM {relation}{where}"


@dataclass(frozen=True)
class SoleCellSet:
    """A single cell set that shows every cell an access shows: the masked table is just
    ``columns`` (in schema order) of the rows ``predicate`` keeps, no cell masked."""

    columns: list[str]
    predicate: BooleanExpression
    """Over the schema's names (AlwaysTrue: every row)."""
    predicate_sql: str | None
    """The same rows as a DuckDB WHERE clause (None: every row)."""


def sole_cell_set(access: TableAccess, schema: Schema) -> SoleCellSet | None:
    """The single cell set that shows every cell the access shows, when its predicate
    reads only columns it shows; None otherwise."""
    resolved = _resolved(access, schema)
    if len(resolved) != 1:
        return None
    (cells,) = resolved
    encoded = cells.cells.row_filter
    if encoded is not None and not row_filter_fields(encoded) <= cells.field_ids:
        return None
    columns = [f.name for f in schema.fields if f.field_id in cells.field_ids]
    if encoded is None:
        return SoleCellSet(columns, AlwaysTrue(), None)
    where = row_filter_sql(encoded, schema, where=True)
    return SoleCellSet(columns, row_filter_expression(encoded, schema), where)


def access_expression(access: TableAccess, schema: Schema) -> BooleanExpression:
    """The rows some cell set covers, over ``schema``'s names (for planning)."""
    expression: BooleanExpression | None = None
    for cells in _resolved(access, schema):
        if cells.cells.row_filter is None:
            return AlwaysTrue()
        term = row_filter_expression(cells.cells.row_filter, schema)
        expression = term if expression is None else Or(expression, term)
    return expression if expression is not None else AlwaysTrue()


def access_description(access: TableAccess, schema: Schema) -> str | None:
    """What ``--explain`` says of the access: the rows allowed and the grants that allow
    them; None when the table is read unfiltered."""
    if access.unrestricted:
        return None
    sources = ", ".join(c.cells.source for c in _resolved(access, schema))
    return f"{describe_filter(access_expression(access, schema), schema)} ({sources})"


def masked_columns(access: TableAccess, schema: Schema) -> set[str]:
    """Lower-case names of the columns some returned row may show as NULL in place of
    its value: a filter on them must not prune files, since the raw values are not the
    values the principal's SQL compares."""
    if access.unrestricted:
        return set()
    resolved = _resolved(access, schema)
    masked = set()
    for field in schema.fields:
        covering = [c.predicate for c in resolved if field.field_id in c.field_ids]
        if not covering or _any(covering) != _any([c.predicate for c in resolved]):
            masked.add(field.name.lower())
    return masked


def predicate_columns(access: TableAccess, schema: Schema) -> set[str]:
    """Lower-case names of the columns the cell sets' predicates read (the masking reads
    them whichever columns the query names)."""
    ids = set().union(
        *(row_filter_fields(c.row_filter) for c in access.cell_sets if c.row_filter is not None)
    )
    return {f.name.lower() for f in schema.fields if f.field_id in ids}


def filter_columns(expression: BooleanExpression) -> set[str]:
    """Lower-case names of the columns an unbound expression reads."""
    if isinstance(expression, And | Or):
        return filter_columns(expression.left) | filter_columns(expression.right)
    if isinstance(expression, Not):
        return filter_columns(expression.child)
    if isinstance(expression, UnboundPredicate) and isinstance(expression.term, Reference):
        return {expression.term.name.lower()}
    return set()
