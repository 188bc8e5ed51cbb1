"""The ingestion loop: discover, claim, decode, write, hand over, commit, recover.

Exactly once, step by step (each boundary is a fault-injection point, see
``faults.py``):

1. files are registered in the ledger, then claimed by a batch that has a writer id and
   a sequence number (``batch.claimed``);
2. their rows are written as Parquet, described in manifests, and the batch recorded
   written with all its commit needs, only if it is still open (``batch.written``);
3. the table's committer, one process per table elected by a lease, gathers the
   table's written batches (``commit.leased`` when it took the lease over,
   ``commit.gathered``) and commits them, several in one snapshot that carries their
   batch ids and each writer's raised high-water mark (``batch.committed``);
4. the ledger marks those batches and their files committed (``batch.recorded``);
5. ``on_success`` keeps, deletes or archives the source files.

A worker never commits to the table, so an open batch is never in it: one left open by
a dead or stalled process is aborted by whoever recovers it (only if it is still open),
its written files deleted and its files queued again. A written batch is always the
committer's: a new committer settles those the table already holds (its current
snapshot's high-water marks or retained history say so) and commits the others.

The ``Ingester`` runs the rounds and recovery; one batch is a ``BatchContext`` (what its
files share, ``batch_context.py``) filled by a ``BatchRun`` (``batch_run.py``), each file
by a ``FileIngest`` (``batch.py``), handed over by the ``BatchHandover``
(``batch_commit.py``) and committed by the ``TableCommitter`` (``table_committer.py``),
which each round, each file and each handed-over batch give a chance to run. The state
they share lives in the ledger (``ledger/``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy import Engine

from icehouse.config import LakeConfig, SourceConfig
from icehouse.errors import NoSuchSource
from icehouse.ingest.batch import BatchAbandoned, SchemaMustEvolve
from icehouse.ingest.batch_commit import BatchHandover
from icehouse.ingest.batch_context import BatchContext
from icehouse.ingest.batch_run import BatchPace, BatchRun
from icehouse.ingest.claim_size import RowDensity
from icehouse.ingest.discovery import OrderedDiscovery
from icehouse.ingest.faults import Faults, no_faults
from icehouse.ingest.landing import list_landed, open_location
from icehouse.ingest.late_rows import EventTime, LateRows
from icehouse.ingest.ledger import (
    COMMITTED,
    DUPLICATE,
    OPEN,
    BatchWrite,
    Heartbeat,
    Ledger,
    OpenBatch,
)
from icehouse.ingest.mapping import RowMapper
from icehouse.ingest.report import IngestProgress, IngestReport, NoProgress
from icehouse.ingest.table_committer import CommitterSetup, TableCommitter
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.owners import owner_is_dead, this_process
from icehouse.tables.catalog import load_table
from icehouse.tables.commit import event_high_water, is_committed
from icehouse.tables.manage import add_columns_for
from icehouse.tables.reachability import reachable_from
from icehouse.tables.writer import TableWriter

HOUSEKEEPING_EVERY_S = 3600.0
logger = logging.getLogger(__name__)


class Ingester:
    def __init__(
        self,
        *,
        config: LakeConfig,
        engine: Engine,
        catalog: SqlCatalog,
        faults: Faults = no_faults,
        progress: IngestProgress | None = None,
        stop: threading.Event | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._config = config
        self._catalog = catalog
        lease = config.ingest.lease_time.total_seconds()
        self._ledger = Ledger.open(engine, lease_seconds=lease, clock=clock)
        self._faults = faults
        self._progress = progress or NoProgress()
        self._stop = stop or threading.Event()
        self._clock = clock
        self._handover = BatchHandover(faults=faults)
        self._owner = this_process()
        self._committer = TableCommitter(
            catalog=catalog,
            ledger=self._ledger,
            setup=CommitterSetup(
                owner=self._owner, poll_seconds=config.ingest.poll_interval_time.total_seconds()
            ),
            faults=faults,
            progress=self._progress,
            clock=clock,
            settled=self._settled,
        )
        self._own: set[str] = set()
        """Ids of this ingester's batches handed over and not yet seen committed."""
        self._handed: dict[str, BatchWrite] = {}
        """This ingester's batches handed over and not yet counted in its report: when
        one leaves ``_own`` it is committed, by this process's committer or another's,
        and the report counts it either way."""
        self._writer_id: str | None = None
        self._density = RowDensity()
        self._ordered = OrderedDiscovery(config.storage, self._ledger.marks)

    def _sources(self, names: Sequence[str] | None) -> list[SourceConfig]:
        if not names:
            return list(self._config.sources.values())
        missing = [n for n in names if n not in self._config.sources]
        if missing:
            known = (
                ", ".join(self._config.sources) or "none yet; add one with `icehouse source add`"
            )
            raise NoSuchSource(f"no source {missing[0]!r} (sources: {known})", source=missing[0])
        return [self._config.sources[n] for n in names]

    # -- the loop ---------------------------------------------------------------------

    def run(
        self,
        sources: Sequence[str] | None = None,
        *,
        follow: bool = False,
        report: IngestReport | None = None,
        working: Callable[[], None] = lambda: None,
    ) -> IngestReport:
        """Ingest until nothing is pending (``follow=False``) or until stopped.

        May be called again after it raised (``resilience.keep_running`` does so after
        an outage): it takes its writer slot back if it can and first settles the batch
        it left open. ``working`` is called after each round that went through (every
        pending file tried): how ``keep_running`` knows an outage is over. Without
        ``follow``, it returns once the batches it wrote are committed (by this process
        as their table's committer, or by the process that is)."""
        chosen = self._sources(sources)
        report = report if report is not None else IngestReport()
        started = self._clock()
        writer_id, _ = self._ledger.slots.acquire(self._owner, prefer=self._writer_id)
        self._writer_id = writer_id
        next_housekeeping = 0.0
        longest_settle = max((s.settle_time.total_seconds() for s in chosen), default=0.0)
        give_up = started + 3 * longest_settle + 5.0
        tables = sorted({s.table for s in chosen})
        try:
            while not self._stop.is_set():
                # Every round, not only at start: a peer that died (on any host) stops
                # renewing its leases, and its claimed files come back to the queue here.
                self.recover(writer_id, report)
                for table_name in tables:
                    self._commit_step(table_name, report)
                if self._own:  # those another process committed are not ours to wait for
                    self._own &= self._ledger.batches.still_written(self._own)
                    self._count_committed(report)
                if self._clock() >= next_housekeeping:
                    self._forget_old_records(chosen)
                    next_housekeeping = self._clock() + HOUSEKEEPING_EVERY_S
                settling = self.discover(chosen)
                worked = False
                by_table: dict[str, list[SourceConfig]] = defaultdict(list)
                for source in chosen:
                    by_table[source.table].append(source)
                for table_name, table_sources in by_table.items():
                    names = [s.name for s in table_sources]
                    while not self._stop.is_set() and self._ledger.queue.has_pending(names):
                        self._run_batch(table_name, table_sources, writer_id, report, follow)
                        worked = True
                working()
                # --once waits for files whose content another batch holds (they are
                # settled with it), and leaves files that never settle for a later run.
                waiting = self._ledger.queue.waiting()
                if (
                    not follow
                    and not worked
                    and not waiting
                    and (not settling or self._clock() > give_up)
                ):
                    break
                if not worked:
                    self._stop.wait(self._config.ingest.poll_interval_time.total_seconds())
                    self._ledger.slots.renew(writer_id, self._owner)
            if not follow:
                self._wait_for_commits(tables, report)
        finally:
            self._ledger.slots.release(writer_id, self._owner)
            for table_name in tables:
                self._ledger.committers.release(table_name, self._owner)
            report.seconds += self._clock() - started
        return report

    def _commit_step(self, table_name: str, report: IngestReport, *, urgent: bool = False) -> None:
        """Give the table's committer a turn in this process (see ``table_committer.py``)."""
        self._committer.step(
            table_name, report, own=self._own, writer_id=self._writer_id, urgent=urgent
        )
        self._count_committed(report)

    def _count_committed(self, report: IngestReport) -> None:
        """Count in ``report`` each batch of this ingester that has left ``_own``."""
        for batch_id in [b for b in self._handed if b not in self._own]:
            written = self._handed.pop(batch_id)
            report.batches += 1
            report.data_files += len(written.data_files)
            report.bytes_written += written.bytes_written

    def _wait_for_commits(self, tables: list[str], report: IngestReport) -> None:
        """Until every batch this ingester handed over is committed: commit them as the
        table's committer when this process is or can become it, else wait for the one
        that is (a dead one's lease is taken over once it lapses)."""
        while self._own:
            for table_name in tables:
                self._commit_step(table_name, report, urgent=True)
            self._own &= self._ledger.batches.still_written(self._own)
            self._count_committed(report)
            if not self._own or self._stop.wait(
                self._config.ingest.poll_interval_time.total_seconds()
            ):
                return

    def _forget_old_records(self, sources: Sequence[SourceConfig]) -> None:
        """Drop ledger and quarantine records past ``[ingest] retention``."""
        self._ledger.batches.forget_older_than(
            self._config.ingest.retention_time.total_seconds(),
            ledger_sources=[s.name for s in sources if s.on_success != "keep"],
        )

    def stop(self) -> None:
        self._stop.set()

    def discover(self, sources: Sequence[SourceConfig]) -> int:
        """Queue complete files; returns how many are still settling."""
        settling = 0
        for source in sources:
            poll = None
            if source.listing == "ordered":
                poll = self._ordered.poll(source, now=self._clock())
                ready, young = poll.ready, poll.settling
            else:
                filesystem, base = open_location(source.location, self._config.storage)
                ready, young = list_landed(filesystem, base, source, now=self._clock())
            self._faults("discovery.listed")
            _, committed = self._ledger.queue.register(
                source.name, ready, report_committed=source.on_success != "keep"
            )
            if poll is not None:
                self._ordered.advance(source, poll)
            if committed:
                self._after_success([(source.name, path) for path in committed])
            settling += len(young)
        return settling

    # -- one batch ------------------------------------------------------------------

    def _run_batch(
        self,
        table_name: str,
        sources: list[SourceConfig],
        writer_id: str,
        report: IngestReport,
        follow: bool,
    ) -> None:
        """Open a batch, fill it, commit it; a batch that cannot go on is aborted (its
        files back in the queue) and is redone by the next round."""
        context = self._open_batch(table_name, sources, writer_id, report)
        pace = BatchPace(
            follow=follow, limits=self._config.ingest, clock=self._clock, stop=self._stop
        )
        run = BatchRun(
            context,
            pace=pace,
            discover=functools.partial(self.discover, sources),
            faults=self._faults,
            progress=self._progress,
            density=self._density,
            between=functools.partial(self._commit_step, table_name, report),
        )
        try:
            tally = run.fill()
        except BatchAbandoned:
            self._abort(context)
            return
        except SchemaMustEvolve as change:
            self._abort(context)
            add_columns_for(context.table, change.fields)
            report.columns_added.extend(f"{table_name}.{f.name}" for f in change.fields)
            return
        except BaseException:
            context.writer.abort()  # nothing committed: the files go back on recovery
            raise
        written = self._handover(context, tally)
        if written is not None:
            self._own.add(context.batch.id)
            self._handed[context.batch.id] = written
            self._commit_step(table_name, report, urgent=True)

    def _open_batch(
        self, table_name: str, sources: list[SourceConfig], writer_id: str, report: IngestReport
    ) -> BatchContext:
        """Record a new batch on the writer slot and set up what its files share."""
        table = load_table(self._catalog, table_name)
        batch = self._ledger.batches.open(uuid.uuid4().hex, table_name, writer_id)
        limits = self._config.ingest
        high_water = event_high_water(table)
        return BatchContext(
            ledger=self._ledger,
            batch=batch,
            table=table,
            writer=TableWriter(
                table,
                name_prefix=f"{batch.id}-{batch.seq}",
                buffer_bytes=limits.memory_mb * 1024 * 1024 * 2 // 3,
            ),
            sources={s.name: s for s in sources},
            mappers={s.name: RowMapper(s, table.schema()) for s in sources},
            table_sources=[s.name for s in self._config.sources.values() if s.table == table_name],
            storage=self._config.storage,
            late=LateRows(
                table,
                EventTime(committed=dict(high_water), newest=dict(high_water)),
                allowances={s.name: s.late_after_time.total_seconds() for s in sources},
            ),
            heartbeat=Heartbeat(
                self._ledger,
                batch_id=batch.id,
                writer_id=writer_id,
                owner=self._owner,
                interval=limits.lease_time.total_seconds() / 4,
            ),
            report=report,
            stage_limit_bytes=limits.memory_mb * 1024 * 1024 // 3,
            wait_seconds=max(1.0, limits.poll_interval_time.total_seconds()),
        )

    def _abort(self, context: BatchContext) -> None:
        context.writer.abort()
        self._ledger.batches.abort(context.batch.id)

    def _settled(self, batch_ids: list[str]) -> None:
        """``on_success`` for the files of batches just recorded committed (whoever wrote
        them: the committer applies it for every batch it settles)."""
        self._after_success(
            [
                (f.source, f.path)
                for batch_id in batch_ids
                for f in self._ledger.queue.files_of(batch_id)
                if f.state in (COMMITTED, DUPLICATE) and f.source in self._config.sources
            ]
        )

    def _after_success(self, paths: list[tuple[str, str]]) -> None:
        """Apply each source's ``on_success`` to its committed files."""
        for source_name, path in paths:
            source = self._config.sources[source_name]
            if source.on_success == "keep":
                continue
            filesystem, base = open_location(source.location, self._config.storage)
            try:
                if source.on_success == "delete":
                    filesystem.delete_file(path)
                elif source.archive:
                    archive_base = open_location(source.archive, self._config.storage)[1]
                    relative = PurePosixPath(path[len(base) :].lstrip("/"))
                    target = f"{archive_base}/{relative}"
                    filesystem.create_dir(str(PurePosixPath(target).parent), recursive=True)
                    filesystem.move(path, target)
            except FileNotFoundError:
                continue  # already moved by an earlier, interrupted run

    # -- recovery ---------------------------------------------------------------------

    def recover(self, writer_id: str, report: IngestReport) -> None:
        """Abort batches left open by dead or stalled processes (and by this slot's last
        owner): an open batch is never in the table, since only a table's committer
        commits, and only written batches. The abort moves only a batch still open, so a
        worker that wakes up afterwards cannot hand it over any more."""
        now = self._clock()
        for batch in self._ledger.batches.open_batches():
            if batch.state != OPEN:
                continue
            ours = batch.writer_id == writer_id
            if not (ours or batch.lease_until < now or owner_is_dead(batch.owner)):
                continue
            if batch.data_files and self._settle_earlier(batch, report):
                continue
            if self._ledger.batches.abort(batch.id):
                if batch.data_files:
                    table = load_table(self._catalog, batch.table_name)
                    for path in batch.data_files:
                        with contextlib.suppress(FileNotFoundError):
                            table.io.delete(path)
                report.recovered_aborted += 1

    def _settle_earlier(self, batch: OpenBatch, report: IngestReport) -> bool:
        """An open batch that recorded data files was left by an earlier release, whose
        workers committed their own batches: it may be in the table. Settled committed
        (returns True) if the table's summary keys or its data files say so."""
        table = load_table(self._catalog, batch.table_name)
        if not is_committed(table, batch_id=batch.id, writer_id=batch.writer_id, seq=batch.seq):
            referenced = reachable_from(table)
            if not any(path in referenced for path in batch.data_files):
                return False
        # An earlier release's batch: the ledger moves it written, then committed.
        self._ledger.batches.settle_earlier(batch.id)
        self._settled([batch.id])
        report.recovered_committed += 1
        return True
