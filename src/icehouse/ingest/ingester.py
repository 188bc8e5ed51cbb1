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
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from sqlalchemy import Engine

from icehouse.config import LakeConfig, SourceConfig
from icehouse.errors import BatchFenced, NoSuchSource
from icehouse.ingest.batch import (
    WAITING,
    BatchAbandoned,
    EventTime,
    FileIngest,
    FileOutcome,
    SchemaMustEvolve,
)
from icehouse.ingest.faults import Faults, no_faults
from icehouse.ingest.landing import list_landed, open_location
from icehouse.ingest.ledger import (
    CLAIMED,
    COMMITTED,
    DUPLICATE,
    QUARANTINED,
    RECOPIED,
    Batch,
    Heartbeat,
    Ledger,
    OpenBatch,
)
from icehouse.ingest.mapping import RowMapper
from icehouse.ingest.report import IngestProgress, IngestReport, NoProgress
from icehouse.state.owners import owner_is_dead, this_process
from icehouse.tables.catalog import load_table
from icehouse.tables.commit import append_files, event_high_water, fence, is_committed
from icehouse.tables.history import trim_history
from icehouse.tables.manage import add_columns_for
from icehouse.tables.overwrite import replacing_rows
from icehouse.tables.writer import TableWriter

HOUSEKEEPING_EVERY_S = 3600.0


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._engine = engine
        self._catalog = catalog
        self._ledger = Ledger(engine, lease_seconds=config.ingest.lease_time.total_seconds())
        self._faults = faults
        self._progress = progress or NoProgress()
        self._stop = stop or threading.Event()
        self._clock = clock
        self._owner = this_process()
        self._writer_id: str | None = None

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
        writer_id, _ = self._ledger.acquire_writer(self._owner, prefer=self._writer_id)
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
                    while not self._stop.is_set() and self._ledger.has_pending(names):
                        self._run_batch(table_name, table_sources, writer_id, report, follow)
                        worked = True
                working()
                # --once waits for files whose content another batch holds (they are
                # settled with it), and leaves files that never settle for a later run.
                waiting = self._ledger.waiting()
                if (
                    not follow
                    and not worked
                    and not waiting
                    and (not settling or self._clock() > give_up)
                ):
                    break
                if not worked:
                    self._stop.wait(self._config.ingest.poll_interval_time.total_seconds())
                    self._ledger.renew_writer(writer_id, self._owner)
        finally:
            self._ledger.release_writer(writer_id, self._owner)
            report.seconds += self._clock() - started
        return report

    def _forget_old_records(self, sources: Sequence[SourceConfig]) -> None:
        """Drop ledger and quarantine records past ``[ingest] retention``."""
        self._ledger.forget_older_than(
            self._config.ingest.retention_time.total_seconds(),
            ledger_sources=[s.name for s in sources if s.on_success != "keep"],
        )

    def stop(self) -> None:
        self._stop.set()

    def discover(self, sources: Sequence[SourceConfig]) -> int:
        """Queue complete files; returns how many are still settling."""
        settling = 0
        for source in sources:
            filesystem, base = open_location(source.location, self._config.storage)
            ready, young = list_landed(filesystem, base, source, now=self._clock())
            _, committed = self._ledger.register(
                source.name, ready, report_committed=source.on_success != "keep"
            )
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
        table = load_table(self._catalog, table_name)
        batch = self._ledger.open_batch(uuid.uuid4().hex, table_name, writer_id)
        writer = TableWriter(
            table,
            name_prefix=f"{batch.id}-{batch.seq}",
            buffer_bytes=self._config.ingest.memory_mb * 1024 * 1024 * 2 // 3,
        )
        by_name = {s.name: s for s in sources}
        mappers = {s.name: RowMapper(s, table.schema()) for s in sources}
        table_sources = [s.name for s in self._config.sources.values() if s.table == table_name]
        heartbeat = Heartbeat(
            self._ledger,
            batch_id=batch.id,
            writer_id=writer_id,
            owner=self._owner,
            interval=self._config.ingest.lease_time.total_seconds() / 4,
        )
        high_water = event_high_water(table)
        events = EventTime(committed=high_water, newest=high_water)
        limits = self._config.ingest
        interval = limits.commit_interval_time.total_seconds()
        # Commit when the batch has been open for the interval, or sooner if a file in it
        # landed longer ago than that: the interval bounds landing-to-visible latency.
        deadline = self._clock() + interval
        rows = late = claimed_total = 0
        committed_paths: list[tuple[str, str]] = []
        replaced: dict[str, set[str]] = defaultdict(set)  # file column → earlier versions
        try:
            while not self._stop.is_set():
                claimed = self._ledger.claim(
                    batch.id, list(by_name), limits.batch_files - claimed_total
                )
                if claimed_total == 0:
                    self._faults("batch.claimed")
                claimed_total += len(claimed)
                if claimed:
                    deadline = min(deadline, min(r.mtime for r in claimed) + interval)
                for row in claimed:
                    source = by_name[row.source]
                    self._progress.file_started(row.source, row.path, row.size)
                    outcome = FileIngest(
                        ledger=self._ledger,
                        writer=writer,
                        mapper=mappers[row.source],
                        source=source,
                        storage=self._config.storage,
                        table=table,
                        table_sources=table_sources,
                        report=report,
                        stage_limit_bytes=limits.memory_mb * 1024 * 1024 // 3,
                        events=events,
                        heartbeat=heartbeat,
                        batch_id=batch.id,
                        wait_seconds=max(1.0, limits.poll_interval_time.total_seconds()),
                    ).run(row)
                    self._count(report, outcome)
                    rows += outcome.rows
                    if outcome.replaces is not None:
                        replaced[outcome.replaces[0]].add(outcome.replaces[1])
                    late += outcome.late_rows
                    if outcome.state == WAITING:  # back in the queue: not this batch's
                        claimed_total -= 1
                        self._progress.file_finished(row.source, row.path, 0, 0, WAITING)
                        continue
                    if outcome.state in (CLAIMED, DUPLICATE):  # both consumed on commit
                        committed_paths.append((row.source, row.path))
                    self._progress.file_finished(
                        row.source, row.path, outcome.rows, outcome.bad_rows, outcome.state
                    )
                    heartbeat()
                full = rows >= limits.batch_rows or claimed_total >= limits.batch_files
                if full or (not follow and not claimed):
                    break
                if follow and self._clock() >= deadline:
                    break
                if not claimed:
                    self._stop.wait(limits.poll_interval_time.total_seconds())
                heartbeat()
                self.discover(sources)
        except BatchAbandoned:
            writer.abort()
            self._ledger.abort_batch(batch.id)
            return
        except SchemaMustEvolve as change:
            writer.abort()
            self._ledger.abort_batch(batch.id)
            add_columns_for(table, change.fields)
            report.columns_added.extend(f"{table_name}.{f.name}" for f in change.fields)
            return
        except BaseException:
            writer.abort()  # nothing committed: the files go back to the queue on recovery
            raise
        if self._commit(
            batch,
            writer,
            report,
            rows=rows,
            late=late,
            newest_event=events.newest,
            replaced=replaced,
        ):
            self._after_success(committed_paths)

    def _count(self, report: IngestReport, outcome: FileOutcome) -> None:
        report.bytes_read += outcome.bytes_read
        report.bad_rows += outcome.bad_rows
        if outcome.state == CLAIMED:
            report.files += 1
            report.rows += outcome.rows
            report.late_rows += outcome.late_rows
        elif outcome.state == QUARANTINED:
            report.quarantined_files += 1
        elif outcome.state == RECOPIED:
            report.recopied_files += 1
        elif outcome.state == DUPLICATE:
            report.duplicate_files += 1
        report.appended_files += outcome.delivery == "append"
        report.changed_files += outcome.delivery == "change"

    def _commit(
        self,
        batch: Batch,
        writer: TableWriter,
        report: IngestReport,
        *,
        rows: int,
        late: int,
        newest_event: int | None,
        replaced: dict[str, set[str]],
    ) -> bool:
        """Returns False when the batch was no longer ours to commit. The rows of
        ``replaced`` earlier versions leave in the batch's own snapshot."""
        with report.measure("sort+write"):
            data_files = writer.close()
        with report.measure("ledger"):
            self._ledger.record_data_files(batch.id, [f.file_path for f in data_files])
            still_ours = self._ledger.batch_is_open(batch.id)
        if not still_ours:  # a recovery settled it while we were stalled: it is not ours
            writer.abort()
            return False
        self._faults("batch.written")
        snapshot_id = None
        started = self._clock()
        if data_files:
            with report.measure("commit"):
                try:
                    result = append_files(
                        lambda: load_table(self._catalog, batch.table_name),
                        data_files,
                        batch_id=batch.id,
                        writer_id=batch.writer_id,
                        seq=batch.seq,
                        summary={"icehouse.rows": str(rows), "icehouse.late-rows": str(late)},
                        newest_event=newest_event,
                        commit=replacing_rows(replaced, data_files) if replaced else None,
                    )
                except BatchFenced:  # recovered by another writer: not ours any more
                    writer.abort()
                    return False
            snapshot_id = result.snapshot_id
            report.snapshots.append(snapshot_id)
        self._faults("batch.committed")
        stats = writer.stats()
        with report.measure("ledger"):
            self._ledger.commit_batch(
                batch.id,
                snapshot_id=snapshot_id,
                rows=rows,
                late_rows=late,
                bytes_written=stats.bytes,
            )
        self._faults("batch.recorded")
        elapsed = self._clock() - started
        report.commit_seconds += elapsed
        report.batches += 1
        report.data_files += stats.files
        report.bytes_written += stats.bytes
        self._progress.batch_committed(batch.table_name, rows, stats.files, elapsed)
        if data_files:
            with report.measure("history"):
                trim_history(load_table(self._catalog, batch.table_name))
        return True

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
        return is_committed(table, batch_id=batch.id, writer_id=batch.writer_id, seq=batch.seq)

    def recover(self, writer_id: str, report: IngestReport) -> None:
        """Settle batches left open by dead processes (and by this slot's last owner)."""
        now = self._clock()
        for batch in self._ledger.open_batches():
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
                self._ledger.commit_batch(
                    batch.id, snapshot_id=None, rows=0, late_rows=0, bytes_written=0
                )
                self._after_success(
                    [
                        (s, p)
                        for _, s, p, state in self._ledger.batch_files(batch.id)
                        if state == COMMITTED and s in self._config.sources
                    ]
                )
                report.recovered_committed += 1
            else:
                for path in batch.data_files:
                    with contextlib.suppress(FileNotFoundError):
                        table.io.delete(path)
                self._ledger.abort_batch(batch.id)
                report.recovered_aborted += 1
