"""When DuckDB may read a table's planned data files itself, and the SELECT that does.

DuckDB's own Parquet reader prunes row groups and reads only the columns a query
needs; PyIceberg's reader decodes whole files into memory. Files are handed to DuckDB
only when they hold exactly the table's rows in its current schema, as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table


def native_paths(table: Table, tasks: Sequence[FileScanTask]) -> list[str] | None:
    """The local paths of ``tasks``' data files when DuckDB may read them as they are,
    each file holding exactly rows of ``table`` in its current schema; None when they
    must go through PyIceberg's reader: delete files to apply, files that are not
    local, no file at all, or an evolved schema (columns renamed or added, which only
    field ids map)."""
    local = all(t.file.file_path.startswith(("file:", "/")) for t in tasks)
    evolved = len(table.metadata.schemas) > 1
    if any(t.delete_files for t in tasks) or not tasks or not local or evolved:
        return None
    return [t.file.file_path.removeprefix("file://") for t in tasks]


def native_select(schema: Schema, paths: Sequence[str]) -> str:
    """A SELECT of ``schema``'s columns from the Parquet files ``paths``."""
    quoted = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    selected = ", ".join(_quote(f.name) for f in schema.fields)
    return f"SELECT {selected} FROM read_parquet([{quoted}], hive_partitioning = false)"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
