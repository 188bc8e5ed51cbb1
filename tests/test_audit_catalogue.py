"""The audit trail of the leak catalogue: every request its principals make through a
real ``icehouse serve`` (the query API, JSON) has its query and every decision it implies
in ``icehouse_system.audit``, exactly once, although the server is SIGKILLed before it
exports anything (``icehouse maintain run`` exports afterwards).

What each request implies is written down on the client's side, from the situation
alone: the query (statement, rows returned or the refusal); the decision on the table it
reads (``table.select``: allowed with the data filters, column grants or tags it went
through, or denied); a statement refused before anything is read (``query.statement``);
a DELETE refused (``table.delete_rows``). Every denial is expected, and no other denial
is there; allowances beyond these (the ``query.run`` a request is allowed) are not
counted, so that recording fewer of them stays possible. A denial says what was denied
and never what it holds: no cell value is in any record's reason.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from icehouse.client.wire import QUERY_PATH
from icehouse.lake import Lake
from tests.conftest import new_postgres_database
from tests.governed_fixtures import markers
from tests.leak_situations import ESCAPES, Situation, build, fill
from tests.test_audit_kill import kill, serve, token
from tests.test_cli import as_json, ok

Decision = tuple[str, str, bool, tuple[str, ...]]
"""(action, resource, allowed, filters sorted)."""

AUDITED = (
    "the allowed part",
    "the table",
    "a hidden column by name",
    "the other name",
    "read_parquet of a data file",
    "COPY TO",
    "ATTACH the state database",
    "two statements",
    "information_schema.columns",
    "time travel to the first snapshot",
    "DELETE",
)
"""Each kind of answer: rows through a filter, a refusal, a denial of another table,
DuckDB's refusal of a file, a statement no one may run, statements a principal may not
run, a listing, time travel, a DELETE; per situation, one request each."""


@dataclass(frozen=True)
class Sent:
    """One request as the client made it and what it implies in the trail."""

    principal: str
    statement: str
    rows: int | None
    """Rows answered; None: refused."""
    error: str
    """The error the client was shown (empty when answered)."""
    decisions: frozenset[Decision]


def implied(case: Situation, escape: str, exists: set[str]) -> set[Decision]:
    """The decisions the trail must hold for ``escape`` in ``case``."""
    read = ("table.select", f"table {case.link_of or case.table}")  # a link's target
    reading = {(*read, case.allowed is not None, case.filters if case.allowed else ())}
    reading |= {("table.select", f"table {t}", True, f) for t, f in case.view_reads.items()}
    is_view = case.table not in exists
    if escape in ("the allowed part", "the table", "a hidden column by name"):
        return reading
    if escape == "time travel to the first snapshot":
        # a view has no snapshots, nor has a link: neither is a table
        return set() if is_view or case.link_of else reading
    if escape == "the other name":
        other = case.others[0] if case.others else ""
        return {("table.select", f"table {other}", False, ())} if other in exists else set()
    if escape == "ATTACH the state database":
        return {("query.statement", "statement ATTACH", False, ())}
    if escape == "two statements":
        return {("query.statement", "statements 2", False, ())}
    if escape == "DELETE":
        return {("table.delete_rows", f"table {case.table}", False, ())}
    assert escape in ("read_parquet of a data file", "COPY TO", "information_schema.columns")
    return set()  # DuckDB refuses the file; COPY is no one's to run; a listing reads no table


def post(url: str, bearer: str, statement: str) -> tuple[int | None, str]:
    answer = requests.post(
        url + QUERY_PATH,
        json={"sql": statement, "format": "json"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=60,
    )
    if answer.status_code == 200:
        return len(answer.json()["rows"]), ""
    assert answer.status_code in (400, 403), answer.text
    message: str = answer.json()["error"]["message"]
    return None, message


Trail = tuple[list[Sent], list[dict[str, Any]]]
"""The requests sent, and the audit table's records made after the catalogue's setup."""


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def trail(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trail:
    """The catalogue's requests sent to a server killed before any export, and the
    audit table's records above those of the catalogue's setup, read by ``icehouse sql``
    after ``icehouse maintain run``; on a SQLite, then a PostgreSQL state database."""
    root = tmp_path_factory.mktemp(f"audited-{request.param}")
    home = root / "lake"
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            env = stack.enter_context(pytest.MonkeyPatch.context())
            env.setenv("ICEHOUSE_STATE_URL", stack.enter_context(new_postgres_database()))
        Lake.init(home)
        with Lake.open(home) as lake:
            requests_of, setup = _requests(lake, root)
        server, url = serve(home, root / "serve.log", "--audit-export-every", "1h")
        try:
            sent = _send(url, requests_of)
        finally:
            kill(server)
        ok("maintain", "run", "--home", str(home))
        columns = "id, request_id, kind, principal, action, resource, allowed, reason, filters"
        query = f"SELECT {columns}, statement, rows FROM icehouse_system.audit WHERE id > {setup}"
        return sent, as_json("sql", f"{query} ORDER BY id", "--home", str(home))


def _requests(lake: Lake, root: Path) -> tuple[list[tuple[Situation, str, str]], int]:
    """Every situation set up in ``lake``, and the requests to send: (situation, escape,
    statement); with the highest audit record id of the setup, exported."""
    scratch = root / "scratch"
    scratch.mkdir()
    situations = build(lake)
    made = [
        (
            case,
            escape,
            case.allowed_sql.format(t=case.table)
            if escape == "the allowed part"
            else fill(ESCAPES[escape][0], case, lake, scratch),
        )
        for case in situations.values()
        for escape in AUDITED
    ]
    return made, lake.audit.export().through


def _send(url: str, requests_of: list[tuple[Situation, str, str]]) -> list[Sent]:
    """Each request, as its situation's principal (one token each), with what it
    implies."""
    exists = {case.table for case, _, _ in requests_of if not case.view_reads}  # no views
    exists |= {name for case, _, _ in requests_of for name in case.view_reads}
    exists |= {case.link_of for case, _, _ in requests_of if case.link_of}
    sent, tokens = [], {}
    for case, escape, statement in requests_of:
        if case.principal not in tokens:
            credentials = case.credentials
            tokens[case.principal] = token(url, credentials.client_id, credentials.client_secret)
        rows, error = post(url, tokens[case.principal], statement)
        implies = implied(case, escape, exists)
        sent.append(Sent(case.principal, statement, rows, error, frozenset(implies)))
    return sent


def test_every_request_of_the_catalogue_has_its_query_recorded_once(
    trail: Trail,
) -> None:
    sent, records = trail
    queries = Counter((r["principal"], r["statement"]) for r in records if r["kind"] == "query")

    assert queries == Counter((s.principal, s.statement) for s in sent)
    for request in sent:
        query = next(
            r
            for r in records
            if (r["kind"], r["principal"], r["statement"])
            == ("query", request.principal, request.statement)
        )
        where = f"[{request.principal}: {request.statement}]"
        assert query["rows"] == request.rows, where
        if request.rows is None:
            assert query["reason"] and query["reason"].split("\n")[0] in request.error, where


def test_every_decision_a_request_implies_is_recorded_once_and_no_other_denial(
    trail: Trail,
) -> None:
    sent, records = trail
    by_request: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_request.setdefault(record["request_id"], []).append(record)

    for request in sent:
        where = f"[{request.principal}: {request.statement}]"
        (request_id,) = {
            r["request_id"]
            for r in records
            if (r["kind"], r["principal"], r["statement"])
            == ("query", request.principal, request.statement)
        }
        decisions = Counter(
            (r["action"], r["resource"], r["allowed"], tuple(sorted(r["filters"] or ())))
            for r in by_request[request_id]
            if r["kind"] == "decision"
        )
        assert all(r["principal"] == request.principal for r in by_request[request_id]), where
        for decision in request.decisions:
            assert decisions[decision] == 1, f"{where} {decision} in {dict(decisions)}"
        denials = {d for d in decisions if not d[2]}
        assert denials == {d for d in request.decisions if not d[2]}, where


def test_a_denial_names_what_was_denied_and_none_of_what_it_holds(
    trail: Trail,
) -> None:
    sent, records = trail
    denials = [r for r in records if r["kind"] == "decision" and not r["allowed"]]

    assert len(denials) == sum(not d[2] for s in sent for d in s.decisions)
    for denial in denials:
        named = denial["resource"].split(" ", 1)[1]
        assert named.split()[0] in denial["reason"], denial
        assert not markers(denial["reason"]), denial
    for allowed in (r for r in records if r["kind"] == "decision" and r["allowed"]):
        reason = allowed["reason"]
        assert reason == "granted" or reason.startswith("granted to the definer of view "), allowed
    for query in (r for r in records if r["kind"] == "query"):
        assert not markers(query["reason"] or "") - markers(query["statement"]), query
