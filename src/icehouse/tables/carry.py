"""Ingestion summary keys survive every commit to ``main``, whoever makes it.

Exactly-once recovery and late-row detection read three keys from the current snapshot's
summary: ``icehouse.batch-id``, ``icehouse.watermarks`` (per writer, the highest batch
sequence committed) and ``icehouse.event-high-water`` (per source, the newest event time
committed). A snapshot written by PyIceberg, Spark or DuckDB carries none of them. Left
so, the next ingestion would rebuild the marks from nothing, and a recovery after an
expiry would take a committed batch for an uncommitted one: it would delete data files
the table still reads and ingest their source files again.

So the catalog rewrites the summary of every snapshot a commit adds (``LakeCatalog``):

- keys under ``icehouse.`` sent by a client that is not one of icehouse's writers are
  dropped: a foreign client must never move a watermark;
- a snapshot that becomes ``main``'s gets the marks of its parent and of ``main`` as the
  catalog has it, raised by what an icehouse writer sent: the highest mark per writer
  and per source, so marks only ever rise.

icehouse's own commit code says so with ``icehouse_writer()`` around its catalog call.
The marker lives in the committing thread's context, not in anything a client sends, so
no request (and later no REST call) can claim it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Snapshot, Summary
from pyiceberg.table.update import AddSnapshotUpdate, SetSnapshotRefUpdate, TableUpdate

PREFIX = "icehouse."
BATCH_KEY = "icehouse.batch-id"
BATCHES_KEY = "icehouse.batch-ids"
"""Comma-separated: every batch a committer's snapshot holds (``BATCH_KEY`` names the
last of them). Carried forward together with ``BATCH_KEY``, from the same summary."""
WATERMARKS_KEY = "icehouse.watermarks"
EVENT_HIGH_WATER_KEY = "icehouse.event-high-water"
"""JSON ``{source: newest event time committed, UNIX µs}``: rows of a source older than
its mark (minus the source's ``late_after``) are late."""
AUDIT_EXPORTED_KEY = "icehouse.audit-exported-through"
"""On ``icehouse_system.audit``: the highest audit record id the table holds. Carried
forward like the ingestion keys (the highest one seen), so that a compaction of the
audit table cannot make the next export take records again."""
SUMMARY_KEYS = (
    BATCH_KEY,
    BATCHES_KEY,
    WATERMARKS_KEY,
    EVENT_HIGH_WATER_KEY,
    AUDIT_EXPORTED_KEY,
)

_ICEHOUSE_WRITER: ContextVar[bool] = ContextVar("icehouse_writer", default=False)
"""True while one of icehouse's own writers commits in this thread (or task)."""


@contextmanager
def icehouse_writer() -> Iterator[None]:
    """Commits inside the block are icehouse's own: their ``icehouse.*`` keys are kept."""
    token = _ICEHOUSE_WRITER.set(True)
    try:
        yield
    finally:
        _ICEHOUSE_WRITER.reset(token)


def is_icehouse_writer() -> bool:
    return _ICEHOUSE_WRITER.get()


def parse_marks(raw: str | None) -> dict[str, int]:
    """A JSON object of integer marks; empty for anything else (a bare number, as early
    releases wrote for the event high-water, held one value for the whole table)."""
    try:
        marks = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in marks.items()} if isinstance(marks, dict) else {}


def compact_json(marks: dict[str, int]) -> str:
    return json.dumps(marks, sort_keys=True, separators=(",", ":"))


def carry_forward(
    metadata: TableMetadata | None, updates: tuple[TableUpdate, ...], *, trusted: bool
) -> tuple[TableUpdate, ...]:
    """``updates`` with the summary of each added snapshot rewritten (see the module):
    ``metadata`` is the table as the catalog has it before the commit (None for a new
    table), ``trusted`` whether an icehouse writer commits."""
    to_main = {
        u.snapshot_id
        for u in updates
        if isinstance(u, SetSnapshotRefUpdate) and u.ref_name == MAIN_BRANCH
    }
    return tuple(
        update.model_copy(
            update={
                "snapshot": _rewritten(
                    update.snapshot,
                    metadata,
                    to_main=update.snapshot.snapshot_id in to_main,
                    trusted=trusted,
                )
            }
        )
        if isinstance(update, AddSnapshotUpdate)
        else update
        for update in updates
    )


def _rewritten(
    snapshot: Snapshot, metadata: TableMetadata | None, *, to_main: bool, trusted: bool
) -> Snapshot:
    sent = snapshot.summary
    if sent is None:
        return snapshot
    kept = {
        key: value
        for key, value in sent.additional_properties.items()
        if trusted or not key.startswith(PREFIX)
    }
    if to_main:
        earlier = _earlier_summaries(snapshot, metadata)
        kept.update(merged_keys([*earlier, sent] if trusted else earlier))
    return snapshot.model_copy(update={"summary": Summary(operation=sent.operation, **kept)})


def _earlier_summaries(snapshot: Snapshot, metadata: TableMetadata | None) -> list[Summary]:
    """The summaries of the snapshot's parent and of ``main``'s current snapshot (the
    same one when the commit asserted ``main``, as every Iceberg append does)."""
    if metadata is None:
        return []
    found = []
    for snapshot_id in (snapshot.parent_snapshot_id, metadata.current_snapshot_id):
        earlier = metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else None
        if earlier is not None and earlier.summary is not None:
            found.append(earlier.summary)
    return found


def merged_keys(summaries: Iterable[Summary]) -> dict[str, str]:
    """The ingestion keys of ``summaries`` merged: the highest watermark per writer, the
    newest event time per source, the last batch id named (with the batch ids of its
    snapshot), and the highest audit record exported."""
    watermarks: dict[str, int] = {}
    high_water: dict[str, int] = {}
    batch_id: str | None = None
    batch_ids: str | None = None
    exported: int | None = None
    for summary in summaries:
        through = summary.get(AUDIT_EXPORTED_KEY) or ""
        if through.isdigit():
            exported = max(exported or 0, int(through))
        for writer, seq in parse_marks(summary.get(WATERMARKS_KEY)).items():
            watermarks[writer] = max(watermarks.get(writer, seq), seq)
        for source, newest in parse_marks(summary.get(EVENT_HIGH_WATER_KEY)).items():
            high_water[source] = max(high_water.get(source, newest), newest)
        if summary.get(BATCH_KEY):
            batch_id, batch_ids = summary.get(BATCH_KEY), summary.get(BATCHES_KEY)
    merged = {WATERMARKS_KEY: compact_json(watermarks)} if watermarks else {}
    if high_water:
        merged[EVENT_HIGH_WATER_KEY] = compact_json(high_water)
    if batch_id:
        merged[BATCH_KEY] = batch_id
    if batch_id and batch_ids:
        merged[BATCHES_KEY] = batch_ids
    if exported is not None:
        merged[AUDIT_EXPORTED_KEY] = str(exported)
    return merged
