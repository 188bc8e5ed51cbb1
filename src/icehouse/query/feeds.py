"""How a table reaches a governed principal's sandbox: the cheapest way that shows it
nothing its access hides.

- ``DataFiles``: access to every row and every column of a table whose planned files
  DuckDB reads as they are (``sql.native_paths``: local, no delete files, one schema).
  The sandbox reads those exact files itself, allowed by path. Reading such a file
  directly, by ``read_parquet('<path>')``, gives nothing beyond the table the principal
  may read whole, so the allowed paths cannot bypass anything: they are only ever
  allowed for unrestricted access, never behind a filtering view (where a direct read
  would bypass the filter). No other file is allowed (not another table's, not an older
  snapshot's: the sandbox is opened for exactly these paths), globs are refused.
- ``filtered_dataset``: one cell set whose predicate reads only columns it shows, over
  such files: a pyarrow dataset of those files whose schema holds only the visible
  columns and whose filter is the predicate. Every scan of it (DuckDB pushes its
  projection and filters in) applies the filter, and it has no other column, so reading
  the registered object by its own name gives the same cells; nothing is copied.
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


Feed: TypeAlias = pa.Table | ds.Dataset | DataFiles
"""What a sandbox reads as one table: a masked copy, a filtered dataset or data files."""


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


def allowed_paths(feeds: Sequence[Feed]) -> frozenset[str]:
    """The files a sandbox reading ``feeds`` must be allowed to read, and no other."""
    return frozenset(path for f in feeds if isinstance(f, DataFiles) for path in f.paths)


def feed(defined: Defined, conn: duckdb.DuckDBPyConnection, name: str, source: Feed) -> None:
    """``source`` as ``name`` (``namespace.table``) on ``conn``, listed in ``defined``
    for ``forget``."""
    if isinstance(source, DataFiles):
        define_view(defined, conn, name, source.select)
    else:
        register_rows(defined, conn, name, source)
