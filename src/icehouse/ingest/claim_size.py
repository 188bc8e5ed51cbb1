"""How much a batch claims at a time, so that ``batch_rows`` holds when files are claimed
and workers sharing a backlog split it evenly.

A file's row count is known only once it is decoded, but the queue knows its size. Each
process learns, per source, the most rows per byte it has seen in a decoded file and
sizes claims by it: a batch claims no file that would take it past ``batch_rows`` by that
measure (its first file excepted, which nothing else could hold). Until a source's files
have been measured, a batch claims them one at a time.

Claims are also kept small (``CLAIM_ROWS`` by that measure, and ``CLAIM_BYTES``), whatever
room the batch has left: a worker that claimed a whole batch's worth of a backlog at once
would leave its peers idle while it decodes, and take turns with them only a batch at a
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CLAIM_ROWS = 100_000
"""Rows one claim aims at: under a second of decoding for one worker, so that workers
sharing a backlog finish it within a second of each other, and still one statement for
several files of a typical size."""

CLAIM_BYTES = 8 * 1024 * 1024
"""Bytes of landed files one claim aims at, whatever their rows: sparse files (wide rows)
take as long to decode per byte as dense ones."""


@dataclass(frozen=True)
class ClaimSize:
    """The bounds of one claim (see ``FileQueue.claim``)."""

    files: int
    byte_target: int | None
    byte_room: int | None
    """None: no hard bound; the batch is empty, or its sources' density is unknown."""


class RowDensity:
    """The most rows per byte seen in each source's decoded files, in this process.

    The most, not the mean: a file denser than the estimate would take its batch past
    ``batch_rows``, one less dense only ends the batch a little early. A replay of a few
    lines or the new tail of a grown file reads as sparse and so never lowers it.
    """

    def __init__(self) -> None:
        self._densest: dict[str, float] = {}

    def learn(self, source: str, *, size: int, rows: int) -> None:
        """Take note of a decoded file's ``rows`` out of its ``size`` bytes."""
        if size > 0 and rows > 0:
            self._densest[source] = max(self._densest.get(source, 0.0), rows / size)

    def densest(self, sources: Sequence[str]) -> float | None:
        """The most rows per byte seen in a file of any of ``sources``; None when none
        of them was measured yet."""
        known = [self._densest[s] for s in sources if s in self._densest]
        return max(known) if known else None


def next_claim(
    density: RowDensity,
    sources: Sequence[str],
    *,
    files_left: int,
    rows_left: int,
    empty: bool,
) -> ClaimSize:
    """The next claim of a batch that may still take ``files_left`` files and
    ``rows_left`` rows (``empty``: it holds no file yet)."""
    densest = density.densest(sources)
    if densest is None:
        return ClaimSize(files=1, byte_target=None, byte_room=None)
    room = max(0, int(rows_left / densest))
    # An empty batch takes its first file whatever its size (``byte_target`` takes one
    # always), and more only within the room, as any batch.
    return ClaimSize(
        files=files_left,
        byte_target=min(CLAIM_BYTES, int(CLAIM_ROWS / densest), room),
        byte_room=None if empty else room,
    )
