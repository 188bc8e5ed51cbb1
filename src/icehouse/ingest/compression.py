"""Open a source file as a stream of decompressed bytes.

Source files arrive plain, gzip'd or zstd'd, and their names do not always tell the truth
(a download that was transparently decompressed keeps its ``.gz``; a rotated log may be
compressed without a suffix). So with ``compression="auto"`` the first bytes decide:

* gzip magic ``1f 8b`` → gzip; zstd magic ``28 b5 2f fd`` (or a zstd skippable frame) → zstd;
* no magic, but the file starts like text → plain, whatever the extension says;
* no magic and not text → the extension (``.gz``/``.gzip``/``.zst``/``.zstd``) decides, so a
  ``.gz`` file with a damaged header fails loudly as :class:`UnreadableFile` instead of
  turning into a million junk records.

Both codecs use pyarrow's ``CompressedInputStream``. Measured on 100 MB of JSON lines it
inflated gzip at ~590 MB/s against ~460 MB/s for ``gzip.GzipFile``, and matched
``zstandard``'s ``stream_reader`` on zstd (~1.37 GB/s). It also raises on a truncated zstd
stream, where ``stream_reader`` silently returns the frames it could finish, and it reads
concatenated gzip members and zstd frames to the end. (Unlike ``GzipFile`` it rejects
zero bytes padded after the last gzip member; such a file is unreadable here.)
"""

from __future__ import annotations

import tempfile
from types import TracebackType
from typing import BinaryIO, Literal, Protocol

import pyarrow as pa
import pyarrow.fs as pafs

from icehouse.errors import UnreadableFile
from icehouse.resilience import is_outage

Compression = Literal["auto", "none", "gzip", "zstd"]
Codec = Literal["none", "gzip", "zstd"]

COMPRESSIONS: tuple[Compression, ...] = ("auto", "none", "gzip", "zstd")
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE_TAIL = b"\x2a\x4d\x18"  # frames 0x184D2A50..5F: first byte 0x50..0x5F
_EXTENSIONS: dict[str, Codec] = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_HEAD_BYTES = 64
_TEXT_CONTROL = frozenset(b"\t\n\r\x0c")
_RAW_BUFFER_BYTES = 1 << 20  # one object-store request per MiB, not per 64 KiB codec read


def codec_from_extension(path: str) -> Codec:
    """The codec the file name claims (``"none"`` when the suffix is not a known one)."""
    lowered = path.lower()
    return next((c for ext, c in _EXTENSIONS.items() if lowered.endswith(ext)), "none")


def codec_from_magic(head: bytes) -> Codec | None:
    """The codec the first bytes prove, or None when they prove nothing."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC) or (
        len(head) >= 4 and 0x50 <= head[0] <= 0x5F and head[1:4] == _ZSTD_SKIPPABLE_TAIL
    ):
        return "zstd"
    return None


def looks_like_text(head: bytes) -> bool:
    """True when ``head`` has no control bytes other than tab, newlines and form feed."""
    return all(b >= 0x20 or b in _TEXT_CONTROL for b in head)


def detect_compression(path: str, head: bytes, compression: Compression = "auto") -> Codec:
    """Choose the codec for a file from its name and first bytes (see the module docstring).

    Raises:
        ValueError: ``compression`` is not one of :data:`COMPRESSIONS`.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
    if compression != "auto":
        return compression
    magic = codec_from_magic(head)
    if magic is not None:
        return magic
    return "none" if looks_like_text(head) else codec_from_extension(path)


class _RawFile(Protocol):
    """What ``_CountingReader`` reads from: a pyarrow input file, or a ``_Limited`` one."""

    @property
    def closed(self) -> bool: ...

    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


class _CountingReader:
    """The raw file with its already-read head put back in front, counting bytes consumed.

    pyarrow input streams cannot peek, so the head we sniffed must be replayed.
    """

    def __init__(self, raw: _RawFile, head: bytes) -> None:
        self._raw = raw
        self._head = head
        self.consumed = len(head)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if 0 <= size <= len(head):
                self._head = head[size:]
                return head[:size]
            return head + self.read(-1 if size < 0 else size - len(head))
        data = self._raw.read() if size < 0 else self._raw.read(size)
        self.consumed += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)


class DecompressedStream:
    """A binary stream of a file's decompressed bytes; a context manager.

    Every failure to read (vanished file, truncated or corrupt stream) surfaces as
    :class:`UnreadableFile`, so callers need no knowledge of pyarrow's or zlib's errors.
    """

    def __init__(self, path: str, codec: Codec, reader: _CountingReader) -> None:
        self.path = path
        self.codec: Codec = codec
        self._reader = reader
        self._stream: _CountingReader | pa.NativeFile = reader
        if codec != "none":
            self._stream = pa.CompressedInputStream(pa.PythonFile(reader, mode="r"), codec)

    @property
    def bytes_read(self) -> int:
        """Compressed bytes consumed from the file so far (the codec reads ahead a little)."""
        return self._reader.consumed

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes; ``b""`` at the end.

        Raises:
            UnreadableFile: the file vanished, or its compressed stream is truncated or corrupt.
        """
        try:
            return bytes(self._stream.read(size))
        except FileNotFoundError as exc:
            raise UnreadableFile(
                f"file vanished: {exc}", path=self.path, reason="vanished"
            ) from exc
        except OSError as exc:
            if is_outage(exc):
                raise  # the store is down, not the stream corrupt
            raise stream_error(self.path, self.codec, exc) from exc

    def close(self) -> None:
        self._stream.close()
        self._reader.close()

    def __enter__(self) -> DecompressedStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def stream_error(path: str, codec: Codec, exc: OSError) -> UnreadableFile:
    """The :class:`UnreadableFile` that a codec's (or the file system's) error means."""
    text = str(exc)
    if codec == "none":
        return UnreadableFile(f"cannot read file: {text}", path=path, reason="read error")
    if "runcated" in text:
        reason = f"truncated {codec} stream"
    elif "header" in text or "frame descriptor" in text:
        reason = f"not a {codec} stream"
    else:
        reason = f"corrupt {codec} stream"
    return UnreadableFile(f"{reason}: {text}", path=path, reason=reason)


def open_decompressed(
    filesystem: pafs.FileSystem, path: str, compression: Compression = "auto"
) -> DecompressedStream:
    """Open ``path`` and return its decompressed bytes as a :class:`DecompressedStream`.

    Raises:
        UnreadableFile: the file does not exist (any more) or cannot be opened.
        ValueError: ``compression`` is not one of :data:`COMPRESSIONS`.
    """
    try:
        # compression=None: pyarrow would otherwise decompress by extension on its own.
        raw = filesystem.open_input_stream(path, compression=None, buffer_size=_RAW_BUFFER_BYTES)
        head = raw.read(_HEAD_BYTES)
    except FileNotFoundError as exc:
        raise UnreadableFile(f"file vanished: {exc}", path=path, reason="vanished") from exc
    except OSError as exc:
        if is_outage(exc):
            raise
        raise UnreadableFile(f"cannot open file: {exc}", path=path, reason="open error") from exc
    codec = detect_compression(path, bytes(head), compression)
    return DecompressedStream(path, codec, _CountingReader(raw, bytes(head)))


class _Limited:
    """At most ``limit`` bytes of a raw stream: a decode stops where the hash stopped,
    even if the file grew meanwhile."""

    def __init__(self, raw: pa.NativeFile, limit: int) -> None:
        self._raw = raw
        self._left = limit
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        want = self._left if size < 0 else min(size, self._left)
        data = bytes(self._raw.read(want)) if want > 0 else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._raw.close()
        self.closed = True


def open_bytes(path: str, data: bytes, *, prologue: bytes = b"") -> DecompressedStream:
    """Content already read and decompressed (while it was hashed), after ``prologue``:
    decoded without reading or inflating the file a second time."""
    return DecompressedStream(path, "none", _CountingReader(pa.BufferReader(data), prologue))


class Spool:
    """A file's decompressed content, set aside while it was hashed, so that decoding it
    reads these bytes instead of reading and inflating the file a second time.

    The bytes go to an unnamed temporary file (in ``TMPDIR``), never into the process's
    memory: the OS page cache keeps them while memory is free. Writing and reading back
    144 MB took ~0.1 s, against ~0.25 s to inflate them again from gzip (zstd inflates
    about as fast as the spool costs); Python's ``SpooledTemporaryFile`` (memory first,
    then a file) took 0.6 s to write them. The temporary file takes as much disk as the
    content: where it cannot be created or written (disk full), ``create`` and ``write``
    give up and the file is decoded from storage as before.
    Close it when done: decoding it (``open``) closes it, so does ``close``.
    """

    def __init__(self, path: str, file: BinaryIO) -> None:
        self.path = path
        self._file = file

    @classmethod
    def create(cls, path: str) -> Spool | None:
        """A spool for ``path``'s content; None when no temporary file can be made."""
        try:
            # Closed by ``close`` or by the stream ``open`` returns, not by a ``with`` here.
            return cls(path, tempfile.TemporaryFile())
        except OSError:
            return None

    def write(self, block: bytes) -> bool:
        """Append ``block``; False, with the spool closed, when the disk refused it."""
        try:
            self._file.write(block)
        except OSError:
            self.close()
            return False
        return True

    def open(self) -> DecompressedStream:
        """The spooled content from its start; closing the stream frees the spool."""
        self._file.seek(0)
        reader = _CountingReader(self._file, b"")
        return DecompressedStream(self.path, "none", reader)

    def close(self) -> None:
        self._file.close()


def open_range(
    filesystem: pafs.FileSystem, path: str, *, start: int, end: int, prologue: bytes = b""
) -> DecompressedStream:
    """Bytes ``start`` to ``end`` of an uncompressed file, after ``prologue``: the part a
    plain line-oriented file gained by appending, behind its header line if it has one.

    Raises:
        UnreadableFile: the file does not exist (any more) or cannot be opened.
    """
    try:
        raw = filesystem.open_input_file(path)
        raw.seek(start)
    except FileNotFoundError as exc:
        raise UnreadableFile(f"file vanished: {exc}", path=path, reason="vanished") from exc
    except OSError as exc:
        if is_outage(exc):
            raise  # the store is down, not the file unreadable
        raise UnreadableFile(f"cannot open file: {exc}", path=path, reason="open error") from exc
    limited = _Limited(raw, max(0, end - start))
    return DecompressedStream(path, "none", _CountingReader(limited, prologue))


__all__ = [
    "COMPRESSIONS",
    "Codec",
    "Compression",
    "DecompressedStream",
    "Spool",
    "codec_from_extension",
    "codec_from_magic",
    "detect_compression",
    "looks_like_text",
    "open_bytes",
    "open_decompressed",
    "open_range",
    "stream_error",
]
