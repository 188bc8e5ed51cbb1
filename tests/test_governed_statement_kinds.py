"""Which texts a governed principal may run, decided from DuckDB's parse of the text,
which is kept per text: the same text gets the same answer however often it comes, and
a text that does not parse is refused with DuckDB's words each time."""

from __future__ import annotations

import pytest

from icehouse.errors import QueryError
from icehouse.query.governed import check_read_only

REFUSED = {
    "ATTACH 'state.db' AS state": "ATTACH is not permitted",
    "SELECT 1; SELECT 2": "one statement at a time: this text holds 2",
    "SET allowed_paths = ['/']": "SET is not permitted",
    "SELEC 1": "syntax error",
}


@pytest.mark.parametrize(("sql", "words"), REFUSED.items())
def test_a_refused_text_is_refused_every_time(sql: str, words: str) -> None:
    refusals: list[tuple[str, str, str, str]] = []
    for _ in range(3):
        with pytest.raises(QueryError, match=words):
            check_read_only(sql, lambda *refusal: refusals.append(refusal))
    assert len(refusals) == (0 if words == "syntax error" else 3)  # each time told


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "DESCRIBE web.requests",
        "SELECT * FROM web.requests FOR VERSION AS OF 12345",
        "SELECT * FROM web.requests FOR TIMESTAMP AS OF '2026-01-01 00:00:00'",
    ],
)
def test_a_read_is_accepted_every_time(sql: str) -> None:
    for _ in range(3):
        check_read_only(sql)
