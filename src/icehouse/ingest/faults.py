"""The fault-injection seam that proves exactly-once ingestion.

The ingester calls its ``Faults`` at every step boundary of a batch:

====================  ============================================================
``batch.claimed``      files claimed in the state database, nothing written yet
``batch.written``      Parquet files and their manifests written, the batch recorded
                       written; not committed
``commit.leased``      this process just took over a table's committer lease
``commit.gathered``    the committer read the table's written batches, committed none
``batch.committed``    the committer's Iceberg snapshot holding batches committed,
                       ledger not yet updated
``batch.recorded``     ledger updated, ``on_success`` (delete/archive) not yet done
``maintain.committed`` a maintenance run recorded a commit (or the files it is about
                       to delete) on its history row, and has not gone on
``audit.exported``     audit records committed to ``icehouse_system.audit``, not yet
                       deleted from the state database
====================  ============================================================

Tests pass a callable that raises ``SimulatedCrash``; a real process is crashed by
setting ``ICEHOUSE_FAULT=<point>[@N]``: it exits at once with status 86 (no cleanup,
like ``kill -9``) the N-th time (default first) it reaches that point.

A real process is *held* at a point with ``ICEHOUSE_PAUSE=<point>:<folder>``: when it
reaches the point while ``<folder>/armed`` exists, it renames that file to
``<folder>/paused`` and waits until ``paused`` is deleted. A test arms the pause, waits
for ``paused``, does what it wants done at that instant (stop a server, land a copy)
and deletes ``paused`` to let the process go on: no timing, no luck.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

FAULT_POINTS = (
    "batch.claimed",
    "batch.written",
    "commit.leased",
    "commit.gathered",
    "batch.committed",
    "batch.recorded",
)
"""The ingester's points, each proven exactly-once by ``tests/test_exactly_once.py``."""
MAINTENANCE_FAULT_POINTS = ("maintain.committed",)
"""Maintenance's points (``maintain/service.py``), proven by ``tests/test_maintain_runs.py``."""
AUDIT_FAULT_POINTS = ("audit.exported",)
"""The audit export's point (``maintain/audit_export.py``), proven by ``tests/test_audit.py``."""
FAULT_EXIT_CODE = 86


class Faults(Protocol):
    def __call__(self, point: str) -> None: ...


class SimulatedCrash(BaseException):
    """Raised by test fault hooks; a BaseException so that no ``except Exception``
    in the code under test can swallow it, just as nothing survives a real crash."""


def no_faults(point: str) -> None:
    """The production hook: does nothing."""


class CrashAt:
    """Exit the process hard the ``hit``-th time ``point`` is reached."""

    def __init__(self, point: str, hit: int = 1) -> None:
        known = (*FAULT_POINTS, *MAINTENANCE_FAULT_POINTS, *AUDIT_FAULT_POINTS)
        if point not in known:
            raise ValueError(f"unknown fault point {point!r}; known: {', '.join(known)}")
        self._point, self._hit, self._seen = point, hit, 0

    def __call__(self, point: str) -> None:
        if point == self._point:
            self._seen += 1
            if self._seen >= self._hit:
                os._exit(FAULT_EXIT_CODE)


class PauseAt:
    """Wait at ``point`` while a test holds the process there (see the module)."""

    def __init__(self, point: str, folder: Path, *, then: Faults = no_faults) -> None:
        if point not in FAULT_POINTS:
            raise ValueError(f"unknown pause point {point!r}; known: {', '.join(FAULT_POINTS)}")
        self._point, self._folder, self._then = point, folder, then

    def __call__(self, point: str) -> None:
        if point == self._point:
            paused = self._folder / "paused"
            try:
                (self._folder / "armed").rename(paused)
            except FileNotFoundError:
                pass  # not armed: go on
            else:
                while paused.exists():
                    time.sleep(0.05)
        self._then(point)


def faults_from_env(environ: Mapping[str, str] = os.environ) -> Faults:
    hook: Faults = no_faults
    spec = environ.get("ICEHOUSE_FAULT", "").strip()
    if spec:
        point, _, hit = spec.partition("@")
        hook = CrashAt(point, int(hit) if hit else 1)
    pause = environ.get("ICEHOUSE_PAUSE", "").strip()
    if pause:
        point, _, folder = pause.partition(":")
        hook = PauseAt(point, Path(folder), then=hook)
    return hook
