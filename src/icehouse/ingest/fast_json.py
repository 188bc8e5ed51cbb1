"""The optimistic path for small JSON-lines files: pyarrow reads the whole file at once.

The line-aware decoder (``decode.py``) indexes every line so that any bad line can be
named and set aside; for clean files that bookkeeping costs ~25 % of decoding. Most
landed files are small and clean, so for them pyarrow parses the decompressed file in
one call, with blocks of ``max_line_bytes + 1`` (a longer line cannot fit a block, so
pyarrow refuses it). Whenever pyarrow refuses anything, or the mapping then finds a bad
row (whose line number this path cannot vouch for: pyarrow skips blank lines), the
caller decodes the file again with the line-aware decoder, which gives the exact answer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from icehouse.ingest.compression import detect_compression
from icehouse.ingest.decode import DecodedChunk, FormatOptions

MAX_COMPRESSED_BYTES = 4 * 1024 * 1024
MAX_PLAIN_BYTES = 32 * 1024 * 1024
"""Files up to these sizes (as stored) take the fast path: their rows are held whole."""


class FastPathRefused(Exception):
    """pyarrow could not read the file in one go; use the line-aware decoder."""


def eligible(options: FormatOptions, size: int) -> bool:
    return options.format == "jsonl" and size <= MAX_PLAIN_BYTES


def read_whole(data: bytes, path: str, options: FormatOptions) -> DecodedChunk:
    """All rows of a small JSON-lines file given its stored bytes (``path`` only helps to
    detect the compression); ``lines`` assume no blank lines.

    Raises:
        FastPathRefused: anything pyarrow cannot read, for whatever reason.
    """
    try:
        codec = detect_compression(path, data[:64], options.compression)
        if codec != "none" and len(data) > MAX_COMPRESSED_BYTES:
            raise FastPathRefused(f"{len(data)} compressed bytes: too big to hold whole")
        stream = pa.BufferReader(data)
        if codec != "none":  # pyarrow inflates as it parses: no decompressed copy
            stream = pa.CompressedInputStream(stream, codec)
        read_options = pajson.ReadOptions(block_size=options.max_line_bytes + 1, use_threads=False)
        table = pajson.read_json(stream, read_options=read_options)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FastPathRefused(str(exc)) from exc
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return DecodedChunk(table=table, lines=lines, bad=[], bytes_read=len(data))
