"""Concurrent asks for the same thing, answered by one request sent after all of them.

Engines load a table before every read, so ten clients reading one mounted table send
the central server ten loads at once, and each used to revalidate it at the producer:
ten round trips (each costing both servers more CPU than the rest of the load) whose
answers were all the same. Here the loads that arrive while one revalidation is on its
way board the next one, which leaves once that one is back, and all share its answer.

Sharing never serves anything older than asking alone would: a load boards only a
request that has not left yet, so the producer answers it after the load began, and
sees every commit that had landed by then. The one request on its way when a load
arrives may have left before a commit the load must see, which is why a load never
joins it. A request that fails is not shared: each of its passengers asks for itself,
and gets its own answer or its own error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Request(Generic[T]):
    """One request to the producer, and the loads waiting for its answer."""

    def __init__(self) -> None:
        self.back = threading.Event()
        self.answers: list[T] = []
        """Its answer once it is back (empty: it failed)."""


class Coalesced(Generic[T]):
    """Asks by key (a table's identifier), at most one on its way and one boarding per
    key; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._away: dict[Hashable, _Request[T]] = {}
        """The request on its way, by key."""
        self._boarding: dict[Hashable, _Request[T]] = {}
        """The request that leaves when the one away is back, by key."""

    def ask(self, key: Hashable, send: Callable[[], T]) -> T:
        """``send()``'s answer, or that of a request for ``key`` that left after this
        call began; ``send`` runs in the calling thread when it leads a request.

        Raises: whatever ``send`` raises (only to a call that ran it)."""
        with self._lock:
            away = self._away.get(key)
            leads = away is None or key not in self._boarding
            if away is None:
                request = self._away[key] = _Request[T]()
            else:
                request = self._boarding.setdefault(key, _Request[T]())
        if away is None:
            return self._lead(key, request, send)
        if leads:
            away.back.wait()  # once back, it made ``request`` the one away
            return self._lead(key, request, send)
        request.back.wait()
        return request.answers[0] if request.answers else send()

    def _lead(self, key: Hashable, request: _Request[T], send: Callable[[], T]) -> T:
        """Send ``request`` (already away), share its answer, and let the one boarding
        leave."""
        try:
            answer = send()
            request.answers.append(answer)
            return answer
        finally:
            with self._lock:
                boarding = self._boarding.pop(key, None)
                if boarding is None:
                    del self._away[key]
                else:
                    self._away[key] = boarding
            request.back.set()
