"""Optimistic commits: PyIceberg's conflict translated once, and one retry loop.

An Iceberg commit is a compare-and-swap on the table's metadata pointer: when another
commit moved it first, the catalog refuses (PyIceberg's ``CommitFailedException``) and
nothing of the attempt landed. ``commit_races`` turns that into ``CommitRaced`` at every
place in ``tables/`` that commits, so no caller depends on PyIceberg's exceptions; and
``retry_commit`` is the one loop that reloads and tries again, with one backoff (capped
exponential with full jitter, so that writers that collided do not collide again in
lockstep).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from icehouse.errors import CommitConflict, CommitRaced

T = TypeVar("T")

BASE_DELAY_SECONDS = 0.02
MAX_DELAY_SECONDS = 2.0


@contextmanager
def commit_races(table: Table | str) -> Iterator[None]:
    """Raise ``CommitRaced`` (from PyIceberg's ``CommitFailedException``) for a commit
    inside the block that lost the race for ``table``'s metadata."""
    try:
        yield
    except CommitFailedException as exc:
        name = table if isinstance(table, str) else ".".join(table.name())
        raise CommitRaced(
            f"{name} changed while this commit was prepared ({exc}); reload it and retry",
            table=name,
        ) from exc


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    return min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2.0**attempt) * random.random()


def retry_commit(
    attempt: Callable[[int], T],
    *,
    attempts: int,
    gave_up: Callable[[], CommitConflict],
    retry_on: tuple[type[Exception], ...] = (CommitRaced,),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``attempt(1)``, ``attempt(2)``... until one returns, waiting ``backoff``
    between them. Each attempt must load the table afresh and decide again: what it
    built on the old table may be wrong on the new one (watermarks, live files).

    Raises:
        CommitConflict: ``gave_up()``, after ``attempts`` attempts all raised one of
            ``retry_on``; any other exception of an attempt is raised at once.
    """
    for number in range(1, attempts + 1):
        try:
            return attempt(number)
        except retry_on:
            if number < attempts:
                sleep(backoff(number))
    raise gave_up()


__all__ = ["backoff", "commit_races", "retry_commit"]
