"""The fault-injection seam that proves exactly-once ingestion.

The ingester calls its ``Faults`` at every step boundary of a batch:

==================  ==============================================================
``batch.claimed``    files claimed in the state database, nothing written yet
``batch.written``    Parquet files written and recorded, catalog commit not done
``batch.committed``  Iceberg snapshot committed, ledger not yet updated
``batch.recorded``   ledger updated, ``on_success`` (delete/archive) not yet done
``maintain.committed`` a maintenance run recorded a commit (or the files it is about
                     to delete) on its history row, and has not gone on
==================  ==============================================================

Tests pass a callable that raises ``SimulatedCrash``; a real process is crashed by
setting ``ICEHOUSE_FAULT=<point>[@N]``: it exits at once with status 86 (no cleanup,
like ``kill -9``) the N-th time (default first) it reaches that point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

FAULT_POINTS = ("batch.claimed", "batch.written", "batch.committed", "batch.recorded")
"""The ingester's points, each proven exactly-once by ``tests/test_exactly_once.py``."""
MAINTENANCE_FAULT_POINTS = ("maintain.committed",)
"""Maintenance's points (``maintain/service.py``), proven by ``tests/test_maintain_runs.py``."""
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
        known = (*FAULT_POINTS, *MAINTENANCE_FAULT_POINTS)
        if point not in known:
            raise ValueError(f"unknown fault point {point!r}; known: {', '.join(known)}")
        self._point, self._hit, self._seen = point, hit, 0

    def __call__(self, point: str) -> None:
        if point == self._point:
            self._seen += 1
            if self._seen >= self._hit:
                os._exit(FAULT_EXIT_CODE)


def faults_from_env(environ: Mapping[str, str] = os.environ) -> Faults:
    spec = environ.get("ICEHOUSE_FAULT", "").strip()
    if not spec:
        return no_faults
    point, _, hit = spec.partition("@")
    return CrashAt(point, int(hit) if hit else 1)
