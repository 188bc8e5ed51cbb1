"""A commit through the REST catalog needs the privilege of what each update does: an
append INSERT, a delete DELETE, an overwrite both, schema and property changes and a
rollback ALTER; a multi-table transaction needs each table's, table by table. A denial
names the privilege and the table and changes nothing.

Through a real server: PyIceberg's RestCatalog as the writer, and raw HTTP for the
routes PyIceberg does not drive (a rollback, the transaction route)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pyiceberg.exceptions import ForbiddenError
from pyiceberg.table import Table
from pyiceberg.types import StringType

from icehouse.govern.commit_privileges import commit_privileges
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import IDS, TABLE, batch, make_table, region_of

SEL, INS, DEL, ALT = Privilege.SELECT, Privilege.INSERT, Privilege.DELETE, Privilege.ALTER
NOT_EU = sorted(i for i in IDS if region_of(i) != "eu")


def append(table: Table) -> None:
    table.append(batch([13]).cast(table.schema().as_arrow()))


def delete(table: Table) -> None:
    table.delete("region = 'eu'")  # whole files: the table is partitioned by region


def overwrite(table: Table) -> None:
    table.overwrite(batch([13]).cast(table.schema().as_arrow()), overwrite_filter="region = 'eu'")


def add_column(table: Table) -> None:
    with table.update_schema() as update:
        update.add_column("extra", StringType())


def set_property(table: Table) -> None:
    with table.transaction() as transaction:
        transaction.set_properties({"team": "cdn"})


@dataclass(frozen=True)
class Writes:
    """What an allowed commit leaves, as the administrator sees the table."""

    ids: list[int]
    column: str | None = None
    team: str | None = None


OPERATIONS: dict[str, tuple[Callable[[Table], None], Writes]] = {
    "append": (append, Writes([*IDS, 13])),
    "delete": (delete, Writes(NOT_EU)),
    "overwrite": (overwrite, Writes(sorted([*NOT_EU, 13]))),
    "schema evolution": (add_column, Writes(list(IDS), column="extra")),
    "properties": (set_property, Writes(list(IDS), team="cdn")),
}
CASES = [
    ("append", {SEL, INS}, None),
    ("append", {SEL, DEL, ALT}, "INSERT"),
    ("delete", {SEL, DEL}, None),
    ("delete", {SEL, INS, ALT}, "DELETE"),
    ("overwrite", {SEL, INS, DEL}, None),
    ("overwrite", {SEL, INS}, "DELETE"),
    ("overwrite", {SEL, DEL}, "INSERT"),
    ("schema evolution", {SEL, ALT}, None),
    ("schema evolution", {SEL, INS, DEL}, "ALTER"),
    ("properties", {SEL, ALT}, None),
    ("properties", {SEL, INS, DEL}, "ALTER"),
]


@dataclass(frozen=True)
class Catalog:
    served: Served

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def grant(self, privileges: set[Privilege], table: str) -> None:
        on = Securable(SecurableKind.TABLE, table)
        order = sorted(privileges, key=list(Privilege).index)
        self.lake.governance.grant(order, on, Grantee(GranteeKind.PRINCIPAL, "writer"))

    def rows(self) -> list[int]:
        return fixtures_lake.ids(self.lake, TABLE)

    def metadata(self, table: str = TABLE) -> dict[str, Any]:
        namespace, name = table.split(".")
        return self.lake.iceberg.load((namespace,), name).metadata


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[tuple[Catalog, Credentials]]:
    home = tmp_path / "lake"
    Lake.init(home)
    with Lake.open(home) as lake:
        make_table(lake)
        for name in ("web.a", "web.b"):
            lake.tables.create(name, schema={"id": "long"})
        writer = lake.principals.create("writer")
        with serving(lake, allow_anonymous=False) as served:
            yield Catalog(served), writer


def credential(who: Credentials) -> str:
    return f"{who.client_id}:{who.client_secret}"


def post(catalog: Catalog, who: Credentials, path: str, body: dict[str, Any]) -> requests.Response:
    token = catalog.lake.principals.issue_token(who.client_id, who.client_secret).access_token
    return requests.post(
        catalog.served.url(path),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("operation", "privileges", "missing"),
    CASES,
    ids=[f"{op}-{'+'.join(sorted(p))}" for op, p, _ in CASES],
)
def test_a_commit_needs_the_privilege_of_what_it_does(
    catalog: tuple[Catalog, Credentials],
    operation: str,
    privileges: set[Privilege],
    missing: str | None,
) -> None:
    served, writer = catalog
    served.grant(privileges, TABLE)
    write, writes = OPERATIONS[operation]
    table = served.served.client(credential=credential(writer)).load_table(TABLE)

    if missing is not None:
        with pytest.raises(ForbiddenError) as refused:
            write(table)
        assert f"it needs {missing} on table {TABLE}" in str(refused.value)
        assert served.rows() == list(IDS)
        assert "team" not in served.metadata()["properties"]
        return
    write(table)
    assert served.rows() == writes.ids
    fields = {f["name"] for f in served.metadata()["schemas"][-1]["fields"]}
    assert (writes.column in fields) if writes.column else "extra" not in fields
    assert served.metadata()["properties"].get("team") == writes.team


def test_a_writer_without_select_cannot_load_the_table_it_would_write(
    catalog: tuple[Catalog, Credentials],
) -> None:
    served, writer = catalog
    served.grant({INS}, TABLE)
    client = served.served.client(credential=credential(writer))

    with pytest.raises(ForbiddenError) as refused:
        client.load_table(TABLE)

    assert f"it needs SELECT on table {TABLE}" in str(refused.value)


def test_a_commit_by_a_principal_whose_select_is_filtered_is_refused_too(
    catalog: tuple[Catalog, Credentials],
) -> None:
    """A commit's answer is the table's metadata, naming every data file."""
    served, writer = catalog
    served.grant({ALT}, TABLE)
    served.lake.governance.create_data_filter("eu", TABLE, where="region = 'eu'")
    served.lake.governance.grant(
        [SEL], Securable(SecurableKind.DATA_FILTER, "eu"), Grantee(GranteeKind.PRINCIPAL, "writer")
    )
    body = {"requirements": [], "updates": [{"action": "set-properties", "updates": {"k": "v"}}]}

    answer = post(served, writer, "/v1/icehouse/namespaces/web/tables/requests", body)

    assert answer.status_code == 403
    assert "POST /api/v1/query" in answer.json()["error"]["message"]
    assert "metadata" not in answer.json()
    assert "k" not in served.metadata()["properties"]


def test_moving_main_to_an_older_snapshot_needs_alter(
    catalog: tuple[Catalog, Credentials],
) -> None:
    served, writer = catalog
    served.grant({SEL, INS, DEL}, TABLE)
    client = served.served.client(credential=credential(writer))
    table = client.load_table(TABLE)
    first = table.current_snapshot()
    assert first is not None
    append(table)
    rollback = {
        "requirements": [],
        "updates": [
            {
                "action": "set-snapshot-ref",
                "ref-name": "main",
                "type": "branch",
                "snapshot-id": first.snapshot_id,
            }
        ],
    }

    refused = post(served, writer, "/v1/icehouse/namespaces/web/tables/requests", rollback)
    served.grant({ALT}, TABLE)
    allowed = post(served, writer, "/v1/icehouse/namespaces/web/tables/requests", rollback)

    assert refused.status_code == 403
    assert f"it needs ALTER on table {TABLE}" in refused.json()["error"]["message"]
    assert allowed.status_code == 200, allowed.text
    assert served.rows() == list(IDS)


def _properties_change(table: str) -> dict[str, Any]:
    return {
        "identifier": {"namespace": ["web"], "name": table},
        "requirements": [],
        "updates": [{"action": "set-properties", "updates": {"team": "cdn"}}],
    }


TRANSACTION = {"table-changes": [_properties_change("a"), _properties_change("b")]}


@pytest.mark.parametrize(
    ("on_b", "status", "message"),
    [
        ({SEL, ALT}, 204, None),
        ({SEL, INS, DEL}, 403, "it needs ALTER on table web.b"),
        ({DEL}, 403, "it needs ALTER on table web.b"),
        (set(), 403, "table web.b is not found or not permitted"),
    ],
    ids=["alter-on-both", "no-alter-on-b", "delete-only-on-b", "b-not-described"],
)
def test_a_transaction_needs_each_tables_privileges_on_that_table(
    catalog: tuple[Catalog, Credentials],
    on_b: set[Privilege],
    status: int,
    message: str | None,
) -> None:
    served, writer = catalog
    served.grant({SEL, ALT}, "web.a")
    if on_b:
        served.grant(on_b, "web.b")

    answer = post(served, writer, "/v1/icehouse/transactions/commit", TRANSACTION)

    assert answer.status_code == status, answer.text
    teams = [served.metadata(t)["properties"].get("team") for t in ("web.a", "web.b")]
    if message is None:
        assert teams == ["cdn", "cdn"]
    else:
        assert message in answer.json()["error"]["message"]
        assert teams == [None, None]


def _snapshot(operation: str, snapshot_id: int = 7, **summary: str) -> dict[str, Any]:
    return {
        "action": "add-snapshot",
        "snapshot": {"snapshot-id": snapshot_id, "summary": {"operation": operation, **summary}},
    }


def _main(snapshot_id: int) -> dict[str, Any]:
    return {
        "action": "set-snapshot-ref",
        "ref-name": "main",
        "type": "branch",
        "snapshot-id": snapshot_id,
    }


@pytest.mark.parametrize(
    ("updates", "needed"),
    [
        ([_snapshot("append"), _main(7)], [INS]),
        ([_snapshot("delete"), _main(7)], [DEL]),
        ([_snapshot("overwrite"), _main(7)], [INS, DEL]),
        ([_snapshot("replace"), _main(7)], [INS, DEL]),
        ([_snapshot("append", **{"deleted-data-files": "1"})], [INS, DEL]),
        ([_snapshot("delete", **{"added-records": "3"})], [INS, DEL]),
        ([_snapshot("delete", **{"removed-delete-files": "1"})], [INS, DEL]),
        ([_snapshot("something-new")], [INS, DEL]),
        ([_main(3)], [ALT]),
        ([{"action": "remove-snapshots", "snapshot-ids": [3]}], [ALT]),
        ([{"action": "set-location", "location": "file:///x"}], [ALT]),
        ([{"action": "add-spec", "spec": {}}, _snapshot("append"), _main(7)], [INS, ALT]),
        ([], []),
    ],
    ids=[
        "append",
        "delete",
        "overwrite",
        "replace",
        "append-that-deletes-files",
        "delete-that-adds-rows",
        "delete-that-resurrects-rows",
        "unknown-operation",
        "rollback",
        "expire",
        "location",
        "spec-and-append",
        "nothing",
    ],
)
def test_the_privileges_of_each_kind_of_update(
    updates: list[dict[str, Any]], needed: list[Privilege]
) -> None:
    assert commit_privileges(updates) == needed
