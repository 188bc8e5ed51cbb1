"""A mounted catalog is read-only in SQL: a DELETE, INSERT or any other write to one of
its tables is refused naming the mount, for the administrator and for a governed
principal alike (locally and through the query API), and the producer's rows stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from icehouse.errors import MountedTableReadOnly, QueryError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake, fixtures_query_api
from tests.fixtures_federation import sql_producer
from tests.fixtures_query_api import Api
from tests.test_audit import pending
from tests.test_cli import home, ok, one_line, run
from tests.test_query_api import error_of

__all__ = ["home"]
lake, api = fixtures_lake.lake, fixtures_query_api.api
rows_of = fixtures_lake.rows_of

READ_ONLY = (
    "DELETE on cdn_prod.cdn.requests is refused: catalog cdn_prod is mounted read-only "
    "here; change its tables through the producer's own catalog"
)
COUNT = "SELECT count(*) AS n FROM cdn_prod.cdn.requests"


@pytest.fixture
def mounted(lake: Lake, tmp_path: Path) -> Lake:
    """The central lake with a producer mounted as ``cdn_prod``, and ``ana``, who holds
    every privilege on the mount."""
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    lake.principals.create("ana")
    lake.sql("GRANT ALL PRIVILEGES ON CATALOG cdn_prod TO PRINCIPAL ana")
    return lake


def ana(lake: Lake) -> Lake:
    return lake.as_principal(Principal("ana", admin=False))


def test_a_governed_delete_on_a_mounted_table_is_refused_as_read_only(mounted: Lake) -> None:
    before = len(pending(mounted))

    with pytest.raises(MountedTableReadOnly) as refused:
        ana(mounted).sql("DELETE FROM cdn_prod.cdn.requests WHERE id = 1")

    assert refused.value.message == READ_ONLY
    assert refused.value.mount == "cdn_prod"
    assert rows_of(mounted, COUNT) == [{"n": 3}]
    denials = [
        (r.action, r.resource, r.reason)
        for r in pending(mounted)[before:]
        if r.kind == "decision" and not r.allowed
    ]
    assert denials == [("table.delete_rows", "table cdn_prod.cdn.requests", READ_ONLY)]


@pytest.mark.parametrize(
    ("sql", "verb"),
    [
        ("INSERT INTO cdn_prod.cdn.requests VALUES (4, 'it')", "INSERT"),
        ("UPDATE cdn_prod.cdn.requests SET country = 'it' WHERE id = 1", "UPDATE"),
        ("DROP TABLE cdn_prod.cdn.requests", "DROP"),
        ("TRUNCATE cdn_prod.cdn.requests", "TRUNCATE"),
    ],
)
def test_any_write_to_a_mounted_table_names_the_mount_as_read_only(
    mounted: Lake, sql: str, verb: str
) -> None:
    for who in (mounted, ana(mounted)):
        with pytest.raises(MountedTableReadOnly) as refused:
            who.sql(sql)
        assert refused.value.message.startswith(
            f"{verb} on cdn_prod.cdn.requests is refused: catalog cdn_prod is mounted read-only"
        )
    assert rows_of(mounted, COUNT) == [{"n": 3}]


def test_a_write_by_a_principal_that_may_not_see_the_table_names_nothing(
    mounted: Lake,
) -> None:
    mounted.principals.create("bob")
    bob = mounted.as_principal(Principal("bob", admin=False))

    with pytest.raises(QueryError) as refused:
        bob.sql("DELETE FROM cdn_prod.cdn.requests WHERE id = 1")

    assert refused.value.message == "table cdn_prod.cdn.requests not found or not permitted"


def test_the_administrators_delete_on_a_mounted_table_fails_in_the_cli(
    home: str, tmp_path: Path
) -> None:
    url = sql_producer(tmp_path / "producer")
    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", url, "--home", home)

    result = run("sql", "DELETE FROM cdn_prod.cdn.requests WHERE id = 1", "--home", home)

    assert result.exit_code == 1
    assert one_line(result.stderr) == f"Error: {READ_ONLY}"


def test_a_delete_on_a_mounted_table_through_the_query_api_is_a_400_naming_the_mount(
    api: Api, tmp_path: Path
) -> None:
    api.lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    api.lake.sql("GRANT ALL PRIVILEGES ON CATALOG cdn_prod TO PRINCIPAL reader")

    answer = api.post(
        {"sql": "DELETE FROM cdn_prod.cdn.requests WHERE id = 1"}, token=api.token(api.reader)
    )

    assert error_of(answer, 400)["message"] == READ_ONLY
    assert rows_of(api.lake, COUNT) == [{"n": 3}]
