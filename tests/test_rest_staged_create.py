"""A staged create (``stage-create: true``, then a commit asserting the table does not
exist yet, as Spark's CTAS and PyIceberg's ``create_table_transaction`` make it) by a
principal that is not an administrator: it needs CREATE_TABLE on the namespace, as a
direct create does, and its commit makes the principal the table's owner, as a direct
create does. Through a real server, with PyIceberg's RestCatalog as the client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import CommitFailedException, ForbiddenError

from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests.fixtures_server import Served, serving

ID = {"id": 1, "name": "id", "type": "long", "required": False}
ROWS = pa.table({"id": pa.array([1, 2], pa.int64()), "country": pa.array(["fr", "de"])})


@dataclass(frozen=True)
class Central:
    served: Served
    etl: Credentials
    """A principal holding CREATE_TABLE on namespace ``web`` and nothing else."""

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def client(self, who: Credentials) -> RestCatalog:
        return self.served.client(
            credential=f"{who.client_id}:{who.client_secret}",
            **{"oauth2-server-uri": self.served.url("/v1/oauth/tokens")},
        )


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        lake.namespaces.create(("web",))
        etl = lake.principals.create("etl")
        lake.sql("GRANT CREATE_TABLE ON NAMESPACE web TO PRINCIPAL etl")
        with serving(lake, allow_anonymous=False) as served:
            yield Central(served, etl)


def test_a_principal_with_create_table_creates_a_table_through_a_staged_create(
    central: Central,
) -> None:
    client = central.client(central.etl)

    with client.create_table_transaction("web.hits", schema=ROWS.schema) as transaction:
        transaction.append(ROWS)

    assert client.load_table("web.hits").scan().to_arrow().sort_by("id") == ROWS
    etl = central.lake.as_principal(Principal("etl", admin=False))
    assert etl.sql("SELECT count(*) AS n FROM web.hits").to_pylist() == [{"n": 2}]
    grants = central.lake.sql("SHOW GRANTS").to_pylist()
    assert [g for g in grants if g["object"] == "table web.hits"] == []  # owned, not granted
    with client.load_table("web.hits").transaction() as more:
        more.set_properties({"team": "cdn"})  # an owner alters what it created
    assert central.lake.tables.get("web.hits").properties["team"] == "cdn"


def test_a_staged_create_without_create_table_is_403_and_creates_nothing(
    central: Central,
) -> None:
    central.lake.namespaces.create(("ops",))
    central.lake.sql("GRANT DESCRIBE ON NAMESPACE ops TO PRINCIPAL etl")
    client = central.client(central.etl)

    with (
        pytest.raises(ForbiddenError, match="it needs CREATE_TABLE on namespace ops"),
        client.create_table_transaction("ops.hits", schema=ROWS.schema) as transaction,
    ):
        transaction.append(ROWS)

    assert central.lake.tables.list() == []


def test_the_commit_of_a_staged_create_alone_needs_create_table_too(central: Central) -> None:
    """A client may send the creating commit without asking for the staged table first."""
    central.lake.namespaces.create(("ops",))
    central.lake.sql("GRANT DESCRIBE ON NAMESPACE ops TO PRINCIPAL etl")
    token = central.lake.principals.issue_token(
        central.etl.client_id, central.etl.client_secret
    ).access_token
    schema = {"type": "struct", "schema-id": 0, "fields": [ID]}
    body = {
        "requirements": [{"type": "assert-create"}],
        "updates": [
            {"action": "upgrade-format-version", "format-version": 2},
            {"action": "add-schema", "schema": schema},
            {"action": "set-current-schema", "schema-id": -1},
        ],
    }

    answer = requests.post(
        central.served.url("/v1/icehouse/namespaces/ops/tables/hits"),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert answer.status_code == 403
    assert "it needs CREATE_TABLE on namespace ops" in answer.json()["error"]["message"]
    assert central.lake.tables.list() == []


def test_a_staged_creates_commit_never_changes_a_table_that_exists(central: Central) -> None:
    transaction = central.client(central.etl).create_table_transaction(
        "web.hits", schema=ROWS.schema
    )
    transaction.append(ROWS)
    central.lake.tables.create("web.hits", schema={"id": "long"})  # meanwhile

    with pytest.raises(CommitFailedException):
        transaction.commit_transaction()

    assert central.lake.sql("SELECT count(*) AS n FROM web.hits").to_pylist() == [{"n": 0}]
    assert [c["name"] for c in central.lake.tables.get("web.hits").schema] == ["id"]
