"""Decoded manifest lists and manifest entries, kept by a ``Lake`` for its query planning
and its maintenance.

A manifest file never changes once written, so its entries, read once, stay true; every
planning, every maintenance round and every rewrite of one lake decodes each manifest at
most once (while it stays cached). Each ``Lake`` owns its cache: two lakes in a process
share none.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from pyiceberg.io import FileIO
from pyiceberg.manifest import ManifestEntry, ManifestFile, read_manifest_list
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.utils.concurrent import ExecutorFactory

DEFAULT_MAX_CACHED_ENTRIES = 50_000
"""Entries take 3-6 KB each (3.3 KB measured with 4 columns): at most ~150-300 MB."""
MAX_CACHED_MANIFEST_REFS = 200_000
"""Manifests named by the manifest lists held, counted once per list: a maintenance round
reads every retained snapshot's list (a streaming table keeps ~100, each naming its
manifests), so the bound is on what they name, not on how many lists there are. One
``ManifestFile`` per manifest path is shared by all lists naming it, so a reference costs
a pointer, and each distinct manifest (~1 KB) is held once."""


class ManifestCache:
    """Decoded manifest entries by manifest path, least recently used dropped first.

    A manifest file never changes once written, so an entry list read once stays true;
    manifest lists are cached the same way. Bounded by the number of entries held and
    by the manifests the lists held name.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_CACHED_ENTRIES) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int | None], list[ManifestEntry]] = OrderedDict()
        self._lists: OrderedDict[str, tuple[ManifestFile, ...]] = OrderedDict()
        self._named: weakref.WeakValueDictionary[str, ManifestFile] = weakref.WeakValueDictionary()
        self._held = 0
        self._refs_held = 0
        self._lock = threading.Lock()

    @property
    def entries_held(self) -> int:
        return self._held

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._lists.clear()
            self._held = 0
            self._refs_held = 0

    def manifests(self, io: FileIO, snapshot: Snapshot) -> tuple[ManifestFile, ...]:
        path = snapshot.manifest_list
        with self._lock:
            if path in self._lists:
                self._lists.move_to_end(path)
                return self._lists[path]
        read = list(read_manifest_list(io.new_input(path)))
        with self._lock:
            manifests = tuple(self._named.setdefault(m.manifest_path, m) for m in read)
            if path not in self._lists and len(manifests) <= MAX_CACHED_MANIFEST_REFS:
                self._lists[path] = manifests
                self._refs_held += len(manifests)
            while self._refs_held > MAX_CACHED_MANIFEST_REFS:
                _, dropped = self._lists.popitem(last=False)
                self._refs_held -= len(dropped)
        return manifests

    def entries(self, io: FileIO, manifests: list[ManifestFile]) -> list[list[ManifestEntry]]:
        """The live entries of each manifest; those not cached are read in parallel."""
        found: dict[tuple[str, int | None], list[ManifestEntry]] = {}
        with self._lock:
            for manifest in manifests:
                key = _key(manifest)
                if key in self._entries:
                    self._entries.move_to_end(key)
                    found[key] = self._entries[key]
        missing = [m for m in manifests if _key(m) not in found]
        if len(missing) > 1:
            read = list(ExecutorFactory.get_or_create().map(lambda m: _read(io, m), missing))
        else:
            read = [_read(io, m) for m in missing]
        with self._lock:
            for manifest, entries in zip(missing, read, strict=True):
                found[_key(manifest)] = entries
                self._remember(_key(manifest), entries)
        return [found[_key(m)] for m in manifests]

    def _remember(self, key: tuple[str, int | None], entries: list[ManifestEntry]) -> None:
        if len(entries) > self._max_entries or key in self._entries:
            return
        self._entries[key] = entries
        self._held += len(entries)
        while self._held > self._max_entries:
            _, dropped = self._entries.popitem(last=False)
            self._held -= len(dropped)


def _key(manifest: ManifestFile) -> tuple[str, int | None]:
    # The sequence number is inherited by entries on read; it never differs for one path,
    # but keying by it keeps a mistaken reuse from handing out wrong sequence numbers.
    return manifest.manifest_path, manifest.sequence_number


def _read(io: FileIO, manifest: ManifestFile) -> list[ManifestEntry]:
    return manifest.fetch_manifest_entry(io, discard_deleted=True)
