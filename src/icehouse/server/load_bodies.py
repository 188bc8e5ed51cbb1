"""loadTable's answers, serialised once per version of a table.

A metadata file never changes once written, so the answer to a load (the metadata as
rendered for the snapshots mode asked for, plus the ``config`` the route adds) and its
ETag are the same bytes for as long as the table's pointer stays put. Engines load a
table before every read and after every commit: keeping those bytes saves encoding
the whole metadata document (which grows with every snapshot kept) on every load.

An answer is reused only for the very metadata document it was made from (the lake
hands out one shared document per version and rendering), the same ``config`` and the
same read restrictions (a trusted engine's filter depends on who asks): another
principal's answer is never served.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from icehouse.lake.iceberg import TableState

KEPT = 512
"""Answers kept (least recently used dropped first), as many as the lake keeps
rendered metadata documents."""


@dataclass(frozen=True)
class LoadBody:
    """A load's answer: its JSON bytes, and the ETag naming that version of the table."""

    etag: str
    content: bytes


def etag_of(state: TableState, snapshots: str) -> str:
    """A metadata file never changes once written, so its location (and the snapshots
    mode, which changes the body) identifies the answer, with the read restrictions it
    is handed with (a narrower filter must not be answered "unchanged"); any worker
    process derives the same tag."""
    key = f"{state.metadata_location}|{snapshots}|{_restrictions(state)}"
    return f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


def _restrictions(state: TableState) -> str:
    return json.dumps(state.read_restrictions, sort_keys=True) if state.read_restrictions else ""


class LoadBodies:
    """Load answers by (metadata location, snapshots mode, config, read restrictions),
    each with the document it was made from; thread-safe."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._bodies: OrderedDict[tuple[str, str, str, str], tuple[dict[str, Any], LoadBody]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, state: TableState, snapshots: str, config: Mapping[str, str]) -> LoadBody:
        """The answer for ``state`` (a table version that exists: it has a metadata
        location) loaded in ``snapshots`` mode with ``config``."""
        assert state.metadata_location is not None  # loads name a written version
        key = (
            state.metadata_location,
            snapshots,
            json.dumps(config, sort_keys=True),
            _restrictions(state),
        )
        with self._lock:
            kept = self._bodies.get(key)
            if kept is not None and kept[0] is state.metadata:
                self._bodies.move_to_end(key)
                return kept[1]
        body = LoadBody(etag_of(state, snapshots), encoded(load_result(state, config)))
        with self._lock:
            self._bodies[key] = (state.metadata, body)
            while len(self._bodies) > self._kept:
                self._bodies.popitem(last=False)
        return body


def load_result(state: TableState, config: Mapping[str, str]) -> dict[str, Any]:
    """The spec's ``LoadTableResult``: the metadata, its location (none for a staged
    creation), the client's ``config`` and the read restrictions a trusted engine must
    apply."""
    result: dict[str, Any] = {"metadata": state.metadata, "config": dict(config)}
    if state.metadata_location is not None:
        result["metadata-location"] = state.metadata_location
    if state.read_restrictions:
        result["read-restrictions"] = state.read_restrictions
    return result


def encoded(document: Mapping[str, Any]) -> bytes:
    """JSON as Starlette's ``JSONResponse`` writes it (compact, UTF-8)."""
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
