"""What a landed file holds: the hash of its decompressed content, and what it held before.

A delivery is recognised by its content, not by its name or its compression: the same
bytes as plain text, gzip at any level or zstd are one delivery, so the hash (xxh3-128,
GB/s) is taken over the *decompressed* bytes. (A re-serialised JSON file or a rewritten
Parquet file is different content by design: its bytes differ.)

A file of a ``keep`` source may come back under its name with more in it. Whether that
is an append (the earlier, committed content is an exact prefix, ending at a line
boundary) is decided from the same single pass that hashes the file: the digest is
snapshotted at the earlier version's length (:class:`Prefix`).

Small files are read and decompressed whole (:attr:`Content.data`): hashed and parsed from
the same bytes, with one decompression. Larger compressed files, asked for with ``spool``,
are decompressed once too: what is hashed is also written to a :class:`Spool` (a
temporary file), which the decoder reads instead of the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import pyarrow as pa
import pyarrow.fs as pafs
import xxhash

from icehouse.errors import UnreadableFile
from icehouse.ingest.compression import (
    Codec,
    Compression,
    Spool,
    detect_compression,
    open_decompressed,
    stream_error,
)
from icehouse.resilience import is_outage

HASH_BLOCK = 4 * 1024 * 1024
MAX_WHOLE_COMPRESSED_BYTES = 4 * 1024 * 1024
"""A compressed file read whole is kept decompressed only up to this stored size."""


@dataclass(frozen=True)
class Prefix:
    """The first ``size`` bytes of a file's content: the extent of its earlier version."""

    size: int
    digest: str
    lines: int
    """Newlines in it: the number of the first line after it, minus one."""
    ends_line: bool
    """Its last byte is a newline."""
    last_line_start: int
    """Where its last line begins (just after its last newline; 0 if it has none)."""
    next_is_newline: bool
    """The byte just after it is a newline (the earlier version's last line was whole)."""
    first_line: bytes
    """The file's first line with its newline (a CSV header for an appended part)."""
    fields_line: bytes = b""
    """The last W3C ``#Fields:`` directive in it: what names the appended part's fields."""


@dataclass(frozen=True)
class Content:
    digest: str
    size: int
    """Decompressed bytes hashed; a decode reads no further (the file may still grow)."""
    codec: Codec
    data: bytes | None = None
    """The decompressed content, when the file was read whole."""
    prefix: Prefix | None = None
    """Set when asked for and the content is longer than the asked length."""
    spool: Spool | None = None
    """The decompressed content set aside, when asked for and the file is compressed
    and not kept in :attr:`data`; closed with the content (use it in a ``with``)."""

    def __enter__(self) -> Content:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.spool is not None:
            self.spool.close()


class _Hasher:
    """Hashes blocks of content, snapshotting the digest and line facts at ``prefix_at``."""

    def __init__(self, prefix_at: int | None) -> None:
        self._digest = xxhash.xxh3_128()
        self._prefix_at = prefix_at
        self._size = 0
        self._lines = 0
        self._first_line = b""
        self._first_line_done = False
        self._last_byte = b""
        self._last_line_start = 0
        self._fields_line = b""
        self._fields_open = False
        self.prefix: Prefix | None = None

    def _track_line_start(self, head: bytes) -> None:
        newline = head.rfind(b"\n")
        if newline >= 0:
            self._last_line_start = self._size + newline + 1

    def _track_fields(self, head: bytes) -> None:
        """Keep the last ``#Fields:`` line seen (W3C logs name their fields in one)."""
        if self._fields_open:
            end = head.find(b"\n")
            self._fields_line += head if end < 0 else head[: end + 1]
            self._fields_open = end < 0
        at = head.rfind(b"\n#Fields:")
        start = at + 1 if at >= 0 else -1
        line_start = self._size == 0 or self._last_byte == b"\n"
        if start < 0 and line_start and head.startswith(b"#Fields:"):
            start = 0
        if start >= 0:
            end = head.find(b"\n", start)
            self._fields_line = head[start:] if end < 0 else head[start : end + 1]
            self._fields_open = end < 0

    def update(self, block: bytes) -> None:
        if not self._first_line_done:
            end = block.find(b"\n")
            self._first_line += block if end < 0 else block[: end + 1]
            self._first_line_done = end >= 0
        at = self._prefix_at
        if at is not None and self.prefix is None and self._size <= at < self._size + len(block):
            cut = at - self._size
            self._digest.update(block[:cut])
            self._lines += block.count(b"\n", 0, cut)
            self._track_line_start(block[:cut])
            self._track_fields(block[:cut])
            last = block[cut - 1 : cut] if cut else self._last_byte
            self.prefix = Prefix(
                size=at,
                digest=self._digest.hexdigest(),
                lines=self._lines,
                ends_line=last == b"\n",
                last_line_start=self._last_line_start,
                next_is_newline=block[cut : cut + 1] == b"\n",
                first_line=self._first_line,
                fields_line=self._fields_line,
            )
            self._digest.update(block[cut:])
        else:
            self._digest.update(block)
            if at is not None and self.prefix is None:
                self._lines += block.count(b"\n")
                self._track_line_start(block)
                self._track_fields(block)
        self._size += len(block)
        if block:
            self._last_byte = block[-1:]

    def content(
        self, codec: Codec, data: bytes | None = None, spool: Spool | None = None
    ) -> Content:
        return Content(self._digest.hexdigest(), self._size, codec, data, self.prefix, spool)


def read_content(
    filesystem: pafs.FileSystem,
    path: str,
    compression: Compression,
    *,
    whole: bool,
    prefix_at: int | None = None,
    spool: bool = False,
) -> Content:
    """Hash ``path``'s decompressed content; with ``whole``, keep it in memory too (a
    compressed file only up to ``MAX_WHOLE_COMPRESSED_BYTES`` as stored).

    ``prefix_at`` asks for :attr:`Content.prefix` at that length (an earlier version's).
    ``spool`` asks for a compressed file's content not kept in memory to be set aside as
    it is hashed (:attr:`Content.spool`), for the decoder to read instead of the file.

    Raises:
        UnreadableFile: the file vanished, or its compressed stream is truncated or corrupt.
    """
    hasher = _Hasher(prefix_at if prefix_at else None)
    if whole:
        stored = _read_stored(filesystem, path)
        codec = detect_compression(path, stored[:64], compression)
        if codec == "none":
            hasher.update(stored)
            return hasher.content(codec, stored)
        if len(stored) <= MAX_WHOLE_COMPRESSED_BYTES:
            data = _inflate(stored, path, codec)
            hasher.update(data)
            return hasher.content(codec, data)
        inflating = pa.CompressedInputStream(pa.BufferReader(stored), codec)

        def read(size: int) -> bytes:
            try:
                return bytes(inflating.read(size))
            except OSError as exc:
                raise stream_error(path, codec, exc) from exc

        return _hash_blocks(hasher, read, path, codec, spool)
    with open_decompressed(filesystem, path, compression) as stream:
        return _hash_blocks(hasher, stream.read, path, stream.codec, spool)


def _hash_blocks(
    hasher: _Hasher, read: Callable[[int], bytes], path: str, codec: Codec, spool: bool
) -> Content:
    """Hash what ``read`` returns to its end; with ``spool``, a compressed file's content
    is also written to a :class:`Spool` (closed again should reading fail; given up, and
    the file decoded from storage, should the temporary file fail)."""
    kept = Spool.create(path) if spool and codec != "none" else None
    try:
        while block := read(HASH_BLOCK):
            hasher.update(block)
            if kept is not None and not kept.write(block):
                kept = None
    except BaseException:
        if kept is not None:
            kept.close()
        raise
    return hasher.content(codec, spool=kept)


def _read_stored(filesystem: pafs.FileSystem, path: str) -> bytes:
    try:
        # compression=None: the bytes as stored; pyarrow would otherwise inflate by name.
        with filesystem.open_input_stream(path, compression=None) as stream:
            return bytes(stream.read())
    except FileNotFoundError as exc:
        raise UnreadableFile(f"file vanished: {exc}", path=path, reason="vanished") from exc
    except OSError as exc:
        if is_outage(exc):
            raise  # the store is down, the file is not unreadable: retried after the outage
        raise UnreadableFile(f"cannot read file: {exc}", path=path, reason="read error") from exc


def _inflate(stored: bytes, path: str, codec: Codec) -> bytes:
    try:
        return bytes(pa.CompressedInputStream(pa.BufferReader(stored), codec).read())
    except OSError as exc:
        raise stream_error(path, codec, exc) from exc


__all__ = ["Content", "Prefix", "read_content"]
