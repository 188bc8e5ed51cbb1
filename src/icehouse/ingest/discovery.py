"""Polling an ordered source (``listing = "ordered"``): from the high-water key on, with
a full listing now and then.

The high-water key is the greatest path a poll saw, held by this process: its first
poll of a source lists everything, as does one every ``full_listing_every``, which
finds keys that landed late (sorting before ones already seen: a producer's clock
behind, an upload that took long) and files a missed notification did not queue. A
local file still settling holds the key below itself, so that it is listed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from icehouse.config import SourceConfig
from icehouse.ingest.landing import LandedFile, settled
from icehouse.ingest.ordered_listing import list_after


@dataclass(frozen=True)
class Poll:
    """One poll of a source: its complete and settling files, how many files the store
    returned and in how many requests, and whether it was a full listing."""

    ready: list[LandedFile]
    settling: list[LandedFile]
    listed: int
    requests: int
    full: bool


class OrderedDiscovery:
    """The high-water keys and full-listing times of one process's ordered sources."""

    def __init__(self, storage: Mapping[str, str]) -> None:
        self._storage = storage
        self._high_water: dict[str, str] = {}
        self._full_at: dict[str, float] = {}

    def poll(self, source: SourceConfig, *, now: float) -> Poll:
        """List what landed in ``source`` since the last poll (everything when a full
        listing is due); ``now`` is the ingester's clock."""
        name = source.name
        every = source.full_listing_time.total_seconds()
        full = name not in self._high_water or now - self._full_at[name] >= every
        start = None if full else self._high_water[name]
        listed = list_after(source.location, self._storage, start)
        local = not source.location.startswith(("s3://", "s3a://"))
        ready, settling = settled(listed.files, listed.base, source, now=now, local=local)
        bound = min((f.path for f in settling), default=None)
        seen = [f.path for f in listed.files if bound is None or f.path < bound]
        if full:
            self._full_at[name] = now
            self._high_water.pop(name, None)
        if seen:
            self._high_water[name] = max(seen)
        return Poll(
            ready=ready,
            settling=settling,
            listed=len(listed.files),
            requests=listed.requests,
            full=full,
        )
