"""``DELETE FROM namespace.table WHERE ...``: row-level deletes as an Iceberg snapshot.

The ``WHERE`` must translate exactly into a PyIceberg expression (``tables/filters.py``:
``column <op> constant``, ``IN``, ``IS [NOT] NULL``, joined by ``AND``, ``OR``, ``NOT``):
unlike pruning, a delete cannot drop a term it does not understand. The rows go in one
snapshot (``tables/deletes.py``) that keeps the ingestion bookkeeping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from icehouse.errors import FilterNotTranslatable, QueryError
from icehouse.tables.deletes import delete_rows
from icehouse.tables.filters import SUPPORTED, where_expression

_DELETE = re.compile(
    r"^\s*DELETE\s+FROM\s+(?P<name>[A-Za-z_]\w*\s*\.\s*[A-Za-z_]\w*)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CHANGES_DATA = re.compile(
    r"^\s*(INSERT|UPDATE|MERGE|DELETE|CREATE|DROP|ALTER|TRUNCATE|COPY)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class DeleteStatement:
    table: str
    where: str


def parse_delete(sql: str) -> DeleteStatement | None:
    """The DELETE in ``sql``, None for a query.

    Raises:
        QueryError: a statement that changes data other than a supported DELETE.
    """
    match = _DELETE.match(sql)
    if match is None:
        verb = _CHANGES_DATA.match(sql)
        if verb:
            raise QueryError(
                f"{verb.group(1).upper()} is not supported: data enters through "
                "`icehouse ingest`; rows leave with DELETE FROM namespace.table WHERE ...",
                sql=sql,
            )
        return None
    if not match.group("where"):
        raise QueryError("DELETE needs a WHERE clause naming the rows to delete", sql=sql)
    return DeleteStatement(re.sub(r"\s+", "", match.group("name")), match.group("where"))


def delete_filter(statement: DeleteStatement, table: Table, sql: str) -> BooleanExpression:
    """Raises: QueryError naming the term of the WHERE that cannot be translated exactly."""
    try:
        return where_expression(statement.where, statement.table, table.schema())
    except FilterNotTranslatable as exc:
        raise QueryError(
            f"DELETE supports WHERE terms of the form {SUPPORTED}; cannot translate: {exc.term}",
            sql=sql,
        ) from exc


def run_delete(load: Callable[[], Table], statement: DeleteStatement, sql: str) -> int:
    """Delete matching rows in one snapshot; returns how many rows went. ``load`` returns
    the table freshly loaded (a delete that loses a race starts over on a new load).

    Raises:
        QueryError: a term of the WHERE cannot be translated exactly.
        CommitConflict: other commits kept winning the race (nothing was deleted).
    """
    return delete_rows(load, delete_filter(statement, load(), sql))
