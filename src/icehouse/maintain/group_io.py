"""How a rewrite group's rows are read, and how its output is read back for the proof.

Local files of a table whose schema never changed and that have no delete files are read
straight by pyarrow (their columns are the table's), with few-valued string columns kept
as dictionaries (``tables/dictionaries.py``); anything else goes through PyIceberg's
reader (field ids, schema evolution, deletes). The output is read back in the shape it was
written in, so dictionaries are compared as dictionaries.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from icehouse.maintain.compact_plan import FileGroup
from icehouse.maintain.proof import Fingerprint, fingerprint, fingerprint_files
from icehouse.tables.dictionaries import few_valued_strings
from icehouse.tables.scan import read_tasks


def local_path(path: str) -> str | None:
    if path.startswith("file://"):
        return path.removeprefix("file://")
    return path if path.startswith("/") else None


def read_group(table: Table, group: FileGroup, *, contiguous: bool) -> pa.Table:
    """The group's rows in the current schema; ``contiguous`` for one chunk per column,
    which rows about to be sorted want (taking sorted row groups out of hundreds of chunks
    costs more than combining them first)."""
    tasks = group.tasks
    paths = [local_path(t.file.file_path) for t in tasks]
    plain = len(table.metadata.schemas) == 1 and not any(t.delete_files for t in tasks)
    local = [p for p in paths if p]
    if plain and local and len(local) == len(paths) and _hold_identity_columns(table, group):
        schema = table.schema().as_arrow()
        largest = max(range(len(tasks)), key=lambda i: tasks[i].file.record_count)
        try:
            few = few_valued_strings(local[largest], schema)
        except (OSError, pa.ArrowException) as exc:  # pyarrow's message names no file here
            raise pa.ArrowInvalid(f"cannot read {local[largest]}: {exc}") from exc
        string_dictionary = pa.dictionary(pa.int32(), pa.string())  # as pyarrow reads them
        schema = pa.schema([f.with_type(string_dictionary) if f.name in few else f for f in schema])
        # No partitioning: every column comes from the file, never from its folder name.
        rows = pq.ParquetDataset(
            local, schema=schema, read_dictionary=few, partitioning=None
        ).read()
    else:
        rows = read_tasks(table, tasks)
    return rows.combine_chunks() if contiguous else rows


def _hold_identity_columns(table: Table, group: FileGroup) -> bool:
    """Whether every file's metrics show it stores the columns of identity partition
    fields: some writers leave them out (the partition value says it all), and only
    PyIceberg's reader fills them back in."""
    spec = table.metadata.specs()[group.spec_id]
    identity = [f.source_id for f in spec.fields if isinstance(f.transform, IdentityTransform)]
    return all(
        source_id in (task.file.value_counts or {})
        for task in group.tasks
        for source_id in identity
    )


def fingerprint_written(table: Table, files: list[DataFile], schema: pa.Schema) -> Fingerprint:
    """The fingerprint of the written files as read back from storage; ``schema`` is the
    shape the rows were written in."""
    paths = [local_path(f.file_path) for f in files]
    local = [p for p in paths if p]
    if files and len(local) == len(paths):
        return fingerprint_files(local, schema)
    return fingerprint(_read_back(table, files, schema))


def _read_back(table: Table, files: list[DataFile], schema: pa.Schema) -> pa.Table:
    dictionaries = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    parts = []
    for data_file in files:
        with table.io.new_input(data_file.file_path).open() as stream:
            parts.append(pq.read_table(stream, read_dictionary=dictionaries))
    return pa.concat_tables(parts) if parts else schema.empty_table()
