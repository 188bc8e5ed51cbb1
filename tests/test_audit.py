"""The audit trail: every decision (allowed or denied, with principal, action and
resource) and every query (statement, tables, rows, duration) is recorded in the state
database within the call or request that made it, and exported exactly once into
``icehouse_system.audit``, which SQL reads like any table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from icehouse.errors import Forbidden, MaintenanceBusy, QueryError
from icehouse.govern.authz import Principal
from icehouse.ingest.faults import SimulatedCrash
from icehouse.lake import Lake
from icehouse.state.audit import AuditRow, rows_after, write_rows
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.test_cli import as_json, ok, run
from tests.test_server_auth import token_of
from tests.test_server_metrics import COMMIT_REPORT

home = fixtures_lake.home
lake = fixtures_lake.lake

BOB = Principal(name="bob", admin=False)
COLUMNS = "id, kind, principal, action, resource, allowed, reason, statement, tables, rows"


def pending(lake: Lake) -> list[AuditRow]:
    """The records the state database holds, not yet exported."""
    return rows_after(lake._engine, 0, limit=10_000)


def exported(lake: Lake) -> list[dict[str, Any]]:
    """``icehouse_system.audit`` as SQL reads it, by id."""
    rows = lake.sql(f"SELECT {COLUMNS} FROM icehouse_system.audit ORDER BY id").to_pylist()
    return rows


def as_exported(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "principal": row.principal,
        "action": row.action,
        "resource": row.resource,
        "allowed": row.allowed,
        "reason": row.reason,
        "statement": row.statement,
        "tables": list(row.tables),
        "rows": row.rows,
    }


def test_an_allowed_and_a_denied_decision_are_recorded_with_principal_and_resource(
    lake: Lake,
) -> None:
    lake.tables.create("logs.hits", schema={"id": "long"})
    with pytest.raises(Forbidden):
        lake.as_principal(BOB).tables.get("logs.hits")

    decisions = [
        (r.principal, r.action, r.resource, r.allowed)
        for r in pending(lake)
        if r.kind == "decision"
    ]
    assert decisions == [
        ("owner", "table.create", "table logs.hits", True),
        ("bob", "table.describe", "table logs.hits", False),
    ]
    denied = pending(lake)[-1]
    assert "principal 'bob' may not table.describe on table logs.hits" in (denied.reason or "")
    assert pending(lake)[0].reason == "administrator"


def test_a_call_records_its_own_decision_not_those_of_the_methods_it_calls(lake: Lake) -> None:
    lake.tables.create("logs.hits", schema={"id": "long"})
    lake.tables.drop("logs.hits")  # looks the table and the sources up on the way

    assert [r.action for r in pending(lake)] == ["table.create", "table.drop"]


def test_a_query_is_recorded_with_its_statement_tables_rows_and_duration(lake: Lake) -> None:
    lake.tables.create("logs.hits", schema={"id": "long"})
    statement = "SELECT 1 AS one FROM logs.hits UNION ALL SELECT 2"
    lake.sql(statement)

    query = pending(lake)[-1]
    assert (query.kind, query.principal, query.statement) == ("query", "owner", statement)
    assert query.tables == ("logs.hits",)
    assert query.rows == 1
    assert query.seconds is not None and query.seconds >= 0
    assert pending(lake)[-2].request_id == query.request_id  # its decision, same call


def test_a_failed_query_is_recorded_with_its_error(lake: Lake) -> None:
    with pytest.raises(QueryError):
        lake.sql("SELECT nope FROM nowhere.at_all")

    query = pending(lake)[-1]
    assert query.kind == "query" and query.rows is None
    assert "nowhere.at_all" in (query.reason or "")


def test_exported_rows_equal_the_recorded_ones_and_leave_the_state_database(lake: Lake) -> None:
    lake.tables.create("logs.hits", schema={"id": "long"})
    with pytest.raises(Forbidden):
        lake.as_principal(BOB).tables.get("logs.hits")  # bob holds no grant on it
    lake.sql("SELECT * FROM logs.hits")
    recorded = pending(lake)

    result = lake.audit.export()

    assert (result.records, result.snapshots, result.through) == (4, 1, recorded[-1].id)
    assert pending(lake) == []
    assert exported(lake) == [as_exported(r) for r in recorded]


def test_the_audit_table_is_partitioned_by_day_and_grows_by_what_is_new(lake: Lake) -> None:
    lake.tables.create("logs.hits", schema={"id": "long"})
    lake.audit.export()
    lake.tables.get("logs.hits")
    second = lake.audit.export()

    assert second.records == 1  # the describe (the export records nothing of itself)
    assert lake.audit.export().records == 0
    info = lake.tables.get("icehouse_system.audit")
    assert info.partition_specs == [{"spec_id": 0, "fields": ["day(at)"]}]
    assert [r["action"] for r in exported(lake)[:2]] == ["table.create", "table.describe"]


def test_a_crash_between_the_commit_and_the_delete_exports_nothing_twice(home: Path) -> None:
    with Lake.open(home, faults=crash_at("audit.exported")) as crashing:
        crashing.tables.create("logs.hits", schema={"id": "long"})
        crashing.tables.list()
        with pytest.raises(SimulatedCrash):
            crashing.audit.export()
        assert len(pending(crashing)) == 2  # committed, not deleted

    with Lake.open(home) as lake:
        lake.tables.get("logs.hits")
        assert lake.audit.export().records == 1  # only the describe is new
        assert pending(lake) == []
        ids = [r["id"] for r in exported(lake)]
        assert ids == sorted(set(ids))
        actions = [r["action"] for r in exported(lake)]
        assert actions[:3] == ["table.create", "table.list", "table.describe"]


def test_records_written_while_an_export_works_wait_for_the_next_export(home: Path) -> None:
    """A busy server writes records during every append: an export that chased them
    would never end, appending a few records per commit."""
    landed: list[AuditRow] = []

    def a_request_lands(point: str) -> None:
        if point == "audit.exported" and not landed:  # once: later appends see none land
            landed.append(
                AuditRow(time.time(), "r1", "decision", "ana", "table.list", "table", True)
            )
            write_rows(lake._engine, landed)

    with Lake.open(home, faults=a_request_lands) as lake:
        lake.tables.create("logs.hits", schema={"id": "long"})

        first = lake.audit.export()

        assert (first.records, first.snapshots) == (1, 1)  # the create, not what came after
        assert [r.principal for r in pending(lake)] == ["ana"]
        second = lake.audit.export()
        assert (second.records, second.snapshots) == (1, 1)
        assert [r["action"] for r in exported(lake)] == ["table.create", "table.list"]


@pytest.fixture
def secured(home: Path) -> Iterator[Served]:
    with Lake.open(home) as opened, serving(opened, allow_anonymous=False) as running:
        yield running


def create_namespace(served: Served, token: str, name: str) -> requests.Response:
    """A request an administrator may make and a principal without grants may not."""
    return requests.post(
        served.url("/v1/icehouse/namespaces"),
        json={"namespace": [name]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_server_request_records_its_decision_before_answering(secured: Served) -> None:
    lake = secured.lake
    ana = lake.principals.create("ana", admin=True)
    bob = lake.principals.create("bob")
    before = len(pending(lake))

    allowed = create_namespace(secured, token_of(secured, ana), "ana_ns")
    denied = create_namespace(secured, token_of(secured, bob), "bob_ns")

    assert (allowed.status_code, denied.status_code) == (200, 403)
    made = [(r.principal, r.action, r.allowed) for r in pending(lake)[before:]]
    assert made[0] == ("ana", "namespace.create", True)
    assert [(principal, allowed) for principal, _, allowed in made[1:]] == [("bob", False)]
    request_ids = {r.request_id for r in pending(lake)[before:]}
    assert len(request_ids) == 2  # one per request


def test_the_records_of_one_request_are_written_together_under_its_request_id(
    lake: Lake,
) -> None:
    lake.tables.create("shop.orders", schema={"id": "long"})
    with serving(lake) as running:
        before = len(pending(lake))
        url = running.url("/v1/icehouse/namespaces/shop/tables/orders/metrics")
        answer = requests.post(url, json=COMMIT_REPORT, timeout=30)  # two lake calls

    assert answer.status_code == 204
    made = pending(lake)[before:]
    assert [(r.action, r.resource) for r in made] == [
        ("namespace.describe", "namespace shop"),
        ("table.report_metrics", "table shop.orders"),
    ]
    assert made[0].request_id == made[1].request_id


def test_concurrent_requests_each_have_their_decision_recorded(lake: Lake) -> None:
    lake.tables.create("shop.orders", schema={"id": "long"})
    url_path = "/v1/icehouse/namespaces/shop/tables/orders"
    with serving(lake) as running:
        before = len(pending(lake))
        start = threading.Barrier(20)
        statuses: list[int] = []

        def load() -> None:
            start.wait()
            statuses.append(requests.get(running.url(url_path), timeout=60).status_code)

        clients = [threading.Thread(target=load) for _ in range(20)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()

    assert statuses == [200] * 20
    made = pending(lake)[before:]
    assert [(r.action, r.resource) for r in made] == [("table.load", "table shop.orders")] * 20
    assert len({r.request_id for r in made}) == 20


def test_the_server_exports_the_trail_on_its_own(home: Path) -> None:
    with Lake.open(home) as opened, serving(opened, audit_export_every=0.05) as running:
        assert requests.get(running.url("/v1/icehouse/namespaces"), timeout=30).ok
        while pending(opened):  # the export thread takes them (or the test times out)
            time.sleep(0.05)
        assert [r["action"] for r in exported(opened)][-1] == "namespace.list"


@pytest.mark.postgres
def test_decisions_and_queries_are_recorded_and_exported_on_postgresql(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        lake.tables.create("logs.hits", schema={"id": "long"})
        with pytest.raises(Forbidden):
            lake.as_principal(BOB).tables.get("logs.hits")
        lake.sql("SELECT count(*) FROM logs.hits")
        recorded = pending(lake)

        assert lake.audit.export().records == 4
        assert pending(lake) == []
        assert exported(lake) == [as_exported(r) for r in recorded]
        lake.tables.get("logs.hits")
        assert lake.audit.export().records == 3  # the query above (decision, query), describe


def test_a_compaction_after_an_export_killed_before_its_delete_doubles_nothing(
    home: Path,
) -> None:
    with Lake.open(home) as lake:
        for name in ("logs.a", "logs.b"):
            lake.tables.create(name, schema={"id": "long"})
            lake.audit.export()  # one small file each
    with Lake.open(home, faults=crash_at("audit.exported")) as crashing:
        crashing.tables.create("logs.c", schema={"id": "long"})
        with pytest.raises(SimulatedCrash):
            crashing.audit.export()  # a third file; its records stay in the state database

    with Lake.open(home) as lake:
        compacted = lake.maintenance.compact("icehouse_system.audit", min_input_files=2)
        assert compacted.groups  # a new snapshot, written by the compaction
        lake.audit.export()  # starts from the id the compaction's snapshot carries
        rows = exported(lake)
        assert [r["id"] for r in rows] == sorted({r["id"] for r in rows})
        assert [r["action"] for r in rows][:4] == [
            "table.create", "table.create", "table.create", "table.compact"
        ]  # fmt: skip


def crash_at(where: str) -> Callable[[str], None]:
    def crash(point: str) -> None:
        if point == where:
            raise SimulatedCrash(point)

    return crash


def test_two_exporters_at_once_export_each_record_once(home: Path) -> None:
    with Lake.open(home) as setup:
        for n in range(20):
            setup.tables.create(f"logs.t{n}", schema={"id": "long"})
        recorded = pending(setup)
    start = threading.Barrier(2)
    failed: list[BaseException] = []

    def export() -> None:
        with Lake.open(home) as lake:
            start.wait()
            try:
                lake.audit.export()
            except MaintenanceBusy:
                pass  # the other one holds the lease: its export takes them all
            except BaseException as exc:  # the test fails on it below
                failed.append(exc)

    exporters = [threading.Thread(target=export) for _ in range(2)]
    for exporter in exporters:
        exporter.start()
    for exporter in exporters:
        exporter.join()

    assert failed == []
    with Lake.open(home) as lake:
        assert pending(lake) == []
        assert exported(lake) == [as_exported(r) for r in recorded]


def test_icehouse_sql_reads_the_audit_table(tmp_path: Path) -> None:
    where = str(tmp_path / "lake")
    ok("init", "--home", where)
    ok("table", "create", "logs.hits", "--schema", '{"id": "long"}', "--home", where)
    ok("maintain", "run", "--home", where)

    query = "SELECT principal, action, resource, allowed FROM icehouse_system.audit"
    rows = as_json("sql", query, "--home", where)

    assert {"principal": "owner", "action": "table.create", "resource": "table logs.hits",
            "allowed": True} in rows  # fmt: skip


def test_serve_refuses_an_audit_export_interval_that_is_not_a_duration(tmp_path: Path) -> None:
    where = str(tmp_path / "lake")
    ok("init", "--home", where)
    result = run("serve", "--home", where, "--audit-export-every", "soon")

    assert result.exit_code == 2
    assert "--audit-export-every" in result.stderr


def test_a_governed_read_records_each_tables_decision_with_the_filters_it_went_through(
    lake: Lake,
) -> None:
    lake.tables.create("logs.hits", schema={"id": "long", "region": "string"})
    lake.tables.create("logs.secret", schema={"id": "long"})
    lake.principals.create("bob")
    lake.sql("CREATE DATA FILTER eu ON logs.hits WHERE region = 'eu'")
    lake.sql("GRANT SELECT ON DATA FILTER eu TO PRINCIPAL bob")
    bob = lake.as_principal(BOB)
    before = len(pending(lake))

    bob.sql("SELECT * FROM logs.hits")
    with pytest.raises(QueryError, match="not found or not permitted"):
        bob.sql("SELECT * FROM logs.secret")

    reads = [
        (r.resource, r.allowed, r.filters)
        for r in pending(lake)[before:]
        if r.action == "table.select"
    ]
    assert reads == [
        ("table logs.hits", True, ("data filter eu",)),
        ("table logs.secret", False, ()),
    ]
