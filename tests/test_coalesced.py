"""Concurrent asks for one table share a request to the producer, but only one that left
after each of them began, so that none is answered older than asking alone would be."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from icehouse.tables.coalesced import Coalesced

BLOCKED = 0.2
"""Seconds to let a started ask reach its wait (a shorter wait only weakens a test)."""


class Producer:
    """A table's version, and requests that answer the version they find when sent, and
    come back only once released."""

    def __init__(self) -> None:
        self.version = 1
        self.sent = 0
        self.failures = 0
        """How many of the next requests fail."""
        self.away = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def send(self) -> int:
        with self._lock:
            self.sent += 1
            found, fails = self.version, self.failures > 0
            self.failures -= fails
        self.away.set()
        self.release.wait()
        if fails:
            raise ConnectionError("the producer went away")
        return found


class Asker(threading.Thread):
    """One ask in a thread of its own: its answer, or what it raised."""

    def __init__(self, coalesced: Coalesced[int], producer: Producer) -> None:
        super().__init__()
        self.answer: int | BaseException | None = None
        self._ask: Callable[[], int] = lambda: coalesced.ask("cdn.requests", producer.send)

    def run(self) -> None:
        try:
            self.answer = self._ask()
        except ConnectionError as exc:
            self.answer = exc


def started(coalesced: Coalesced[int], producer: Producer, count: int) -> list[Asker]:
    """``count`` asks, started and left to reach their wait."""
    askers = [Asker(coalesced, producer) for _ in range(count)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(BLOCKED)
    return askers


def request_away(coalesced: Coalesced[int], producer: Producer) -> Asker:
    """An ask whose request has left and is not back."""
    first = Asker(coalesced, producer)
    first.start()
    producer.away.wait()
    return first


def finished(*askers: Asker) -> list[int | BaseException | None]:
    for asker in askers:
        asker.join()
    return [asker.answer for asker in askers]


def test_an_ask_begun_after_a_commit_never_gets_the_answer_of_a_request_sent_before() -> None:
    coalesced: Coalesced[int] = Coalesced()
    producer = Producer()
    first = request_away(coalesced, producer)

    producer.version = 2  # a commit lands while the first request is away
    (second,) = started(coalesced, producer, 1)
    producer.release.set()

    assert finished(first, second) == [1, 2]
    assert producer.sent == 2


def test_asks_begun_while_a_request_is_away_share_the_next_one() -> None:
    coalesced: Coalesced[int] = Coalesced()
    producer = Producer()
    first = request_away(coalesced, producer)

    producer.version = 2
    waiting = started(coalesced, producer, 3)
    producer.release.set()

    assert finished(first, *waiting) == [1, 2, 2, 2]
    assert producer.sent == 2


def test_a_failed_request_is_not_shared_each_of_its_asks_sends_its_own() -> None:
    coalesced: Coalesced[int] = Coalesced()
    producer = Producer()
    first = request_away(coalesced, producer)

    producer.failures = 1  # the next request, the one the two waiting asks board
    waiting = started(coalesced, producer, 2)
    producer.release.set()

    answers = finished(first, *waiting)
    assert answers[0] == 1
    assert sorted(map(str, answers[1:])) == ["1", "the producer went away"]
    assert producer.sent == 3


def test_an_ask_with_nothing_away_sends_at_once_and_a_lone_failure_is_its_own() -> None:
    coalesced: Coalesced[int] = Coalesced()
    producer = Producer()
    producer.release.set()
    producer.failures = 1

    with pytest.raises(ConnectionError):
        coalesced.ask("cdn.requests", producer.send)
    assert coalesced.ask("cdn.requests", producer.send) == 1
    assert producer.sent == 2
