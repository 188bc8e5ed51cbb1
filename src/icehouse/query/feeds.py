"""How a table reaches a governed principal's sandbox: the cheapest way that shows it
nothing its access hides.

- ``DataFiles``: access to every row and every column of a table whose planned files
  DuckDB reads as they are (``native.native_paths``: local, no delete files, one schema;
  ``file_fields``: no column beyond the schema's fields).
  The sandbox reads those exact files itself, allowed by path. Reading such a file
  directly, by ``read_parquet('<path>')``, gives nothing beyond the table the principal
  may read whole, so the allowed paths cannot bypass anything: they are only ever
  allowed for unrestricted access, never behind a filtering view (where a direct read
  would bypass the filter). No other file is allowed (not another table's, not an older
  snapshot's: the sandbox is opened for exactly these paths), globs are refused.
- ``FilteredFiles``: one cell set whose predicate reads only columns it shows, over such
  files. Two ways to read it, each showing only the visible columns of the rows the
  predicate keeps:

  - natively: a view ``SELECT <visible columns> FROM read_parquet(<files>) WHERE
    <predicate>`` on a sandbox allowed those files, as fast as the administrator's query
    (a pyarrow dataset measured 1.3-1.6x slower on selective queries: it decodes whole
    columns where DuckDB's reader filters first). Allowing the files would let a direct
    ``read_parquet`` of one bypass the view's filter, so this way is taken only for a
    statement that ``tables.sql_reads.reads_only`` finds reads nothing but the tables
    registered for it: no table function, no file, no catalog or settings function.
    DuckDB evaluates the principal's expressions after the view's filter here (it does
    not reorder expressions that can throw), and should an error arise anyway, the
    statement is run again the second way and only that run's outcome is shown, so no
    error computed from a hidden row reaches the principal;
  - as a pyarrow dataset of those files whose schema holds only the visible columns and
    whose filter is the predicate. Every scan of it (DuckDB pushes its projection and
    filters in) applies the filter, and it has no other column, so reading the
    registered object by its own name gives the same cells; nothing is copied and no
    file is allowed.
- Anything else (several cell sets masking cells, deletes, evolved schemas, remote
  files): the masked Arrow copy ``query/governed.py`` makes on the trusted connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.schema import Schema

from icehouse.query.sql import Defined, define_view, register_rows
from icehouse.tables.row_filters import expression_arrow


@dataclass(frozen=True)
class DataFiles:
    """A table read by the sandbox from its data files ``paths`` with ``select``."""

    paths: tuple[str, ...]
    select: str


@dataclass(frozen=True)
class FilteredFiles:
    """The rows of data files ``paths`` (of ``schema``, by name) that ``predicate``
    keeps, with only ``columns`` (which include every column ``predicate`` reads):
    ``select`` reads them natively, the predicate as its WHERE; ``dataset()`` through
    pyarrow."""

    paths: tuple[str, ...]
    select: str
    schema: Schema
    columns: tuple[str, ...]
    predicate: BooleanExpression

    def dataset(self) -> ds.Dataset:
        return filtered_dataset(self.paths, self.schema, self.columns, self.predicate)


Feed: TypeAlias = pa.Table | ds.Dataset | DataFiles | FilteredFiles
"""What a sandbox reads as one table: a masked copy, a filtered dataset, data files or
filtered data files."""


def filtered_files(
    paths: Sequence[str],
    schema: Schema,
    columns: Sequence[str],
    predicate: BooleanExpression,
    predicate_sql: str | None,
) -> FilteredFiles:
    """``FilteredFiles`` of ``paths``; ``predicate_sql``: ``predicate`` as DuckDB SQL
    with the masked copy's semantics (None: every row)."""
    quoted = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    selected = ", ".join('"' + name.replace('"', '""') + '"' for name in columns)
    where = "" if predicate_sql is None else f" WHERE {predicate_sql}"
    select = f"SELECT {selected} FROM read_parquet([{quoted}], hive_partitioning = false){where}"
    return FilteredFiles(tuple(paths), select, schema, tuple(columns), predicate)


def filtered_dataset(
    paths: Sequence[str], schema: Schema, columns: Sequence[str], predicate: BooleanExpression
) -> ds.Dataset:
    """The rows of Parquet files ``paths`` (of ``schema``, by name) that ``predicate``
    keeps, with only ``columns``, which include every column ``predicate`` reads."""
    whole = ds.dataset(list(paths), format="parquet")
    shown = whole.replace_schema(pa.schema([whole.schema.field(name) for name in columns]))
    if isinstance(predicate, AlwaysTrue):
        return shown
    return shown.filter(expression_arrow(predicate, schema))


def reads_files_natively(feeds: Sequence[Feed]) -> bool:
    """Whether ``feeds`` hold filtered files that a sandbox could read natively."""
    return any(isinstance(f, FilteredFiles) for f in feeds)


def allowed_paths(feeds: Sequence[Feed], *, native: bool) -> frozenset[str]:
    """The files a sandbox reading ``feeds`` must be allowed to read, and no other;
    ``native``: filtered files are read natively (only for a statement that reads
    nothing but its tables, ``tables.sql_reads.reads_only``)."""
    return frozenset(
        path
        for f in feeds
        if isinstance(f, DataFiles) or (native and isinstance(f, FilteredFiles))
        for path in f.paths
    )


def feed(
    defined: Defined,
    conn: duckdb.DuckDBPyConnection,
    name: str,
    source: Feed,
    *,
    native: bool = False,
) -> None:
    """``source`` as ``name`` (``namespace.table``) on ``conn``, listed in ``defined``
    for ``forget``; filtered files natively when ``native`` (see ``allowed_paths``),
    else as a filtered dataset."""
    if isinstance(source, DataFiles) or (native and isinstance(source, FilteredFiles)):
        define_view(defined, conn, name, source.select)
    elif isinstance(source, FilteredFiles):
        register_rows(defined, conn, name, source.dataset())
    else:
        register_rows(defined, conn, name, source)
