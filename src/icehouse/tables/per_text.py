"""What is worked out of a statement's text, kept per text.

A governed statement's text is parsed for the kind of each statement it holds
(``query/governed.py``), and walked for the columns it reads
(``filters.referenced_columns``) and for the relations it reads (``sql_reads``). Each
walk reads DuckDB's parse back from JSON and visits every node: 0.05-0.3 ms each of a
25 ms query, paid again on every run of the same text. What a walk finds depends on the
text alone (DuckDB's parser is the same for every connection), so it is kept by text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

TEXTS_KEPT = 256
"""Texts kept per walk: statements repeat in bursts (a dashboard, a benchmark), and a
refill after a clear costs one walk per text."""


class PerText(Generic[T]):
    """``compute``'s answer for each statement text, worked out once per text."""

    def __init__(self, kept: int = TEXTS_KEPT) -> None:
        self._kept = kept
        self._answers: dict[str, T] = {}
        self._lock = threading.Lock()

    def get(self, sql: str, compute: Callable[[], T]) -> T:
        """The answer for ``sql``, from ``compute`` the first time (answers must not be
        changed by the caller: they are shared)."""
        with self._lock:
            if sql in self._answers:
                return self._answers[sql]
        answer = compute()
        with self._lock:
            if len(self._answers) >= self._kept:
                self._answers.clear()
            self._answers[sql] = answer
        return answer
