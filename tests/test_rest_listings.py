"""Every list route of the REST catalog shows a principal only what it may DESCRIBE, page
by page: namespaces (top level and under a parent), tables and views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from tests.fixtures_server import Served, serving

SEPARATOR = "%1F"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    """Namespaces ``a``, ``a.x``, ``a.y``, ``b``, ``c``; tables ``a.t1``..``a.t4``,
    ``a.y.t``, ``b.t``; views ``a.v1``..``a.v3``. Principal ``scout`` holds SELECT on
    ``a.t1`` and ``a.t3``, DESCRIBE on view ``a.v2`` and on namespaces ``a.y`` and ``c``."""
    home = tmp_path / "lake"
    Lake.init(home)
    with Lake.open(home) as lake:
        for namespace in (("a",), ("a", "x"), ("a", "y"), ("b",), ("c",)):
            lake.namespaces.create(namespace)
        for table in ("a.t1", "a.t2", "a.t3", "a.t4", "b.t"):
            lake.tables.create(table, schema={"id": "long"})
        lake.iceberg.create(("a", "y"), "t", _new_table())
        for view in ("v1", "v2", "v3"):
            lake.views.create_from_sql(("a",), view, "SELECT 1 AS one")
        scout = lake.principals.create("scout")
        me = Grantee(GranteeKind.PRINCIPAL, "scout")
        rules = lake.governance
        for table in ("a.t1", "a.t3"):
            rules.grant([Privilege.SELECT], Securable(SecurableKind.TABLE, table), me)
        rules.grant([Privilege.DESCRIBE], Securable(SecurableKind.VIEW, "a.v2"), me)
        rules.grant([Privilege.DESCRIBE], Securable(SecurableKind.NAMESPACE, "a.y"), me)
        rules.grant([Privilege.DESCRIBE], Securable(SecurableKind.NAMESPACE, "c"), me)
        token = lake.principals.issue_token(scout.client_id, scout.client_secret).access_token
        with serving(lake, allow_anonymous=False) as running:
            yield running, token


def _new_table() -> Any:
    from icehouse.lake.iceberg import NewTable

    schema = {
        "type": "struct",
        "fields": [{"id": 1, "name": "id", "type": "long", "required": False}],
    }
    return NewTable(schema=schema)


def every_page(served: Served, token: str, path: str, key: str, **query: str) -> list[Any]:
    """Everything the route lists, one item per page (``pageSize=1``)."""
    found: list[Any] = []
    params: dict[str, str] = {"pageSize": "1", **query}
    while True:
        answer = requests.get(
            served.url(path),
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body[key]) <= 1
        found += body[key]
        if not body.get("next-page-token"):
            return found
        params["pageToken"] = body["next-page-token"]


def test_namespaces_list_only_those_the_principal_may_describe(served: tuple[Served, str]) -> None:
    server, token = served

    top = every_page(server, token, "/v1/icehouse/namespaces", "namespaces")
    under_a = every_page(server, token, "/v1/icehouse/namespaces", "namespaces", parent="a")

    assert top == [["a"], ["c"]]
    assert under_a == [["a", "y"]]


def test_tables_list_only_those_the_principal_may_describe(served: tuple[Served, str]) -> None:
    server, token = served

    in_a = every_page(server, token, "/v1/icehouse/namespaces/a/tables", "identifiers")
    in_b = every_page(server, token, "/v1/icehouse/namespaces/b/tables", "identifiers")
    in_a_y = every_page(
        server, token, f"/v1/icehouse/namespaces/a{SEPARATOR}y/tables", "identifiers"
    )

    assert [t["name"] for t in in_a] == ["t1", "t3"]
    assert in_b == []
    assert in_a_y == [{"namespace": ["a", "y"], "name": "t"}]


def test_a_table_listing_follows_renames_and_new_tables_after_a_first_listing(
    served: tuple[Served, str],
) -> None:
    """The tables a listing decides on are remembered by metadata file: a rename moves
    the name (the grant goes with the table), a new table appears once granted."""
    server, token = served
    listing = "/v1/icehouse/namespaces/a/tables"
    assert [t["name"] for t in every_page(server, token, listing, "identifiers")] == ["t1", "t3"]

    lake = server.lake
    lake.tables.rename("a.t1", "a.t9")
    lake.tables.create("a.t5", schema={"id": "long"})
    lake.governance.grant(
        [Privilege.DESCRIBE],
        Securable(SecurableKind.TABLE, "a.t5"),
        Grantee(GranteeKind.PRINCIPAL, "scout"),
    )

    names = [t["name"] for t in every_page(server, token, listing, "identifiers")]
    assert names == ["t3", "t5", "t9"]


def test_views_list_only_those_the_principal_may_describe(served: tuple[Served, str]) -> None:
    server, token = served

    views = every_page(server, token, "/v1/icehouse/namespaces/a/views", "identifiers")

    assert views == [{"namespace": ["a"], "name": "v2"}]
