"""One batch: claimed files decoded, mapped and written, then committed once.

A file's rows reach the table writer only when the whole file has decoded and its
bad-line ratio is under the source's threshold, so that a file quarantined whole
leaves no rows behind. A file too big to stage in memory is handed to the writer as it
decodes; if such a file then fails, the whole batch is abandoned (its written files
deleted, its other files given back to the queue) and the failed file quarantined.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from icehouse.config import SourceConfig
from icehouse.errors import UnreadableFile
from icehouse.ingest import fast_json
from icehouse.ingest.batch_context import BatchContext
from icehouse.ingest.content import Content, read_content
from icehouse.ingest.decode import BadRecord, ByteRange, FormatOptions, decode_file
from icehouse.ingest.landing import open_location, relative_path
from icehouse.ingest.ledger import (
    CHANGED,
    CLAIMED,
    DUPLICATE,
    QUARANTINED,
    RECOPIED,
    REPLAY,
    ContentClaim,
    FileRow,
    PriorVersion,
)

LINE_FORMATS = ("jsonl", "csv", "tsv", "w3c")
"""Formats whose files may grow by appending whole lines."""
MAX_WHOLE_BYTES = fast_json.MAX_PLAIN_BYTES
"""Files up to this stored size are read whole (and kept decompressed if compressed files
are small enough, see ``content.py``)."""
WAITING = "waiting"
"""A file given back to the queue: another open batch is ingesting its content."""


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
    delivery: str = "new"
    """``new``, ``append``, ``recopy`` or ``change``: how this version of its path came."""
    replaces: tuple[str, str] | None = None
    """(file column, value): the rows of the earlier version to remove in the batch's
    snapshot (``on_change = "reingest"``)."""


def _plain(options: FormatOptions) -> FormatOptions:
    """The options for content already decompressed."""
    return dataclasses.replace(options, compression="none")


def whole_file_problem(
    good: int,
    bad: list[BadRecord],
    threshold: float,
    *,
    replay: bool = False,
    appended: bool = False,
) -> str | None:
    """Why a decoded file is quarantined whole (None when its rows go in): it holds no
    record, or more bad lines than the source's ``bad_line_threshold`` allows. (A replay
    takes chosen lines; an appended part may hold only blank lines.)"""
    total = good + len(bad)
    if total == 0 and not appended:
        return "empty file: no records"
    if bad and not replay and len(bad) / total > threshold:
        return (
            f"{len(bad)} of {total} records bad ({100 * len(bad) / total:.1f} %), over the "
            f"source's bad_line_threshold of {100 * threshold:g} %; "
            f"first: line {bad[0].line}: {bad[0].reason}"
        )
    return None


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


@dataclass(frozen=True)
class Taking:
    """A claimed file whose rows this batch takes: the content read, how this version
    came (``new``, ``append`` or ``change``) and, for an append, the part to decode."""

    row: FileRow
    content: Content
    delivery: str = "new"
    part: ByteRange | None = None


@dataclass
class BatchFiles:
    """Rows staged for one file before they are handed to the writer."""

    chunks: list[pa.Table] = field(default_factory=list)
    nbytes: int = 0
    handed_over: bool = False


class FileIngest:
    """Decodes one claimed file into the batch's writer."""

    def __init__(self, batch: BatchContext, source: SourceConfig) -> None:
        self._batch = batch
        self._source = source
        self._mapper = batch.mappers[source.name]
        self._report = batch.report
        self._file = ""  # the file being read, relative to the source location

    def run(self, row: FileRow) -> FileOutcome:
        """Read the file, tell what kind of delivery it is, and take its rows if they are
        this batch's to take.

        Raises: BatchAbandoned when a file already handed to the writer fails."""
        filesystem, base = open_location(self._source.location, self._batch.storage)
        self._file = relative_path(base, row.path)
        replay = row.replay_lines is not None
        options = format_options(self._source)
        prior = None
        if not replay and row.delivery != REPLAY and self._source.on_success == "keep":
            prior = self._batch.ledger.queue.prior_version(self._source.name, row.path, row.id)
        try:
            content = self._read(filesystem, row, options, prior)
        except UnreadableFile as exc:
            if exc.reason == "vanished":
                reason = f"file vanished before it could be read: {exc}"
                return self._quarantine_file(row, None, reason)
            return self._fail(row, None, BatchFiles(), exc.reason, [])
        with content:  # frees what was spooled for the decoder, whether it ran or not
            return self._deliver(filesystem, options, row, content, prior)

    def _deliver(
        self,
        filesystem: pafs.FileSystem,
        options: FormatOptions,
        row: FileRow,
        content: Content,
        prior: PriorVersion | None,
    ) -> FileOutcome:
        """Tell what kind of delivery the read file is, and take its rows if they are this
        batch's to take."""
        replay = row.replay_lines is not None
        taking = Taking(row, content)
        if prior is not None:
            delivery, part = self._compare(content, prior, options, row)
            if delivery == "recopy":
                self._finish(row, state=RECOPIED, content_hash=content.digest, delivery=delivery)
                return FileOutcome(RECOPIED, bytes_read=row.size, delivery=delivery)
            if delivery == "change" and self._source.on_change != "reingest":
                return self._changed(row, content, prior)
            taking = Taking(row, content, delivery, part)
        if not replay:
            claim = self._claim(row, content.digest)
            if claim is not ContentClaim.OWN:
                return self._not_ours(row, claim, content.digest)
        return self._take(filesystem, options, taking)

    def _read(
        self,
        filesystem: pafs.FileSystem,
        row: FileRow,
        options: FormatOptions,
        prior: PriorVersion | None,
    ) -> Content:
        """Hash the file's content (its prefix too, to compare with ``prior``).

        Every file is decompressed once: a small one is hashed and decoded from the bytes
        kept in memory, a larger compressed one from those spooled while it was hashed
        (Parquet is decoded from the file itself, which is not compressed as a whole).

        Raises: UnreadableFile."""
        decodable = options.format != "parquet"
        whole = row.replay_lines is None and decodable and row.size <= MAX_WHOLE_BYTES
        with self._report.measure("hash"):
            return read_content(
                filesystem,
                row.path,
                options.compression,
                whole=whole,
                prefix_at=prior.size if prior else None,
                spool=decodable,
            )

    def _take(
        self, filesystem: pafs.FileSystem, options: FormatOptions, taking: Taking
    ) -> FileOutcome:
        """Decode the file (or its appended part) and hand its rows to the writer, unless
        it is empty or has too many bad lines (then it is quarantined whole)."""
        row, content, part = taking.row, taking.content, taking.part
        staged = BatchFiles()
        bad: list[BadRecord] = []
        try:
            good = self._decode(filesystem, row, options, staged, bad, part, content)
        except UnreadableFile as exc:
            return self._fail(row, content.digest, staged, exc.reason, bad)
        reason = whole_file_problem(
            good,
            bad,
            self._source.bad_line_threshold,
            replay=row.replay_lines is not None,
            appended=part is not None,
        )
        if reason is not None:
            return self._fail(row, content.digest, staged, reason, bad)
        return self._accept(taking, staged, good, bad)

    def _accept(
        self, taking: Taking, staged: BatchFiles, good: int, bad: list[BadRecord]
    ) -> FileOutcome:
        """The file's rows go to the writer and its outcome to the ledger."""
        row, content, part, delivery = taking.row, taking.content, taking.part, taking.delivery
        replay = row.replay_lines is not None
        with self._report.measure("partition"):
            late = self._batch.late.count(self._source.name, staged.chunks)
            for rows in staged.chunks:
                self._batch.writer.write(rows)
        with self._report.measure("ledger"):
            self._finish(
                row,
                state=CLAIMED,
                content_hash=None if replay else content.digest,
                rows=good,
                bad_rows=len(bad),
                quarantined=[("line", b.line, b.raw, b.reason) for b in bad],
                size=None if replay else content.size,
                delivery=None if replay else delivery,
                start_offset=part.start if part else None,
            )
        column = self._source.file_column
        return FileOutcome(
            CLAIMED,
            rows=good,
            bad_rows=len(bad),
            late_rows=late,
            bytes_read=row.size,
            delivery=delivery,
            replaces=(column, self._file) if delivery == "change" and column else None,
        )

    def _compare(
        self, content: Content, prior: PriorVersion, options: FormatOptions, row: FileRow
    ) -> tuple[str, ByteRange | None]:
        """How a new version of a path relates to its committed one: ``recopy`` (same
        content), ``append`` (a plain line-oriented file that grew by whole lines: the part
        to ingest) or ``change``.

        A writer may pause mid-line: the earlier version then ended in a cut line, read as
        a bad (quarantined) line. When the new bytes complete it, that line is read again
        whole with the appended ones, and its quarantine record is settled by this file.
        A cut line that had gone in as a row makes the file a change instead."""
        if content.digest == prior.content_hash:
            return "recopy", None
        prefix = content.prefix
        appendable = options.format in LINE_FORMATS and content.codec == "none"
        if not appendable or prefix is None or prefix.digest != prior.content_hash:
            return "change", None
        if prefix.ends_line:
            start, lines_before = prefix.size, prefix.lines
        elif prefix.next_is_newline:  # the earlier version's last line was whole after all
            start, lines_before = prefix.size + 1, prefix.lines + 1
        elif self._batch.ledger.quarantine.settle_cut_line(
            self._source.name, row.path, line=prefix.lines + 1, by_file=row.id
        ):
            start, lines_before = prefix.last_line_start, prefix.lines
        else:  # its cut last line went in as a row, and the new bytes continue it
            return "change", None
        if options.format == "w3c":  # the appended lines' fields are named above them
            prologue = prefix.fields_line
        elif options.format in ("csv", "tsv") and options.header:
            prologue = prefix.first_line
        else:
            prologue = b""
        return "append", ByteRange(start, content.size, prologue, lines_before)

    def _changed(self, row: FileRow, content: Content, prior: PriorVersion) -> FileOutcome:
        """A committed file came back with other content: quarantined (visible, and
        replayable as new rows) or skipped, as ``on_change`` says; never dropped silently."""
        reason = (
            f"changed after it was ingested: was {prior.size:,} bytes, now {content.size:,} "
            "bytes of other content (not a re-copy, and not whole lines appended); its rows "
            f'were not taken (on_change = "{self._source.on_change}")'
        )
        if self._source.on_change == "skip":
            self._finish(
                row, state=CHANGED, content_hash=content.digest, error=reason, delivery="change"
            )
            return FileOutcome(CHANGED, bytes_read=row.size, delivery="change")
        self._finish(
            row,
            state=QUARANTINED,
            content_hash=content.digest,
            error=reason,
            delivery="change",
            quarantined=[("file", None, "", reason)],
        )
        return FileOutcome(QUARANTINED, bytes_read=row.size, delivery="change")

    def _claim(self, row: FileRow, digest: str) -> ContentClaim:
        return self._batch.ledger.claims.claim(
            self._source.table,
            digest,
            file_id=row.id,
            batch_id=self._batch.batch.id,
            sources=self._batch.table_sources,
        )

    def _not_ours(self, row: FileRow, claim: ContentClaim, digest: str) -> FileOutcome:
        if claim is ContentClaim.DUPLICATE:
            self._finish(row, state=DUPLICATE, content_hash=digest)
            return FileOutcome(DUPLICATE, bytes_read=row.size)
        wait = self._batch.wait_seconds
        if not self._batch.ledger.queue.defer(row.id, batch_id=self._batch.batch.id, seconds=wait):
            raise BatchAbandoned(f"{row.path}: claim lost to a recovery (lease ran out)")
        return FileOutcome(WAITING, bytes_read=row.size)

    def _decode(
        self,
        filesystem: pafs.FileSystem,
        row: FileRow,
        options: FormatOptions,
        staged: BatchFiles,
        bad: list[BadRecord],
        part: ByteRange | None,
        content: Content,
    ) -> int:
        """Decode and map the file (or its appended ``part``) into ``staged``; returns the
        good rows.

        A small JSON-lines file already read whole (``content.data``, decompressed) takes
        pyarrow's one-call path; anything it refuses, and any bad row it meets, sends the
        file through the line-aware decoder, which reads the same bytes again (not the
        file). That path is skipped when a column holds line numbers: it does not count
        blank lines.
        """
        if (
            content.data is not None
            and options.format == "jsonl"
            and not self._mapper.reads_line_numbers
        ):
            data = content.data if part is None else part.prologue + content.data[part.start :]
            try:
                with self._report.measure("decode"):
                    whole = fast_json.read_whole(data, row.path, _plain(options))
                if part is not None:
                    whole.lines = pc.add(whole.lines, part.lines_before)
                if self._source.unknown_fields == "evolve":
                    self._check_unknown_fields(whole.table.schema)
                with self._report.measure("map"):
                    mapped = self._mapper.map(whole, file=self._file)
                if not mapped.bad:
                    self._stage(staged, mapped.rows)
                    return int(mapped.rows.num_rows)
            except fast_json.FastPathRefused:
                pass
        if part is None and content.codec == "none" and options.format != "parquet":
            part = ByteRange(0, content.size)  # no further than what was hashed
        good = 0
        chunks = decode_file(filesystem, row.path, options, part, content.data, content.spool)
        while True:
            self._batch.heartbeat()
            with self._report.measure("decode"):
                chunk = next(chunks, None)
            if chunk is None:
                return good
            if row.replay_lines is not None:
                chunk = chunk.only_lines(row.replay_lines)
            if self._source.unknown_fields == "evolve":
                self._check_unknown_fields(chunk.table.schema)
            with self._report.measure("map"):
                mapped = self._mapper.map(chunk, file=self._file)
            bad.extend(mapped.bad)
            good += mapped.rows.num_rows
            self._stage(staged, mapped.rows)

    def _check_unknown_fields(self, schema: pa.Schema) -> None:
        known = self._mapper.known_source_fields
        new = [f for f in schema if f.name not in known]
        if new:
            raise SchemaMustEvolve(self._source.name, new)

    def _stage(self, staged: BatchFiles, rows: pa.Table) -> None:
        staged.chunks.append(rows)
        staged.nbytes += rows.nbytes
        if staged.nbytes > self._batch.stage_limit_bytes:
            for chunk in staged.chunks:
                self._batch.writer.write(chunk)
            staged.chunks.clear()
            staged.nbytes = 0
            staged.handed_over = True

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
        if not self._batch.ledger.queue.finish(row.id, batch_id=self._batch.batch.id, **outcome):
            raise BatchAbandoned(f"{row.path}: claim lost to a recovery (lease ran out)")
