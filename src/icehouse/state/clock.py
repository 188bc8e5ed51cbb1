"""The one clock of everything that stores a time in the state database.

Leases (batches, writer slots, maintenance), record times (ledger, quarantine,
maintenance runs) and retention cut-offs are wall-clock seconds since the epoch, because
they are compared across processes and hosts. Whoever writes or compares such a time
takes a ``Clock`` (``SYSTEM_CLOCK`` unless told), so that a test moves time forward
instead of sleeping.

Intervals measured inside one process (a heartbeat's "every quarter lease", how long a
file waits in this process before it is tried again) stay on ``time.monotonic``: they
are never stored nor compared with another process's times, and must not jump when the
system clock is set.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Returns the current time, in UNIX seconds."""

    def __call__(self) -> float: ...


SYSTEM_CLOCK: Clock = time.time
"""The host's wall clock."""


class ShiftedClock:
    """The system clock moved forward by ``advance``: time goes on as usual, and a test
    jumps past a lease or a retention at once (a frozen clock would also stop the waits
    of ``ingest --once``)."""

    def __init__(self, base: Clock = SYSTEM_CLOCK) -> None:
        self._base = base
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def __call__(self) -> float:
        return self._base() + self.offset


__all__ = ["SYSTEM_CLOCK", "Clock", "ShiftedClock"]
