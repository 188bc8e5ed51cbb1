"""The one retry loop for optimistic commits, and PyIceberg's conflict translated at the
``tables`` boundary."""

from __future__ import annotations

import pytest
from pyiceberg.exceptions import CommitFailedException

from icehouse.errors import CommitConflict, CommitRaced, RewriteConflict
from icehouse.tables.retry import MAX_DELAY_SECONDS, backoff, commit_races, retry_commit


def _raced() -> CommitRaced:
    return CommitRaced("moved", table="a.t")


def test_a_commit_that_loses_the_race_twice_lands_on_the_third_attempt() -> None:
    waits: list[float] = []

    def attempt(number: int) -> int:
        if number < 3:
            raise _raced()
        return number

    gave_up = lambda: CommitConflict("never", table="a.t")  # noqa: E731
    assert retry_commit(attempt, attempts=5, gave_up=gave_up, sleep=waits.append) == 3
    assert len(waits) == 2 and all(0 <= w <= MAX_DELAY_SECONDS for w in waits)


def test_after_the_last_attempt_the_callers_error_is_raised_without_a_last_wait() -> None:
    waits: list[float] = []

    def attempt(number: int) -> None:
        raise _raced()

    with pytest.raises(CommitConflict, match="gave up"):
        retry_commit(
            attempt,
            attempts=4,
            gave_up=lambda: CommitConflict("gave up", table="a.t"),
            sleep=waits.append,
        )
    assert len(waits) == 3


def test_only_the_errors_named_are_retried() -> None:
    calls: list[int] = []

    def attempt(number: int) -> None:
        calls.append(number)
        raise RewriteConflict("input gone", table="a.t", files=[])

    with pytest.raises(RewriteConflict):
        retry_commit(attempt, attempts=4, gave_up=lambda: CommitConflict("x", table="a.t"))
    assert calls == [1]


def test_backoff_grows_and_is_capped() -> None:
    assert all(backoff(1) <= 0.04 for _ in range(100))
    assert all(backoff(30) <= MAX_DELAY_SECONDS for _ in range(100))


def test_pyicebergs_conflict_becomes_commit_raced_naming_the_table() -> None:
    with pytest.raises(CommitRaced, match=r"a\.t changed") as raised, commit_races("a.t"):
        raise CommitFailedException("Requirement failed: branch main has changed")
    assert raised.value.table == "a.t"
    assert isinstance(raised.value.__cause__, CommitFailedException)
