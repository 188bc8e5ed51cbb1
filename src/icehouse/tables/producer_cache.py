"""What the central lake keeps of a mounted producer between requests, so that a read
through a mount costs about what a read of a local table does.

- ``KeptLoads``: each table's last loadTable answer, with the ETag it came with, and the
  REST rendering and governance identity made of it. Every load still asks the producer, with
  ``If-None-Match``: a table is never handed out older than the producer has it, and an
  unchanged one costs the producer a 304 and the central server no parsing of its
  metadata.
- ``UuidIndex``: where each table key (mount and producer UUID) was when the producer's
  tables were last listed, since a producer has no lookup by UUID. A name it gives is
  checked against the producer before it is used; that a key is nowhere is believed for
  ``UUID_TTL`` seconds only, so a table created or re-created at the producer is found
  within that time.

Both live with the opened producer (``federation.ProducerCatalog``), so an unmount, or a
mount made again under the same name, starts from nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyiceberg.table import Table

from icehouse.tables.catalog_tables import TableState
from icehouse.tables.identity import Identity

KEPT_LOADS = 256
"""Tables of one producer whose last load is kept (least recently used dropped first)."""
UUID_TTL = 5.0
"""Seconds for which a listing of the producer's tables answers that a key is nowhere."""


@dataclass
class KeptLoad:
    """A table as the producer last answered it, and its ETag."""

    etag: str
    table: Table
    state: TableState | None = None
    """The REST rendering of ``table``, made on the first load that asks for it."""
    identity: Identity | None = None
    """``table`` as governance keys it, made on the first decision that asks for it:
    every governed load decides on it twice (its check and its access), and walking
    every schema of the metadata for it cost more than the rest of the decision."""


class KeptLoads:
    """Last loads by table identifier, with their ETags; thread-safe."""

    def __init__(self, kept: int = KEPT_LOADS) -> None:
        self._kept = kept
        self._loads: OrderedDict[tuple[str, ...], KeptLoad] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, identifier: tuple[str, ...]) -> KeptLoad | None:
        with self._lock:
            kept = self._loads.get(identifier)
            if kept is not None:
                self._loads.move_to_end(identifier)
            return kept

    def put(self, identifier: tuple[str, ...], kept: KeptLoad) -> None:
        with self._lock:
            self._loads[identifier] = kept
            self._loads.move_to_end(identifier)
            while len(self._loads) > self._kept:
                self._loads.popitem(last=False)

    def forget(self, identifier: tuple[str, ...]) -> None:
        """The producer has no such table (any more)."""
        with self._lock:
            self._loads.pop(identifier, None)


class UuidIndex:
    """Table keys -> dotted names, as the producer's tables were last listed;
    thread-safe. ``clock`` gives UNIX seconds (the lake's clock)."""

    def __init__(self, clock: Callable[[], float], ttl: float = UUID_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        self._names: Mapping[str, str] = {}
        self._listed_at: float | None = None
        self._lock = threading.Lock()

    def name_of(self, key: str) -> tuple[str | None, bool]:
        """The name ``key`` had at the last listing (None: it had none), and whether that
        listing is recent enough to believe that it has none."""
        with self._lock:
            listed_at = self._listed_at
            name = self._names.get(key)
        fresh = listed_at is not None and self._clock() - listed_at < self._ttl
        return name, fresh

    def listed(self, names: Mapping[str, str]) -> None:
        """Keep a listing just made: every table's key -> its dotted name."""
        with self._lock:
            self._names = dict(names)
            self._listed_at = self._clock()
