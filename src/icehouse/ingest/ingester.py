"""The ingestion loop: discover, claim, decode, write, commit, recover.

Exactly once, step by step (each boundary is a fault-injection point, see
``faults.py``):

1. files are registered in the ledger, then claimed by a batch that has a writer id and
   a sequence number (``batch.claimed``);
2. their rows are written as Parquet and the paths recorded on the batch
   (``batch.written``);
3. one Iceberg snapshot commits them, carrying the batch id and the raised per-writer
   high-water mark in its summary (``batch.committed``);
4. the ledger marks the batch and its files committed (``batch.recorded``);
5. ``on_success`` keeps, deletes or archives the source files.

A batch left open by a dead process is settled by whoever recovers it: if the table's
current snapshot (high-water mark) or retained history says it committed, the ledger
catches up; otherwise its written files are deleted and its files queued again.

The ``Ingester`` runs the rounds and recovery; one batch is a ``BatchContext`` (what its
files share, ``batch_context.py``) filled by a ``BatchRun`` (``batch_run.py``), each file
by a ``FileIngest`` (``batch.py``), and committed by the ``BatchCommitter``
(``batch_commit.py``). The state they share lives in the ledger (``ledger/``).
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
from pyiceberg.table import Table
from sqlalchemy import Engine

from icehouse.config import LakeConfig, SourceConfig
from icehouse.errors import NoSuchSource
from icehouse.ingest.batch import BatchAbandoned, SchemaMustEvolve
from icehouse.ingest.batch_commit import BatchCommitter
from icehouse.ingest.batch_context import BatchContext
from icehouse.ingest.batch_run import BatchPace, BatchRun
from icehouse.ingest.claim_size import RowDensity
from icehouse.ingest.discovery import OrderedDiscovery
from icehouse.ingest.faults import Faults, no_faults
from icehouse.ingest.landing import list_landed, open_location
from icehouse.ingest.late_rows import EventTime, LateRows
from icehouse.ingest.ledger import COMMITTED, Heartbeat, Ledger, OpenBatch
from icehouse.ingest.mapping import RowMapper
from icehouse.ingest.report import IngestProgress, IngestReport, NoProgress
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.owners import owner_is_dead, this_process
from icehouse.tables.catalog import load_table
from icehouse.tables.commit import event_high_water, fence, is_committed
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
        self._commit = BatchCommitter(
            catalog=catalog, faults=faults, progress=self._progress, clock=clock
        )
        self._owner = this_process()
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
        pending file tried): how ``keep_running`` knows an outage is over."""
        chosen = self._sources(sources)
        report = report if report is not None else IngestReport()
        started = self._clock()
        writer_id, _ = self._ledger.slots.acquire(self._owner, prefer=self._writer_id)
        self._writer_id = writer_id
        next_housekeeping = 0.0
        longest_settle = max((s.settle_time.total_seconds() for s in chosen), default=0.0)
        give_up = started + 3 * longest_settle + 5.0
        try:
            while not self._stop.is_set():
                # Every round, not only at start: a peer that died (on any host) stops
                # renewing its leases, and its claimed files come back to the queue here.
                self.recover(writer_id, report)
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
        finally:
            self._ledger.slots.release(writer_id, self._owner)
            report.seconds += self._clock() - started
        return report

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
        if self._commit(context, tally):
            self._after_success(tally.done)

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

    @staticmethod
    def _committed(table: Table, batch: OpenBatch) -> bool:
        """The table's word, from its summary keys; failing that, from its files: a batch
        whose data files a retained snapshot references did commit (the files are the
        batch's own), even if its bookkeeping was lost, and deleting them would take rows
        out from under every reader."""
        if is_committed(table, batch_id=batch.id, writer_id=batch.writer_id, seq=batch.seq):
            return True
        if not batch.data_files:
            return False
        referenced = reachable_from(table)
        kept = [path for path in batch.data_files if path in referenced]
        if kept:
            logger.warning(
                "batch %s of %s: the table references %d of its data files although its "
                "snapshot summary does not name it; settled as committed, files kept",
                batch.id,
                batch.table_name,
                len(kept),
            )
        return bool(kept)

    def recover(self, writer_id: str, report: IngestReport) -> None:
        """Settle batches left open by dead processes (and by this slot's last owner)."""
        now = self._clock()
        for batch in self._ledger.batches.open_batches():
            ours = batch.writer_id == writer_id
            if not (ours or batch.lease_until < now or owner_is_dead(batch.owner)):
                continue
            load = functools.partial(load_table, self._catalog, batch.table_name)
            if not self._committed(load(), batch):
                # The owner may only be stalled: fence it off before taking its work back,
                # then look again (it may have committed just before the fence).
                fence(load, writer_id=batch.writer_id, seq=batch.seq)
            table = load()
            if self._committed(table, batch):
                self._ledger.batches.commit(
                    batch.id, snapshot_id=None, rows=0, late_rows=0, bytes_written=0
                )
                self._after_success(
                    [
                        (f.source, f.path)
                        for f in self._ledger.queue.files_of(batch.id)
                        if f.state == COMMITTED and f.source in self._config.sources
                    ]
                )
                report.recovered_committed += 1
            else:
                for path in batch.data_files:
                    with contextlib.suppress(FileNotFoundError):
                        table.io.delete(path)
                self._ledger.batches.abort(batch.id)
                report.recovered_aborted += 1
