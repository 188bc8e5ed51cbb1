"""``POST /v1/{prefix}/transactions/commit`` on SQLite and PostgreSQL: changes to several
tables land together or not at all, also when a single-table commit races them; and a
commit that loses the swap to a commit it does not conflict with still lands.

PyIceberg's client has no multi-table transaction, so each table's change is staged with
PyIceberg's own ``Transaction`` (data files written, updates and requirements built) and
sent as the REST spec's JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from pyiceberg.schema import Schema
from pyiceberg.table import CommitTableRequest, Table, TableIdentifier
from pyiceberg.table.update import AssertCreate
from pyiceberg.types import LongType, NestedField

from icehouse.lake import Lake
from tests.fixtures_server import Served, serving

SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    """A served lake whose state database is SQLite, then PostgreSQL."""
    if request.param == "postgres":
        monkeypatch.setenv("ICEHOUSE_STATE_URL", request.getfixturevalue("postgres_url"))
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake, serving(lake) as running:
        client = running.client()
        client.create_namespace("shop")
        for name in ("orders", "payments"):
            client.create_table(f"shop.{name}", SCHEMA)
        yield running


def staged_append(table: Table, ids: list[int]) -> dict[str, Any]:
    """The table change an append of ``ids`` would commit, as JSON (files written)."""
    tx = table.transaction()
    tx.append(pa.table({"id": ids}))
    request = CommitTableRequest(
        identifier=TableIdentifier(namespace=table.name()[:-1], name=table.name()[-1]),
        requirements=tx._requirements,
        updates=tx._updates,
    )
    change: dict[str, Any] = json.loads(request.model_dump_json(by_alias=True))
    return change


def commit(served: Served, *changes: dict[str, Any]) -> requests.Response:
    return requests.post(
        served.url("/v1/icehouse/transactions/commit"),
        json={"table-changes": list(changes)},
        timeout=60,
    )


def ids(served: Served, table: str) -> list[int]:
    rows = served.lake.sql(f"SELECT id FROM shop.{table} ORDER BY id")
    return [int(i) for i in rows.column("id").to_pylist()]


def metadata_files(served: Served, table: str) -> int:
    location = served.lake.iceberg.load(("shop",), table).metadata["location"]
    return len(list(Path(location.removeprefix("file://"), "metadata").glob("*.metadata.json")))


def test_a_transaction_changes_both_tables(served: Served) -> None:
    client = served.client()
    orders, payments = client.load_table("shop.orders"), client.load_table("shop.payments")

    answer = commit(served, staged_append(orders, [1, 2]), staged_append(payments, [10]))

    assert answer.status_code == 204
    assert ids(served, "orders") == [1, 2]
    assert ids(served, "payments") == [10]


def test_a_table_a_transaction_only_asserts_keeps_its_metadata_and_stays_readable(
    served: Served,
) -> None:
    """A table with requirements and no updates is checked, not moved: its pointer once
    went to the next metadata file's name, which no one wrote, and every load failed."""
    client = served.client()
    orders, payments = client.load_table("shop.orders"), client.load_table("shop.payments")
    orders.append(pa.table({"id": [1]}))
    orders = client.load_table("shop.orders")
    before = orders.metadata_location
    snapshot = orders.metadata.current_snapshot_id
    asserted = {
        "identifier": {"namespace": ["shop"], "name": "orders"},
        "requirements": [
            {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": snapshot}
        ],
        "updates": [],
    }

    answer = commit(served, asserted, staged_append(payments, [10]))

    assert answer.status_code == 204, answer.text
    assert client.load_table("shop.orders").metadata_location == before
    assert ids(served, "orders") == [1]
    assert ids(served, "payments") == [10]


def test_a_commit_that_changes_nothing_answers_the_file_the_table_keeps(served: Served) -> None:
    orders = served.client().load_table("shop.orders")
    url = served.url("/v1/icehouse/namespaces/shop/tables/orders")
    uuid = str(orders.metadata.table_uuid)
    body = {"requirements": [{"type": "assert-table-uuid", "uuid": uuid}], "updates": []}

    answer = requests.post(url, json=body, timeout=60)

    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata-location"] == orders.metadata_location
    assert Path(answer.json()["metadata-location"].removeprefix("file://")).exists()


def test_one_failing_requirement_leaves_both_tables_as_they_were(served: Served) -> None:
    client = served.client()
    orders, payments = client.load_table("shop.orders"), client.load_table("shop.payments")
    order_change = staged_append(orders, [1, 2])
    stale_payment = staged_append(payments, [10])
    client.load_table("shop.payments").append(pa.table({"id": [99]}))  # payments moves on
    files_before = metadata_files(served, "orders")

    answer = commit(served, order_change, stale_payment)

    assert answer.status_code == 409
    assert answer.json()["error"]["type"] == "CommitFailedException"
    assert "shop.payments" in answer.json()["error"]["message"]
    assert ids(served, "orders") == []
    assert ids(served, "payments") == [99]
    assert metadata_files(served, "orders") == files_before  # nothing left behind


def test_a_table_named_twice_is_refused(served: Served) -> None:
    orders = served.client().load_table("shop.orders")

    answer = commit(served, staged_append(orders, [1]), staged_append(orders, [2]))

    assert answer.status_code == 400
    assert "shop.orders" in answer.json()["error"]["message"]
    assert ids(served, "orders") == []


def race(served: Served, together: list[dict[str, Any]], alone: dict[str, Any]) -> dict[str, int]:
    """Send the transaction and the single commit at once; their HTTP statuses."""
    start = threading.Barrier(2)
    answers: dict[str, int] = {}

    def send_transaction() -> None:
        start.wait()
        answers["transaction"] = commit(served, *together).status_code

    def send_single() -> None:
        start.wait()
        url = served.url("/v1/icehouse/namespaces/shop/tables/orders")
        answers["single"] = requests.post(url, json=alone, timeout=60).status_code

    workers = [threading.Thread(target=send_transaction), threading.Thread(target=send_single)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers


def test_a_transaction_racing_a_single_commit_lands_whole_or_not_at_all(served: Served) -> None:
    """Both start from the same ``orders``: exactly one of them wins it, and payments
    changes if and only if the transaction won."""
    client = served.client()
    for round_ in range(6):
        orders, payments = client.load_table("shop.orders"), client.load_table("shop.payments")
        base = 100 * round_
        together = [staged_append(orders, [base + 1]), staged_append(payments, [base + 2])]
        alone = staged_append(orders, [base + 3])
        answers = race(served, together, alone)

        assert sorted(answers.values()) in ([200, 409], [204, 409])
        landed = {i for i in ids(served, "orders") if i >= base}
        paid = {i for i in ids(served, "payments") if i >= base}
        if answers["transaction"] == 204:
            assert (landed, paid) == ({base + 1}, {base + 2})
        else:
            assert (landed, paid) == ({base + 3}, set())


def test_commits_that_lose_the_swap_to_unrelated_commits_still_land(served: Served) -> None:
    """Eight clients set their own property, five times each, all asserting only the
    table's identity: each loser of the compare-and-swap is staged again on the newer
    metadata and lands, and its discarded metadata files are deleted."""
    uuid = served.lake.iceberg.load(("shop",), "orders").metadata["table-uuid"]
    url = served.url("/v1/icehouse/namespaces/shop/tables/orders")
    start = threading.Barrier(8)
    refused: list[int] = []

    def set_properties(writer: int) -> None:
        start.wait()
        for round_ in range(5):
            change = {
                "requirements": [{"type": "assert-table-uuid", "uuid": uuid}],
                "updates": [
                    {"action": "set-properties", "updates": {f"writer-{writer}": str(round_)}}
                ],
            }
            answer = requests.post(url, json=change, timeout=60)
            if answer.status_code != 200:
                refused.append(answer.status_code)

    workers = [threading.Thread(target=set_properties, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert refused == []
    properties = served.lake.iceberg.load(("shop",), "orders").metadata["properties"]
    assert {key: properties[key] for key in properties if key.startswith("writer-")} == {
        f"writer-{n}": "4" for n in range(8)
    }
    assert metadata_files(served, "orders") == 1 + 8 * 5  # creation, then one per commit


def test_a_transaction_goes_through_the_catalogs_staging(served: Served) -> None:
    """A foreign client's ``icehouse.*`` summary keys are dropped, as on any commit:
    no engine may move ingestion's watermarks."""
    orders = served.client().load_table("shop.orders")
    change = staged_append(orders, [1])
    (added,) = [u for u in change["updates"] if u["action"] == "add-snapshot"]
    added["snapshot"]["summary"]["icehouse.watermarks"] = '{"forged": 999}'

    assert commit(served, change).status_code == 204

    metadata = served.lake.iceberg.load(("shop",), "orders").metadata
    (snapshot,) = metadata["snapshots"]
    assert "icehouse.watermarks" not in snapshot["summary"]
    assert snapshot["summary"]["added-records"] == "1"


def test_a_transaction_creates_a_table_and_appends_to_another(served: Served) -> None:
    client = served.client()
    creation = client.create_table_transaction("shop.refunds", SCHEMA)
    creation.append(pa.table({"id": [5]}))
    create = json.loads(
        CommitTableRequest(
            identifier=TableIdentifier(namespace=["shop"], name="refunds"),
            requirements=[AssertCreate()],  # a creation's only requirement
            updates=creation._updates,
        ).model_dump_json(by_alias=True)
    )
    append = staged_append(client.load_table("shop.orders"), [1])

    assert commit(served, create, append).status_code == 204

    assert served.lake.sql("SELECT id FROM shop.refunds").column("id").to_pylist() == [5]
    assert ids(served, "orders") == [1]
    again = commit(served, create, staged_append(client.load_table("shop.orders"), [2]))
    assert again.status_code == 409  # it exists now: neither lands
    assert ids(served, "orders") == [1]
