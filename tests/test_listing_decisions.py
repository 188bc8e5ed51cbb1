"""A principal that is not an administrator lists a namespace's tables from one read of
the catalog, and the decisions kept for a repeated listing follow every change at once:
a grant, a revoke, a rename, a new table, a dropped one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake

home = fixtures_lake.home
lake = fixtures_lake.lake

SCOUT = Grantee(GranteeKind.PRINCIPAL, "scout")


@pytest.fixture
def scout(lake: Lake) -> Iterator[Lake]:
    """Tables ``a.t1``..``a.t4``; ``scout`` holds SELECT on ``a.t1`` and ``a.t3``."""
    lake.namespaces.create(("a",))
    for table in ("a.t1", "a.t2", "a.t3", "a.t4"):
        lake.tables.create(table, schema={"id": "long"})
    created = lake.principals.create("scout")
    for table in ("a.t1", "a.t3"):
        lake.governance.grant([Privilege.SELECT], _table(table), SCOUT)
    yield lake.as_principal(lake.principals.authenticate(_token(lake, created)))


def _table(name: str) -> Securable:
    return Securable(SecurableKind.TABLE, name)


def _token(lake: Lake, created: Credentials) -> str:
    return lake.principals.issue_token(created.client_id, created.client_secret).access_token


def test_a_governed_listing_reads_the_catalog_once(lake: Lake, scout: Lake) -> None:
    scout.iceberg.list(("a",))
    statements: list[str] = []

    def noted(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(lake._catalog.engine, "before_cursor_execute", noted)
    try:
        listed = scout.iceberg.list(("a",))
    finally:
        event.remove(lake._catalog.engine, "before_cursor_execute", noted)

    assert listed == ["t1", "t3"]
    catalog_reads = [s for s in statements if "iceberg_tables" in s]
    assert len(catalog_reads) == 1, statements


def test_a_repeated_listing_follows_grants_and_revokes_at_once(lake: Lake, scout: Lake) -> None:
    assert scout.iceberg.list(("a",)) == ["t1", "t3"]

    lake.governance.grant([Privilege.SELECT], _table("a.t2"), SCOUT)
    assert scout.iceberg.list(("a",)) == ["t1", "t2", "t3"]

    lake.governance.revoke([Privilege.SELECT], _table("a.t1"), SCOUT)
    assert scout.iceberg.list(("a",)) == ["t2", "t3"]


def test_a_repeated_listing_follows_renames_drops_and_new_tables(lake: Lake, scout: Lake) -> None:
    assert scout.iceberg.list(("a",)) == ["t1", "t3"]

    lake.tables.rename("a.t1", "a.t0")
    assert scout.iceberg.list(("a",)) == ["t0", "t3"]

    lake.tables.drop("a.t3")
    lake.tables.create("a.t3", schema={"id": "long"})  # same name, a table never granted
    assert scout.iceberg.list(("a",)) == ["t0"]


def test_each_principal_is_shown_its_own_part(lake: Lake, scout: Lake) -> None:
    lake.principals.create("other")
    other_grantee = Grantee(GranteeKind.PRINCIPAL, "other")
    lake.governance.grant([Privilege.SELECT], _table("a.t4"), other_grantee)
    created = lake.principals.create("reader")
    reader = lake.as_principal(lake.principals.authenticate(_token(lake, created)))

    assert scout.iceberg.list(("a",)) == ["t1", "t3"]
    assert reader.iceberg.list(("a",)) == []
    assert lake.iceberg.list(("a",)) == ["t1", "t2", "t3", "t4"]
