"""One batch: claimed files decoded, mapped and written, then committed once.

A file's rows reach the table writer only when the whole file has decoded and its
bad-line ratio is under the source's threshold, so that a file quarantined whole
leaves no rows behind. A file too big to stage in memory is handed to the writer as it
decodes; if such a file then fails, the whole batch is abandoned (its written files
deleted, its other files given back to the queue) and the failed file quarantined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform

from icehouse.config import SourceConfig
from icehouse.errors import UnreadableFile
from icehouse.ingest import fast_json
from icehouse.ingest.decode import BadRecord, FormatOptions, decode_file
from icehouse.ingest.landing import open_location
from icehouse.ingest.ledger import CLAIMED, DUPLICATE, QUARANTINED, FileRow, Ledger
from icehouse.ingest.mapping import RowMapper
from icehouse.ingest.report import IngestReport
from icehouse.resilience import is_outage
from icehouse.tables.writer import TableWriter

HASH_BLOCK = 4 * 1024 * 1024


class BatchAbandoned(Exception):
    """A file already partly handed to the writer failed: the batch must be redone."""


class SchemaMustEvolve(Exception):
    """A source with ``unknown_fields = "evolve"`` met new top-level fields: the table
    gains the columns first, then the batch is redone under the new schema."""

    def __init__(self, source: str, fields: list[pa.Field]) -> None:
        super().__init__(f"{source}: new fields {', '.join(f.name for f in fields)}")
        self.source = source
        self.fields = fields


@dataclass
class FileOutcome:
    state: str
    rows: int = 0
    bad_rows: int = 0
    late_rows: int = 0
    bytes_read: int = 0


def read_bytes(filesystem: object, path: str) -> bytes:
    """The file's bytes as stored (compression=None: pyarrow would otherwise inflate)."""
    with filesystem.open_input_stream(path, compression=None) as stream:  # type: ignore[attr-defined]
        return bytes(stream.read())


def content_hash(filesystem: object, path: str) -> str:
    """xxh3-128 of the file's bytes as stored: cheap (GB/s) and collision-safe enough to
    recognise a re-delivered file under another name."""
    digest = xxhash.xxh3_128()
    # compression=None: hash the bytes as stored, not what pyarrow would decompress.
    with filesystem.open_input_stream(path, compression=None) as stream:  # type: ignore[attr-defined]
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def format_options(source: SourceConfig) -> FormatOptions:
    return FormatOptions(
        format=source.format,
        compression=source.compression,
        delimiter=source.delimiter,
        header=source.header,
        columns=tuple(source.fields),
        comment=source.comment,
        max_line_bytes=source.max_line_bytes,
    )


def time_partition_column(table: Table) -> str | None:
    """The source column of the table's first time partition (for counting late rows)."""
    schema = table.schema()
    for pf in table.spec().fields:
        if isinstance(pf.transform, YearTransform | MonthTransform | DayTransform | HourTransform):
            return schema.find_column_name(pf.source_id)
    return None


@dataclass
class EventTime:
    """Time-partition values (transform results): ``committed`` is the table's high-water
    when the batch began; ``newest`` the highest seen so far, committed or in this batch.
    A row is late when its partition is older than ``committed`` or than the newest one in
    its own file; files of one batch do not make each other late (a backfill of many days
    in one batch is not late data)."""

    committed: int | None = None
    newest: int | None = None


@dataclass
class BatchFiles:
    """Rows staged for one file before they are handed to the writer."""

    chunks: list[pa.Table] = field(default_factory=list)
    nbytes: int = 0
    handed_over: bool = False


class FileIngest:
    """Decodes one claimed file into the batch's writer."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        writer: TableWriter,
        mapper: RowMapper,
        source: SourceConfig,
        storage: dict[str, str],
        table: Table,
        batch_hashes: set[str],
        report: IngestReport,
        stage_limit_bytes: int,
        events: EventTime,
        heartbeat: Callable[[], None],
        batch_id: str,
    ) -> None:
        self._batch_id = batch_id
        self._heartbeat = heartbeat
        self._events = events
        self._stage_limit = stage_limit_bytes
        self._report = report
        self._ledger = ledger
        self._writer = writer
        self._mapper = mapper
        self._source = source
        self._storage = storage
        self._time_column = time_partition_column(table)
        schema = table.schema()
        self._time_transform = next(
            (
                pf.transform
                for pf in table.spec().fields
                if schema.find_column_name(pf.source_id) == self._time_column
            ),
            None,
        )
        self._time_type = (
            schema.find_field(self._time_column).field_type if self._time_column else None
        )
        self._batch_hashes = batch_hashes

    def run(self, row: FileRow) -> FileOutcome:
        """Raises: BatchAbandoned when a file already handed to the writer fails."""
        filesystem, _ = open_location(self._source.location, self._storage)
        replay = row.replay_lines is not None
        options = format_options(self._source)
        # A small JSON-lines file is read once: hashed and parsed from the same bytes.
        whole = not replay and fast_json.eligible(options, row.size)
        data: bytes | None = None
        try:
            with self._report.measure("hash"):
                if whole:
                    data = read_bytes(filesystem, row.path)
                    digest = xxhash.xxh3_128_hexdigest(data)
                else:
                    digest = content_hash(filesystem, row.path)
        except OSError as exc:
            if is_outage(exc):
                raise  # the store is down, the file is not gone: retried after the outage
            return self._quarantine_file(row, None, f"file vanished before it could be read: {exc}")
        if not replay and (
            digest in self._batch_hashes or self._ledger.content_seen(self._source.name, digest)
        ):
            self._finish(row, state=DUPLICATE, content_hash=digest)
            return FileOutcome(DUPLICATE, bytes_read=row.size)
        staged = BatchFiles()
        bad: list[BadRecord] = []
        try:
            good = self._decode(filesystem, row, options, data, staged, bad)
        except UnreadableFile as exc:
            return self._fail(row, digest, staged, exc.reason, bad)
        total = good + len(bad)
        if total == 0:
            return self._fail(row, digest, staged, "empty file: no records", bad)
        if bad and not replay and len(bad) / total > self._source.bad_line_threshold:
            reason = (
                f"{len(bad)} of {total} records bad ({100 * len(bad) / total:.1f} %), over the "
                f"source's bad_line_threshold of {100 * self._source.bad_line_threshold:g} %; "
                f"first: line {bad[0].line}: {bad[0].reason}"
            )
            return self._fail(row, digest, staged, reason, bad)
        with self._report.measure("partition"):
            late = self._late_rows(staged.chunks)
            for rows in staged.chunks:
                self._writer.write(rows)
        with self._report.measure("ledger"):
            self._record_good(row, None if replay else digest, good, bad)
        if not replay:
            self._batch_hashes.add(digest)
        return FileOutcome(
            CLAIMED, rows=good, bad_rows=len(bad), late_rows=late, bytes_read=row.size
        )

    def _decode(
        self,
        filesystem: object,
        row: FileRow,
        options: FormatOptions,
        data: bytes | None,
        staged: BatchFiles,
        bad: list[BadRecord],
    ) -> int:
        """Decode and map the file into ``staged``; returns the good rows.

        A small JSON-lines file already read whole (``data``) takes pyarrow's one-call
        path; anything it refuses, and any bad row it meets, sends the file through the
        line-aware decoder.
        """
        if data is not None:
            try:
                with self._report.measure("decode"):
                    chunk = fast_json.read_whole(data, row.path, options)
                if self._source.unknown_fields == "evolve":
                    self._check_unknown_fields(chunk.table.schema)
                with self._report.measure("map"):
                    mapped = self._mapper.map(chunk)
                if not mapped.bad:
                    self._stage(staged, mapped.rows)
                    return mapped.rows.num_rows
            except fast_json.FastPathRefused:
                pass
        good = 0
        chunks = decode_file(filesystem, row.path, options)  # type: ignore[arg-type]
        while True:
            self._heartbeat()
            with self._report.measure("decode"):
                chunk = next(chunks, None)
            if chunk is None:
                return good
            if row.replay_lines is not None:
                chunk = chunk.only_lines(row.replay_lines)
            if self._source.unknown_fields == "evolve":
                self._check_unknown_fields(chunk.table.schema)
            with self._report.measure("map"):
                mapped = self._mapper.map(chunk)
            bad.extend(mapped.bad)
            good += mapped.rows.num_rows
            self._stage(staged, mapped.rows)

    def _record_good(
        self, row: FileRow, digest: str | None, good: int, bad: list[BadRecord]
    ) -> None:
        self._finish(
            row,
            state=CLAIMED,
            content_hash=digest,
            rows=good,
            bad_rows=len(bad),
            quarantined=[("line", b.line, b.raw, b.reason) for b in bad],
        )

    def _check_unknown_fields(self, schema: pa.Schema) -> None:
        known = self._mapper.known_source_fields
        new = [f for f in schema if f.name not in known]
        if new:
            raise SchemaMustEvolve(self._source.name, new)

    def _stage(self, staged: BatchFiles, rows: pa.Table) -> None:
        staged.chunks.append(rows)
        staged.nbytes += rows.nbytes
        if staged.nbytes > self._stage_limit:
            for chunk in staged.chunks:
                self._writer.write(chunk)
            staged.chunks.clear()
            staged.nbytes = 0
            staged.handed_over = True

    def _late_rows(self, chunks: list[pa.Table]) -> int:
        """Rows whose time partition is older than the newest in their file or than the
        table's committed high-water (see ``EventTime``)."""
        if self._time_column is None or self._time_transform is None:
            return 0
        transform = self._time_transform.pyarrow_transform(self._time_type)
        partitions = [transform(c.column(self._time_column)) for c in chunks if c.num_rows]
        maxima = [m for p in partitions if (m := pc.max(p).as_py()) is not None]
        if not maxima:
            return 0
        committed = [] if self._events.committed is None else [self._events.committed]
        newest = max([*maxima, *committed])
        self._events.newest = max(newest, self._events.newest or newest)
        return sum(int(pc.sum(pc.less(p, newest)).as_py() or 0) for p in partitions)

    def _fail(
        self,
        row: FileRow,
        digest: str | None,
        staged: BatchFiles,
        reason: str,
        bad: list[BadRecord],
    ) -> FileOutcome:
        outcome = self._quarantine_file(row, digest, reason, bad)
        if staged.handed_over:
            raise BatchAbandoned(reason)
        return outcome

    def _quarantine_file(
        self,
        row: FileRow,
        digest: str | None,
        reason: str,
        bad: list[BadRecord] | None = None,
    ) -> FileOutcome:
        bad = bad or []
        self._finish(
            row,
            state=QUARANTINED,
            content_hash=digest,
            bad_rows=len(bad),
            error=reason,
            quarantined=[("file", None, "", reason)]
            + [("line", b.line, b.raw, b.reason) for b in bad[:1000]],
        )
        return FileOutcome(QUARANTINED, bad_rows=len(bad), bytes_read=row.size)

    def _finish(self, row: FileRow, **outcome: Any) -> None:
        """Raises: BatchAbandoned when a recovery took the file back meanwhile."""
        if not self._ledger.finish_file(row.id, batch_id=self._batch_id, **outcome):
            raise BatchAbandoned(f"{row.path}: claim lost to a recovery (lease ran out)")
