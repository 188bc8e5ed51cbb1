"""Replace the rows a set of values names, and add new files, in one snapshot.

A source with ``on_change = "reingest"`` records in a column which landed file each row
came from. When that file comes back with other content, the rows of its earlier version
leave in the very snapshot in which the new version's rows arrive: no reader, at any
snapshot, sees both versions (or neither).

Deletion is copy-on-write, as icehouse's deletes are: each data file that holds matching
rows is dropped, and its other rows are written again (sorted and sized like any file
of the table). The commit is a ``replace_files`` with an ``overwrite`` summary, so it
inherits its rules: it commits on ``main`` as it is now, and fails with
``RewriteConflict`` when a file it rewrote was changed meanwhile (the caller retries).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, In, Or
from pyiceberg.manifest import DataFile
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.snapshots import Operation

from icehouse.errors import CommitRaced, RewriteConflict
from icehouse.tables._compat import ArrowScan
from icehouse.tables.commit import BatchCommit
from icehouse.tables.replace import ManifestIndex, replace_files
from icehouse.tables.writer import TableWriter


@dataclass
class RowReplacement:
    """The files a replacement drops, the files holding the rows they keep, and how many
    rows left."""

    removed: list[DataFile] = field(default_factory=list)
    rewritten: list[DataFile] = field(default_factory=list)
    rows_removed: int = 0
    _writer: TableWriter | None = None

    def abort(self) -> None:
        """Delete the rewritten files (the commit they were written for did not land)."""
        if self._writer is not None:
            self._writer.abort()


def replace_rows(table: Table, matches: Mapping[str, Collection[str]]) -> RowReplacement:
    """Rewrite the data files of ``table`` holding rows whose value in a column of
    ``matches`` is one of that column's values, without those rows (nothing is committed
    yet)."""
    replacement = RowReplacement()
    wanted = {column: sorted(set(values)) for column, values in matches.items() if values}
    if not wanted or table.current_snapshot() is None:
        return replacement
    terms = [In(term=column, literals=set(values)) for column, values in wanted.items()]
    row_filter = terms[0] if len(terms) == 1 else Or(*terms)
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    writer = TableWriter(table)
    replacement._writer = writer
    for task in table.scan(row_filter=row_filter).plan_files():
        rows = scan.to_table([task])
        matching = _matching(rows, wanted)
        removed = int(pc.sum(matching).as_py() or 0)
        if not removed:
            continue  # the file's bounds admitted the values; its rows do not hold them
        replacement.removed.append(task.file)
        replacement.rows_removed += removed
        kept = rows.filter(pc.invert(matching))
        if kept.num_rows:
            writer.write(kept)
    replacement.rewritten = writer.close()
    return replacement


def _matching(rows: pa.Table, matches: dict[str, list[str]]) -> pa.ChunkedArray:
    masks = [
        pc.fill_null(pc.is_in(rows.column(c), value_set=pa.array(v, pa.string())), False)
        for c, v in matches.items()
    ]
    mask = masks[0]
    for other in masks[1:]:
        mask = pc.or_(mask, other)
    return mask


def commit_replacement(
    table: Table,
    replacement: RowReplacement,
    added: Sequence[DataFile],
    *,
    properties: dict[str, str],
) -> CommitTableResponse:
    """One ``overwrite`` snapshot: the replacement's files swapped, ``added`` appended,
    ``properties`` in its summary.

    Raises:
        RewriteConflict: a removed file is no longer live (retry on a fresh table).
        CommitRaced: ``main`` moved while this commit was written.
    """
    snapshot = table.current_snapshot()
    return replace_files(
        table,
        removed=replacement.removed,
        added=[*replacement.rewritten, *added],
        started_from=snapshot.snapshot_id if snapshot is not None else None,
        index=ManifestIndex(table.io),
        operation=Operation.OVERWRITE,
        properties=properties,
    )


def replacing_rows(
    matches: Mapping[str, Collection[str]], added: Sequence[DataFile]
) -> BatchCommit:
    """A batch commit (for ``append_files``) that adds ``added`` and removes the rows
    ``matches`` names (see ``replace_rows``), planned afresh on each attempt's table."""

    def commit(table: Table, properties: dict[str, str]) -> CommitTableResponse:
        replacement = replace_rows(table, matches)
        try:
            return commit_replacement(table, replacement, added, properties=properties)
        except (CommitRaced, RewriteConflict):  # did not land: retried afresh
            replacement.abort()
            raise

    return commit


__all__ = ["RowReplacement", "commit_replacement", "replace_rows", "replacing_rows"]
