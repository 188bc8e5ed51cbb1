"""Polling an ordered source (``listing = "ordered"``): from the high-water key on, with
a full listing now and then.

The high-water key is the greatest path a poll listed, kept in the state database
(``ledger/marks.py``) once the files up to it are registered, so that every worker, on
any host and after any restart, lists from it. A source without a mark is listed whole,
as it is every ``full_listing_every``: that finds keys that landed late (sorting before
ones already seen: a producer's clock behind, an upload that took long) and files a
missed notification did not queue. A local file still settling holds the key below
itself, so that it is listed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from icehouse.config import SourceConfig
from icehouse.ingest.landing import LandedFile, settled
from icehouse.ingest.ledger.marks import ListingMark, ListingMarks
from icehouse.ingest.ordered_listing import list_after


@dataclass(frozen=True)
class Poll:
    """One poll of a source: its complete and settling files, how many files the store
    returned and in how many requests, whether it was a full listing, and the mark to
    store once ``ready`` is registered (None: the stored one stands, as after a poll
    that found nothing new)."""

    ready: list[LandedFile]
    settling: list[LandedFile]
    listed: int
    requests: int
    full: bool
    mark: ListingMark | None


class OrderedDiscovery:
    """Polls ordered sources from their marks, and stores a poll's mark when told."""

    def __init__(self, storage: Mapping[str, str], marks: ListingMarks) -> None:
        self._storage = storage
        self._marks = marks

    def poll(self, source: SourceConfig, *, now: float) -> Poll:
        """List what landed in ``source`` since the stored mark (everything when a full
        listing is due); ``now`` is the ingester's clock. The mark is not moved: call
        ``advance`` once the poll's ready files are registered."""
        stored = self._marks.get(source.name)
        if stored is not None and stored.location != source.location:
            stored = None  # the source was declared again elsewhere: its key says nothing
        every = source.full_listing_time.total_seconds()
        full = stored is None or now - stored.full_listed_at >= every
        start = None if full or stored is None else stored.high_water
        listed = list_after(source.location, self._storage, start)
        local = not source.location.startswith(("s3://", "s3a://"))
        ready, settling = settled(listed.files, listed.base, source, now=now, local=local)
        bound = min((f.path for f in settling), default=None)
        seen = [f.path for f in listed.files if bound is None or f.path < bound]
        high_water = max(seen) if seen else start
        full_listed_at = now if full or stored is None else stored.full_listed_at
        mark = ListingMark(source.location, high_water, full_listed_at)
        return Poll(
            ready=ready,
            settling=settling,
            listed=len(listed.files),
            requests=listed.requests,
            full=full,
            mark=None if mark == stored else mark,
        )

    def advance(self, source: SourceConfig, poll: Poll) -> None:
        """Store ``poll``'s mark as the source's: its ready files are registered."""
        if poll.mark is not None:
            self._marks.put(source.name, poll.mark)
