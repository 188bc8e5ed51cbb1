"""Decode source files (JSON lines, CSV, TSV, W3C logs, Parquet) into Arrow tables and bad records.

This is the hot path of ingestion, so the per-row work stays in C: the decompressed stream
is read ``chunk_bytes`` at a time and cut at the last newline; numpy finds the lines of a
block; pyarrow parses all of its good lines in one call. Python looks at single lines only
in a block that pyarrow refused (a malformed line, a field whose type changes), and then
only for that block. Every line is either a row or a :class:`BadRecord` with its 1-based
line number; blank lines (and, for CSV/TSV, comment lines) are skipped silently but counted.

Memory stays near ``max_line_bytes + chunk_bytes``: a line longer than ``max_line_bytes`` is
discarded as it streams past, keeping only its first bytes for the bad record.

CSV/TSV limits: a quoted field may not contain a newline (each line is one record); TSV
has no quoting at all (a ``"`` is an ordinary character). Every CSV/TSV column is a string
and an empty field is null. The JSON reader infers types per block, so two chunks of one
file may disagree (``int64`` then ``double``, ``timestamp`` then ``string``): conform them
to the table schema downstream.

W3C extended log format (CloudFront, IIS and many CDNs): lines starting with ``#`` are
directives; ``#Fields: date time sc-bytes ...`` names the fields of the lines after it,
up to the next ``#Fields:`` (a server that restarts writes a new header mid-file, and the
fields may change there); other directives (``#Version``, ``#Date``, ``#Software``) are
ignored. Fields are separated by a tab when the first data line under a ``#Fields:``
holds one (CloudFront), else by a space (IIS), unless ``delimiter`` is set; there is no
quoting, and ``-`` (or an empty field) is null. A data line before any ``#Fields:``
(when no ``columns`` are given) makes the file unreadable, as a CSV file without its
header line is.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from icehouse.errors import InvalidConfig, UnreadableFile
from icehouse.ingest.compression import (
    COMPRESSIONS,
    DecompressedStream,
    Spool,
    open_bytes,
    open_decompressed,
    open_range,
)
from icehouse.resilience import is_outage

Format = Literal["jsonl", "csv", "tsv", "w3c", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "tsv", "w3c", "parquet")
RAW_CHARS = 1000
_ARROW_BLOCK_BYTES = 2 << 20  # pyarrow parses a block per thread: several per chunk
_PARQUET_BATCH_ROWS = 131072
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FormatOptions:
    """How to read one source's files; validated on construction.

    Raises:
        InvalidConfig: an option is out of range (e.g. CSV without a header or columns).
    """

    format: Format
    compression: Literal["auto", "none", "gzip", "zstd"] = "auto"
    delimiter: str | None = None
    header: bool = True
    columns: tuple[str, ...] = ()
    comment: str | None = None
    max_line_bytes: int = 1 << 20
    chunk_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        problem = _option_problem(self)
        if problem:
            raise InvalidConfig(problem, where="format options")

    @property
    def field_delimiter(self) -> str:
        """The CSV/TSV field separator actually used."""
        return self.delimiter or ("\t" if self.format == "tsv" else ",")


def _option_problem(o: FormatOptions) -> str | None:
    if o.format not in FORMATS:
        return f"format must be one of {FORMATS}, not {o.format!r}"
    if o.compression not in COMPRESSIONS:
        return f"compression must be one of {COMPRESSIONS}, not {o.compression!r}"
    if o.delimiter is not None and (len(o.delimiter) != 1 or o.delimiter in '\r\n"'):
        return f"delimiter must be one character other than a quote or newline, not {o.delimiter!r}"
    if o.comment is not None and (not o.comment or "\n" in o.comment):
        return f"comment must be a non-empty prefix without newlines, not {o.comment!r}"
    if o.format in ("csv", "tsv") and not o.header and not o.columns:
        return "header=False needs the column names in columns"
    if len(set(o.columns)) != len(o.columns):
        return f"columns has duplicate names: {list(o.columns)}"
    if o.max_line_bytes < 1 or o.chunk_bytes < 1:
        return "max_line_bytes and chunk_bytes must be positive"
    return None


@dataclass(frozen=True)
class BadRecord:
    """One input line that could not become a row, kept so it can be quarantined."""

    line: int | None
    raw: str
    reason: str


@dataclass
class DecodedChunk:
    """The rows decoded from one block of a file, plus the lines that failed.

    ``table`` may have no columns and no rows when a block held only bad records.
    """

    table: pa.Table
    lines: pa.Array
    bad: list[BadRecord]
    bytes_read: int
    _raw: Callable[[int], str] | None = field(default=None, repr=False, compare=False)

    def raw_text(self, row: int) -> str:
        """The input line of ``table`` row ``row`` (a JSON rendering when there is none)."""
        if self._raw is not None:
            return self._raw(row)
        value = self.table.slice(row, 1).to_pylist()[0]
        return json.dumps(value, default=str, ensure_ascii=False)[:RAW_CHARS]

    def only_lines(self, wanted: frozenset[int]) -> DecodedChunk:
        """The rows and bad records of the given line numbers (replaying quarantined
        lines takes exactly those lines of the original file again)."""
        mask = pc.is_in(self.lines, value_set=pa.array(sorted(wanted), pa.int64()))
        keep = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        raw = self.raw_text
        return DecodedChunk(
            table=self.table.take(keep) if self.table.num_columns else self.table,
            lines=self.lines.take(keep),
            bad=[b for b in self.bad if b.line in wanted],
            bytes_read=self.bytes_read,
            _raw=lambda row: raw(int(keep[row])),
        )


@dataclass(frozen=True)
class ByteRange:
    """Part of an uncompressed line-oriented file: bytes ``start`` to ``end``, decoded
    after ``prologue`` (the file's header line, when the part has none of its own)."""

    start: int
    end: int
    prologue: bytes = b""
    lines_before: int = 0
    """Lines of the file before ``start``: line numbers go on from there."""

    @property
    def first_line(self) -> int:
        """The number the decoder gives the first line it reads (the prologue's)."""
        return self.lines_before + 1 - self.prologue.count(b"\n")


def decode_file(
    filesystem: pafs.FileSystem,
    path: str,
    options: FormatOptions,
    part: ByteRange | None = None,
    data: bytes | None = None,
    spool: Spool | None = None,
) -> Iterator[DecodedChunk]:
    """Decode ``path`` (or a ``part`` of it) chunk by chunk; line numbers count from the
    first line decoded, prologue included. ``data`` is the file's content when it is
    already in memory (decompressed), ``spool`` when it was set aside decompressed (a
    whole compressed file: such a file has no ``part``): either is decoded instead of
    the file.

    An empty file (or one of blank lines only) yields nothing. When the file as a whole
    turns out unreadable, :class:`UnreadableFile` is raised even after chunks were
    yielded: the caller must then discard everything it got from this file.

    Raises:
        UnreadableFile: the file vanished, its compressed stream is truncated or corrupt,
            it is not Parquet, or a CSV/TSV file with ``header=True`` has no header line.
    """
    if options.format == "parquet":
        yield from _decode_parquet(filesystem, path)
        return
    decoder: _JsonDecoder | _CsvDecoder | _W3cDecoder
    if options.format == "jsonl":
        decoder = _JsonDecoder(options)
    elif options.format == "w3c":
        decoder = _W3cDecoder(options, path)
    else:
        decoder = _CsvDecoder(options, path)
    if data is not None:
        if part is not None:
            data = data[part.start : part.end]
        stream = open_bytes(path, data, prologue=part.prologue if part else b"")
    elif spool is not None and part is None:
        stream = spool.open()
    elif part is None:
        stream = open_decompressed(filesystem, path, options.compression)
    else:
        stream = open_range(
            filesystem, path, start=part.start, end=part.end, prologue=part.prologue
        )
    with stream:
        for block in _iter_blocks(stream, options, part.first_line if part else 1):
            chunk = decoder.decode(block)
            if chunk is not None:
                yield chunk
    decoder.finish()


@dataclass
class _Block:
    lines: _Lines  # whole lines; only the file's last line may lack its "\n"
    skipped: list[BadRecord]  # over-long lines discarded while streaming up to this block
    bytes_read: int


@dataclass
class _LongLine:
    line: int
    head: bytes
    length: int

    def record(self, limit: int) -> BadRecord:
        raw = self.head.decode("utf-8", "backslashreplace")[:RAW_CHARS]
        return BadRecord(
            self.line, raw, f"line is {self.length} bytes, over the {limit}-byte limit"
        )


def _iter_blocks(
    stream: DecompressedStream, options: FormatOptions, first_line: int = 1
) -> Iterator[_Block]:
    """Cut the stream into blocks of whole lines, discarding over-long lines on the way.

    At most ``max_line_bytes`` of an unfinished line is carried between reads; once a
    line outgrows that, only its head is kept and the rest is skipped up to its newline.
    """
    limit = options.max_line_bytes
    carry = b""
    line = first_line  # number of the first line in `carry` (or of `long`)
    long: _LongLine | None = None
    skipped: list[BadRecord] = []
    first = True
    while True:
        data = stream.read(options.chunk_bytes)
        eof = not data
        if first:
            data, first = data.removeprefix(_BOM), False
        if long is not None:
            end = data.find(b"\n")
            long.length += len(data) if end < 0 else end
            if end < 0 and not eof:
                continue
            skipped.append(long.record(limit))
            long, line, data = None, line + 1, data[end + 1 :] if end >= 0 else b""
        buf = carry + data if carry else data
        cut = len(buf) if eof else buf.rfind(b"\n") + 1
        lines, carry = _Lines(buf[:cut], line), buf[cut:]
        if len(carry) > limit:
            long, carry = _LongLine(line + len(lines), carry[: 4 * RAW_CHARS], len(carry)), b""
        if len(lines) or skipped:
            yield _Block(lines, skipped, stream.bytes_read)
            skipped = []
        line += len(lines)
        if eof:
            return


def _unreadable_lines(
    lines: _Lines, candidates: np.ndarray, limit: int
) -> tuple[np.ndarray, list[BadRecord]]:
    """Mask and bad records of candidate lines that are over-long or not UTF-8."""
    bad: list[BadRecord] = []
    too_long = candidates & (lines.lengths > limit)
    for i in np.flatnonzero(too_long).tolist():
        n = int(lines.lengths[i])
        bad.append(lines.bad(i, f"line is {n} bytes, over the {limit}-byte limit"))
    not_utf8 = lines.invalid_utf8(candidates & ~too_long)
    for i, reason in not_utf8.items():
        bad.append(lines.bad(i, f"invalid UTF-8: {reason}"))
    mask = too_long.copy()
    mask[list(not_utf8)] = True
    return mask, bad


def _chunk(
    table: pa.Table, rows: np.ndarray, bad: list[BadRecord], block: _Block
) -> DecodedChunk | None:
    """Package a decoded block, or None when it produced neither rows nor bad records."""
    lines = block.lines
    bad = block.skipped + sorted(bad, key=lambda b: b.line or 0)
    if table.num_rows == 0 and not bad:
        return None
    index = np.flatnonzero(rows)
    numbers = pa.array(lines.numbers[index], pa.int64())
    return DecodedChunk(table, numbers, bad, block.bytes_read, lambda r: lines.raw(int(index[r])))


class _Lines:
    """Vectorised index of the lines of one block: where each starts and ends, and its number.

    ``ends`` exclude the newline and a ``\\r`` before it; ``lengths`` count the ``\\r``.
    """

    def __init__(self, data: bytes, first_line: int) -> None:
        self.data = data
        self.bytes = np.frombuffer(data, np.uint8)
        newlines = np.flatnonzero(self.bytes == 10)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(data)]))
        if not data or data.endswith(b"\n"):
            starts, ends = starts[:-1], ends[:-1]
        self.starts = starts
        self.next_starts = np.append(starts[1:], len(data)).astype(np.int64)
        self.lengths = ends - starts
        has_cr = self.lengths > 0
        has_cr[has_cr] = self.bytes[ends[has_cr] - 1] == 13
        self.ends = ends - has_cr
        self.numbers = first_line + np.arange(len(starts), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.starts)

    def blank(self) -> np.ndarray:
        """Mask of lines that are empty or whitespace only."""
        empty: np.ndarray = self.ends == self.starts
        maybe = ~empty & np.isin(self.bytes[self.starts], _WHITESPACE)
        for i in np.flatnonzero(maybe).tolist():
            empty[i] = not self.data[self.starts[i] : self.ends[i]].strip()
        return empty

    def starting_with(self, prefix: str | None) -> np.ndarray:
        """Mask of lines that start with ``prefix`` (none when it is None)."""
        if not prefix or not len(self):
            return np.zeros(len(self), bool)
        encoded = prefix.encode()
        maybe = (self.bytes[self.starts] == encoded[0]) & (self.lengths >= len(encoded))
        mask = np.zeros(len(self), bool)
        for i in np.flatnonzero(maybe).tolist():
            mask[i] = self.data.startswith(encoded, int(self.starts[i]))
        return mask

    def invalid_utf8(self, candidates: np.ndarray) -> dict[int, str]:
        """The candidate lines that are not valid UTF-8, with the decoder's complaint."""
        if self.data.isascii():
            return {}
        try:
            self.data.decode()
            return {}
        except UnicodeDecodeError as exc:
            first = int(np.searchsorted(self.starts, exc.start, "right")) - 1
        found: dict[int, str] = {}
        for i in np.flatnonzero(candidates[first:]).tolist():
            try:
                self.data[self.starts[first + i] : self.ends[first + i]].decode()
            except UnicodeDecodeError as exc:
                found[first + i] = str(exc)
        return found

    def select(self, mask: np.ndarray) -> bytes:
        """The bytes of the masked lines, newlines included; no copy when all are kept."""
        if mask.all():
            return self.data
        changes = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
        bounds = np.concatenate(([0], changes, [len(mask)])).tolist()
        starts, next_starts = self.starts, self.next_starts
        runs = itertools.pairwise(bounds)
        return b"".join(self.data[starts[a] : next_starts[b - 1]] for a, b in runs if mask[a])

    def text(self, i: int) -> str:
        """Line ``i`` as text (the caller knows it is UTF-8)."""
        return self.data[self.starts[i] : self.ends[i]].decode()

    def raw(self, i: int) -> str:
        """Line ``i`` for people, at most RAW_CHARS characters: bytes that are not UTF-8
        as ``\\xNN`` (the ledger escapes NUL and control bytes the same way)."""
        start = int(self.starts[i])
        end = min(int(self.ends[i]), start + 4 * RAW_CHARS)
        return self.data[start:end].decode("utf-8", "backslashreplace")[:RAW_CHARS]

    def bad(self, i: int, reason: str) -> BadRecord:
        return BadRecord(int(self.numbers[i]), self.raw(i), reason)


_WHITESPACE = np.frombuffer(b" \t\n\r\x0b\x0c", np.uint8)  # what bytes.strip() removes


def _empty_table(rows: int = 0) -> pa.Table:
    return pa.table({"_": pa.nulls(rows)}).select([])


def _read_json(payload: bytes, rows: int, options: FormatOptions) -> pa.Table | None:
    """pyarrow's parse of ``payload``, or None if it fails or does not give one row a line."""
    if rows == 0:
        return _empty_table()
    block = max(_ARROW_BLOCK_BYTES, options.max_line_bytes + 2)
    read_options = pajson.ReadOptions(use_threads=True, block_size=block)
    try:
        table = pajson.read_json(pa.py_buffer(payload), read_options=read_options)
    except pa.ArrowException:
        return None
    return table if table.num_rows == rows else None


class _JsonDecoder:
    def __init__(self, options: FormatOptions) -> None:
        self.options = options

    def decode(self, block: _Block) -> DecodedChunk | None:
        """pyarrow on the whole block; line by line only if pyarrow refuses it."""
        lines = block.lines
        blank = lines.blank()
        unreadable, bad = _unreadable_lines(lines, ~blank, self.options.max_line_bytes)
        rows = ~blank & ~unreadable
        # pyarrow skips blank lines itself, so they need not be cut out of the payload.
        table = _read_json(lines.select(~unreadable), int(rows.sum()), self.options)
        if table is None:
            table, rows, more_bad = self._fallback(lines, rows)
            bad += more_bad
        return _chunk(table, rows, bad, block)

    def finish(self) -> None:
        """Nothing to check at the end of a JSON-lines file."""

    def _fallback(
        self, lines: _Lines, rows: np.ndarray
    ) -> tuple[pa.Table, np.ndarray, list[BadRecord]]:
        records: list[dict[str, Any]] = []
        bad: list[BadRecord] = []
        good = np.zeros(len(lines), bool)
        for i in np.flatnonzero(rows).tolist():
            try:
                value = json.loads(lines.text(i))
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
                bad.append(lines.bad(i, f"invalid JSON: {exc}"))
                continue
            if not isinstance(value, dict):
                bad.append(lines.bad(i, "not a JSON object"))
                continue
            good[i] = True
            records.append(value)
        table = _read_json(lines.select(good), len(records), self.options)
        if table is None:  # valid JSON, but a field changes type: pyarrow cannot type it
            table = _table_from_records(records)
        return table, good, bad


def _table_from_records(records: list[dict[str, Any]]) -> pa.Table:
    """Build a table from parsed JSON objects whose field types pyarrow could not reconcile.

    A field holding values of different JSON types becomes a string column (non-strings
    as their JSON text); objects stay structs and arrays lists where consistent.
    """
    columns = _harmonise_objects(records)
    arrays: dict[str, pa.Array] = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowException, OverflowError, UnicodeEncodeError):
            arrays[name] = pa.array([_json_text(v) for v in values], pa.string())
    return pa.table(arrays) if arrays else _empty_table(len(records))


def _harmonise_objects(objects: Sequence[dict[str, Any] | None]) -> dict[str, list[Any]]:
    keys = dict.fromkeys(k for o in objects if o is not None for k in o)
    return {k: _harmonise([None if o is None else o.get(k) for o in objects]) for k in keys}


def _harmonise(values: list[Any]) -> list[Any]:
    kinds = {_KINDS.get(type(v), "other") for v in values if v is not None}
    if kinds == {"object"}:
        columns = _harmonise_objects(values)
        return [
            None if v is None else {k: c[i] for k, c in columns.items()}
            for i, v in enumerate(values)
        ]
    if kinds == {"array"}:
        flat = _harmonise([x for v in values if v is not None for x in v])
        out: list[Any] = []
        at = 0
        for v in values:
            out.append(None if v is None else flat[at : at + len(v)])
            at += 0 if v is None else len(v)
        return out
    if len(kinds) <= 1 or kinds == {"int", "float"}:
        return values
    return [v if v is None or isinstance(v, str) else _json_text(v) for v in values]


_KINDS = {bool: "bool", int: "int", float: "float", str: "str", dict: "object", list: "array"}


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class _CsvDecoder:
    """CSV/TSV with pyarrow; the csv module only for a block pyarrow cannot map line by line."""

    def __init__(self, options: FormatOptions, path: str) -> None:
        self.options = options
        self.path = path
        self.columns: list[str] | None = None if options.header else list(options.columns)
        self.saw_content = False
        # TSV has no quoting: a '"' is data. CSV quotes as RFC 4180 (and pyarrow) do.
        self.quoting = options.format == "csv"
        self.parse_quote: str | bool = '"' if self.quoting else False
        # None only in a W3C log, whose data decides it before any line is parsed.
        self.delimiter: str | None = options.field_delimiter
        self.null_values = [""]

    @property
    def reader_args(self) -> dict[str, Any]:
        """The csv module's arguments for one line, as pyarrow parses it."""
        args: dict[str, Any] = {"delimiter": self.delimiter, "strict": True}
        if not self.quoting:
            args["quoting"] = csv.QUOTE_NONE
        return args

    def decode(self, block: _Block) -> DecodedChunk | None:
        """pyarrow on the block's data lines, after the header has been taken."""
        lines = block.lines
        blank = lines.blank()
        skip = blank | lines.starting_with(self.options.comment)
        unreadable, bad = _unreadable_lines(lines, ~skip, self.options.max_line_bytes)
        rows = ~skip & ~unreadable
        self.saw_content = self.saw_content or bool(block.skipped) or not blank.all()
        if self.columns is None:
            self._take_header(lines, skip, rows, block)
        if self.columns is None:
            return _chunk(_empty_table(), rows, bad, block)
        table, invalid = self._read_csv(lines.select(rows), int(rows.sum()), self.columns)
        if table is None:
            table, rows, more_bad = self._fallback(lines, rows, self.columns)
        else:
            more_bad = self._drop_invalid(lines, rows, invalid)
        return _chunk(table, rows, bad + more_bad, block)

    def finish(self) -> None:
        """A file with content but no header line cannot be mapped to columns at all."""
        if self.columns is None and self.saw_content:
            raise UnreadableFile("no header line", path=self.path, reason="no header line")

    def _take_header(
        self, lines: _Lines, skip: np.ndarray, rows: np.ndarray, block: _Block
    ) -> None:
        content = np.flatnonzero(~skip)
        if block.skipped or (content.size and not rows[content[0]]):
            line = block.skipped[0].line if block.skipped else int(lines.numbers[content[0]])
            message = f"the header line (line {line}) is over-long or not UTF-8"
            raise UnreadableFile(message, path=self.path, reason="unreadable header line")
        if content.size:
            try:
                names = next(csv.reader([lines.text(content[0])], **self.reader_args), [])
            except csv.Error as exc:
                names = [f"<{exc}>"] * 2  # reported below as a bad header
            if len(set(names)) != len(names) or not names:
                message = f"the header line does not give unique column names: {names}"
                raise UnreadableFile(message, path=self.path, reason="bad header line")
            self.columns = names
            rows[content[0]] = False

    def _read_csv(
        self, payload: bytes, rows: int, columns: list[str]
    ) -> tuple[pa.Table | None, dict[str, str]]:
        """pyarrow's parse, and the rows with a wrong field count (text → reason).

        None when pyarrow fails or its rows do not map one to one onto lines (an
        unbalanced quote makes it read on across newlines).
        """
        if rows == 0:
            return _empty_table(), {}
        invalid: dict[str, str] = {}
        calls = 0

        def on_invalid(row: pacsv.InvalidRow) -> str:
            nonlocal calls
            calls += 1
            invalid[row.text] = (
                f"expected {row.expected_columns} fields, found {row.actual_columns}"
            )
            return "skip"

        block = max(_ARROW_BLOCK_BYTES, self.options.max_line_bytes + 2)
        try:
            table = pacsv.read_csv(
                pa.py_buffer(payload),
                read_options=pacsv.ReadOptions(column_names=columns, block_size=block),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter,
                    quote_char=self.parse_quote,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(columns, pa.string()),
                    strings_can_be_null=True,
                    null_values=self.null_values,
                ),
            )
        except pa.ArrowException:
            return None, {}
        return (table, invalid) if table.num_rows + calls == rows else (None, {})

    @staticmethod
    def _drop_invalid(lines: _Lines, rows: np.ndarray, invalid: dict[str, str]) -> list[BadRecord]:
        """Bad records for the lines pyarrow skipped, found by their text.

        With threads pyarrow does not report row numbers; but a line parses the same
        wherever it is, so every line with the text of a skipped row was skipped.
        """
        bad: list[BadRecord] = []
        if invalid:
            for i in np.flatnonzero(rows).tolist():
                reason = invalid.get(lines.text(i))
                if reason is not None:
                    bad.append(lines.bad(i, reason))
                    rows[i] = False
        return bad

    def _fallback(
        self, lines: _Lines, rows: np.ndarray, columns: list[str]
    ) -> tuple[pa.Table, np.ndarray, list[BadRecord]]:
        records: list[list[str]] = []
        bad: list[BadRecord] = []
        good = np.zeros(len(lines), bool)
        for i in np.flatnonzero(rows).tolist():
            try:
                fields = next(csv.reader([lines.text(i)], **self.reader_args), [])
            except csv.Error as exc:
                bad.append(lines.bad(i, f"invalid CSV: {exc}"))
                continue
            if len(fields) != len(columns):
                bad.append(lines.bad(i, f"expected {len(columns)} fields, found {len(fields)}"))
                continue
            good[i] = True
            records.append(fields)
        table = pa.table(
            {
                name: pa.array(
                    [None if r[j] in self.null_values else r[j] for r in records], pa.string()
                )
                for j, name in enumerate(columns)
            }
        )
        return table, good, bad


class _W3cDecoder(_CsvDecoder):
    """W3C extended log format (see the module docstring): CSV machinery per stretch of
    lines under one ``#Fields:`` directive."""

    def __init__(self, options: FormatOptions, path: str) -> None:
        super().__init__(options, path)
        self.columns = list(options.columns) or None
        self.null_values = ["", "-"]
        self.delimiter = options.delimiter  # None: by the data

    def decode(self, block: _Block) -> DecodedChunk | None:
        lines = block.lines
        blank = lines.blank()
        directive = lines.starting_with("#")
        data = ~blank & ~directive
        unreadable, bad = _unreadable_lines(lines, data, self.options.max_line_bytes)
        rows = data & ~unreadable
        headers = [i for i in np.flatnonzero(directive).tolist() if self._is_fields(lines, i)]
        keep = np.zeros(len(lines), bool)
        tables = []
        for start, end in itertools.pairwise([0, *headers, len(lines)]):
            if start in headers:
                self._take_fields(lines, start)
            stretch = np.zeros(len(lines), bool)
            stretch[start:end] = rows[start:end]
            count = int(stretch.sum())
            if not count:
                continue
            columns = self._columns_for(lines, stretch)
            table, invalid = self._read_csv(lines.select(stretch), count, columns)
            if table is None:
                table, stretch, more_bad = self._fallback(lines, stretch, columns)
            else:
                more_bad = self._drop_invalid(lines, stretch, invalid)
            bad += more_bad
            keep |= stretch
            tables.append(table)
        table = pa.concat_tables(tables, promote_options="default") if tables else _empty_table()
        return _chunk(table, keep, bad, block)

    def finish(self) -> None:
        """A W3C log may hold directives only (a server that logged no request)."""

    @staticmethod
    def _directive(lines: _Lines, i: int) -> str:
        return lines.data[lines.starts[i] : lines.ends[i]].decode("utf-8", "replace")

    def _is_fields(self, lines: _Lines, i: int) -> bool:
        return self._directive(lines, i)[:8].lower() == "#fields:"

    def _take_fields(self, lines: _Lines, i: int) -> None:
        """The fields of the lines after ``#Fields:`` line ``i``; their delimiter is
        decided again by the first of them (unless configured)."""
        names = self._directive(lines, i)[8:].split()
        if not names or len(set(names)) != len(names):
            message = f"line {lines.numbers[i]}: #Fields: does not give unique names: {names}"
            raise UnreadableFile(message, path=self.path, reason="bad #Fields: directive")
        self.columns = names
        self.delimiter = self.options.delimiter

    def _columns_for(self, lines: _Lines, stretch: np.ndarray) -> list[str]:
        first = int(np.flatnonzero(stretch)[0])
        if self.columns is None:
            message = f"line {lines.numbers[first]} comes before any #Fields: directive"
            raise UnreadableFile(message, path=self.path, reason="no #Fields: directive")
        if self.delimiter is None:
            self.delimiter = "\t" if "\t" in lines.text(first) else " "
        return self.columns


def _decode_parquet(filesystem: pafs.FileSystem, path: str) -> Iterator[DecodedChunk]:
    """Row batches as stored; ``lines`` are 1-based row numbers."""
    try:
        file = filesystem.open_input_file(path)
    except OSError as exc:
        if is_outage(exc):
            raise  # the store is down: not a verdict on the file
        reason = "vanished" if isinstance(exc, FileNotFoundError) else "open error"
        raise UnreadableFile(f"cannot open file: {exc}", path=path, reason=reason) from exc
    with file:
        size = file.size()
        if size == 0:
            return
        try:
            parquet = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as exc:
            if is_outage(exc):
                raise
            raise UnreadableFile(
                f"not a Parquet file: {exc}", path=path, reason="not parquet"
            ) from exc
        total = max(parquet.metadata.num_rows, 1)
        batches = parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS)
        done = 0
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                if is_outage(exc):
                    raise
                message = f"cannot read Parquet file: {exc}"
                raise UnreadableFile(message, path=path, reason="parquet read error") from exc
            if batch is None:
                return
            numbers = pa.array(np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64))
            done += batch.num_rows
            table = pa.Table.from_batches([batch])
            yield DecodedChunk(table, numbers, [], size * done // total)


__all__ = ["FORMATS", "BadRecord", "DecodedChunk", "FormatOptions", "decode_file"]
