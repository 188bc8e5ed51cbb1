"""A table's committer: commits every batch its workers wrote, a few snapshots at a time.

Workers write their batches and record them written (``batch_commit.py``); only the
table's committer commits them, so the commit rate of a table stays about one per poll
interval whatever the number of workers, and no worker races another for the table.
Whoever holds the table's lease (``ledger/committers.py``) is its committer; any
ingesting process may become it when the lease is free, ran out or its holder died.

A cycle, each step a fault-injection point:

1. take or renew the lease (``commit.leased`` after a takeover);
2. gather the table's written batches (``commit.gathered``);
3. commit them: consecutive plain appends in one snapshot, a batch that replaces rows in
   a snapshot of its own, in the order they were written (a writer's batches in its
   sequence order, so that its watermark never passes a batch not yet in the table);
   each attempt reloads the table and leaves out what it already holds, which is what
   keeps a stalled former committer from committing a batch twice (``batch.committed``);
4. record those batches and their files committed in one transaction
   (``batch.recorded``), then apply ``on_success`` to their source files.

It runs in the worker's own loop (no thread), between files and polls, so a crash
injected in it ends the worker like any other.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from icehouse.errors import CommitConflict
from icehouse.ingest.faults import Faults
from icehouse.ingest.ledger import Ledger, WrittenBatch
from icehouse.ingest.report import IngestProgress, IngestReport
from icehouse.state.clock import Clock
from icehouse.state.owners import owner_is_dead
from icehouse.tables.batch_manifest import delete_batch_manifests, read_batch_manifests
from icehouse.tables.catalog import load_table
from icehouse.tables.commit import COMMITTER_KEY, PendingBatch, commit_batches, is_committed
from icehouse.tables.history import trim_history
from icehouse.tables.overwrite import replacing_rows
from icehouse.tables.reachability import reachable_from

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommitterSetup:
    """Who commits, and how often when none of its own batches waits."""

    owner: str
    """This process (``host:pid``), as the committer leases record it."""
    poll_seconds: float


class TableCommitter:
    """Commits the written batches of the tables this process ingests, for each table
    whose committer it is (or can become)."""

    def __init__(
        self,
        *,
        catalog: SqlCatalog,
        ledger: Ledger,
        setup: CommitterSetup,
        faults: Faults,
        progress: IngestProgress,
        clock: Clock,
        settled: Callable[[list[str]], None],
    ) -> None:
        self._catalog = catalog
        self._ledger = ledger
        self._setup = setup
        self._faults = faults
        self._progress = progress
        self._clock = clock
        self._settled = settled
        """Told the ids of batches recorded committed: ``on_success`` for their files."""
        self._next_cycle: dict[str, float] = {}

    def step(
        self,
        table: str,
        report: IngestReport,
        *,
        own: set[str],
        writer_id: str | None,
        urgent: bool = False,
    ) -> None:
        """Run a cycle for ``table`` if any batch of it is written, this process holds
        (or can take) its lease, and the last cycle is a poll interval ago (at once when
        ``urgent``: one of this process's own batches waits). ``own`` holds the ids of
        this process's batches written and not yet settled; those settled leave it."""
        if not urgent and self._clock() < self._next_cycle.get(table, 0.0):
            return  # asked between every file of a batch: no statement until it is due
        if not self._ledger.batches.has_written(table):
            return
        lease = self._ledger.committers.take(table, self._setup.owner)
        if lease is None:
            return
        if lease.taken_over:
            logger.info("committing %s from now on (term %d)", table, lease.term)
            self._faults("commit.leased")
        self._next_cycle[table] = self._clock() + self._setup.poll_seconds
        self._cycle(table, report, own=own, writer_id=writer_id)

    def _cycle(
        self,
        table_name: str,
        report: IngestReport,
        *,
        own: set[str],
        writer_id: str | None,
    ) -> None:
        written = in_commit_order(self._ledger.batches.written(table_name))
        if not written:
            return
        self._faults("commit.gathered")
        load = functools.partial(load_table, self._catalog, table_name)
        written = self._settle_found(load(), written, report, own=own, writer_id=writer_id)
        committed_any = False
        for group in commit_groups(written):
            held = self._ledger.committers.take(table_name, self._setup.owner)
            if held is None:
                return  # another process took the table over while this one stalled
            if held.taken_over:  # it had lapsed (this process stalled), and was free again
                self._faults("commit.leased")
            try:
                committed_any |= self._commit(
                    load,
                    group,
                    report,
                    own=own,
                    writer_id=writer_id,
                    committer=f"{held.owner} term {held.term}",
                )
            except CommitConflict as exc:
                # Still losing to other commits (maintenance) after every retry: the
                # batches stay written, and the next cycle commits them.
                logger.warning("committing %s: %s; trying again next cycle", table_name, exc)
                break
        if committed_any:
            with report.measure("history"):
                trim_history(load(), now_ms=int(self._clock() * 1000))

    def _settle_found(
        self,
        table: Table,
        written: list[WrittenBatch],
        report: IngestReport,
        *,
        own: set[str],
        writer_id: str | None,
    ) -> list[WrittenBatch]:
        """Record committed the batches that need no commit: those with no data file,
        and orphans (see ``is_orphan``) whose data files the table already references
        although its summary keys do not name them; returns the others."""
        empty = [b.id for b in written if not b.write.data_files]
        orphans = [
            b
            for b in written
            if b.write.data_files
            and is_orphan(b, writer_id)
            and not is_committed(table, batch_id=b.id, writer_id=b.writer_id, seq=b.seq)
        ]
        found = []
        if orphans:
            referenced = reachable_from(table)
            for batch in orphans:
                if any(path in referenced for path in batch.write.data_files):
                    logger.warning(
                        "batch %s of %s: the table references its data files although its "
                        "snapshot summary does not name it; settled as committed, files kept",
                        batch.id,
                        batch.table_name,
                    )
                    found.append(batch.id)
        settled = set(empty) | set(found)
        if settled:
            self._record(
                table,
                [b for b in written if b.id in settled],
                {i: None for i in settled},
                report,
                own=own,
                found=set(found),
                writer_id=writer_id,
            )
        return [b for b in written if b.id not in settled]

    def _commit(
        self,
        load: Callable[[], Table],
        group: list[WrittenBatch],
        report: IngestReport,
        *,
        own: set[str],
        writer_id: str | None,
        committer: str,
    ) -> bool:
        """Commit one group in one snapshot (or find it committed); returns whether a
        snapshot was made. The snapshot names its ``committer`` (owner and term)."""
        table = load()
        try:
            pending = [
                PendingBatch(
                    batch_id=b.id,
                    writer_id=b.writer_id,
                    seq=b.seq,
                    data_files=read_batch_manifests(table, b.write.manifests),
                    rows=b.write.rows,
                    late_rows=b.write.late_rows,
                    newest_event=b.write.newest_event,
                )
                for b in group
            ]
        except FileNotFoundError:
            # Another committer settled these batches (and deleted their manifests) since
            # they were gathered: this process stalled and lost the lease meanwhile.
            return False
        replaced = group[0].write.replaced
        started = self._clock()
        with report.measure("commit"):
            done = commit_batches(
                load,
                pending,
                commit=replacing_rows(replaced, pending[0].data_files) if replaced else None,
                summary={COMMITTER_KEY: committer},
            )
        if done.snapshot_id is not None:
            report.snapshots.append(done.snapshot_id)
            self._faults("batch.committed")
        snapshots: dict[str, int | None] = {i: done.snapshot_id for i in done.committed}
        snapshots.update({i: None for i in done.already})
        report.commit_seconds += self._clock() - started
        self._record(
            table,
            group,
            snapshots,
            report,
            own=own,
            found=set(done.already),
            writer_id=writer_id,
        )
        return done.snapshot_id is not None

    def _record(
        self,
        table: Table,
        group: list[WrittenBatch],
        snapshots: dict[str, int | None],
        report: IngestReport,
        *,
        own: set[str],
        found: set[str],
        writer_id: str | None,
    ) -> None:
        """The ledger catches up with the table, then ``on_success``, the staged
        manifests go, and the progress hears of this process's own batches.
        Another's batch counts as recovered when its writer is gone or the table held it
        already (``found``): a committer that stalled, or a worker that crashed, left it."""
        with report.measure("ledger"):
            moved = set(self._ledger.batches.commit(snapshots))
        for batch in group:
            delete_batch_manifests(table, batch.write.manifests)
        self._faults("batch.recorded")
        self._settled([b.id for b in group if b.id in moved])
        now = self._clock()
        for batch in group:
            if batch.id not in moved:
                continue
            if batch.id not in own:
                if batch.id in found or is_orphan(batch, writer_id):
                    report.recovered_committed += 1
                continue
            own.discard(batch.id)  # its writer's report counts it (``ingester.py``)
            landed = batch.write.oldest_landed
            lag = None if landed is None else now - landed
            self._progress.batch_committed(
                batch.table_name,
                batch.write.rows,
                len(batch.write.data_files),
                now - batch.written_at,
                lag,
            )


def is_orphan(batch: WrittenBatch, writer_id: str | None) -> bool:
    """A written batch whose writer is gone: its slot was released, its owner died on
    this host, or this process holds its slot now. Settling one counts as a recovery."""
    return batch.writer_id == writer_id or owner_is_dead(batch.owner)


def in_commit_order(written: list[WrittenBatch]) -> list[WrittenBatch]:
    """``written`` (oldest written first) with each writer's batches in sequence order
    in the places its batches hold: clocks of several hosts may disagree, and a batch
    committed before an earlier one of its writer would raise the writer's watermark
    over a batch the table does not hold."""
    by_writer: dict[str, list[WrittenBatch]] = defaultdict(list)
    for batch in written:
        by_writer[batch.writer_id].append(batch)
    queues = {w: sorted(batches, key=lambda b: b.seq) for w, batches in by_writer.items()}
    return [queues[batch.writer_id].pop(0) for batch in written]


def commit_groups(written: Collection[WrittenBatch]) -> list[list[WrittenBatch]]:
    """Consecutive plain appends together; a batch that replaces rows alone."""
    groups: list[list[WrittenBatch]] = []
    for batch in written:
        if batch.write.replaced or not groups or groups[-1][0].write.replaced:
            groups.append([batch])
        else:
            groups[-1].append(batch)
    return groups
