"""What the central lake keeps of a mounted producer between requests, and that none of
it is ever served in place of what the producer has now: a table changed, dropped or
re-created at the producer, a producer that went down, an unmount, a table found by its
UUID. The producer is a real ``icehouse serve`` (or a SQL catalog where the test moves
the lake's clock)."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import CatalogUnavailable, Forbidden, NoSuchMount, NoSuchTable, QueryError
from icehouse.govern.authz import Principal
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.tables.producer_cache import UUID_TTL
from tests.fixtures_federation import REQUESTS, ServedProducer, served_producer, sql_producer
from tests.test_audit_kill import kill, serve, token
from tests.test_cli import ok

LOAD = "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}"
"""How the producer's request log names a loadTable."""


@dataclass
class Mesh:
    producer: ServedProducer
    central: Lake
    folder: Path

    def producer_client(self) -> RestCatalog:
        url = self.producer.url
        return RestCatalog(
            "producer", uri=url, credential=self.producer.credential,
            **{"oauth2-server-uri": f"{url}/v1/oauth/tokens"},
        )  # fmt: skip

    def producer_log(self) -> list[str]:
        """The producer's request log, one ``who METHOD route status`` per request."""
        lines = (self.folder / "producer.log").read_text().splitlines()
        return [line.split(" ", 2)[2].rsplit(" ", 2)[0] for line in lines if " ms" in line]


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    """A served producer holding ``cdn.requests``, mounted as ``cdn_prod`` into a central
    lake opened here."""
    producer = served_producer(tmp_path)
    home = tmp_path / "central"
    Lake.init(home)
    central = Lake.open(home)
    try:
        central.catalogs.mount(
            "cdn_prod", type="rest", uri=producer.url, credential=producer.credential
        )
        yield Mesh(producer, central, tmp_path)
    finally:
        central.close()
        kill(producer.process)


def logged_since(mesh: Mesh, before: int, lines: int) -> list[str]:
    """The producer's log since its first ``before`` lines, once ``lines`` more are
    written: it writes a request's line just after the answer, which the client may
    have read first (waits 30 s at most)."""
    deadline = time.monotonic() + 30
    while len(mesh.producer_log()) < before + lines and time.monotonic() < deadline:
        time.sleep(0.05)
    return mesh.producer_log()[before:]


def count(lake: Lake) -> int:
    rows = lake.sql("SELECT count(*) AS n FROM cdn_prod.cdn.requests").to_pylist()
    return int(rows[0]["n"])


def test_a_table_changed_at_the_producer_is_read_as_it_is_now_and_unchanged_costs_a_304(
    mesh: Mesh,
) -> None:
    before = len(mesh.producer_log())
    first = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    again = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    assert count(mesh.central) == 3
    asked = mesh.producer_log()[before:]

    mesh.producer_client().load_table("cdn.requests").append(REQUESTS)

    changed = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    assert again.metadata_location == first.metadata_location
    assert changed.metadata_location != first.metadata_location
    assert count(mesh.central) == 6
    assert asked == [f"central {LOAD} 200", f"central {LOAD} 304", f"central {LOAD} 304"]


def test_concurrent_loads_share_producer_requests_and_each_sees_every_commit_before_it(
    mesh: Mesh,
) -> None:
    """Loads that overlap share one request to the producer, but only one that left
    after each of them began: every load that began after a commit landed has it."""
    mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    before = len(mesh.producer_log())
    order = itertools.count()  # orders the loads and the commit (next() is atomic)
    committed: list[int] = []
    seen: list[tuple[int, str | None]] = []

    def client() -> None:
        after_commit = 0
        while after_commit < 10:
            began = next(order)
            state = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
            seen.append((began, state.metadata_location))
            after_commit += bool(committed) and began > committed[0]

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    table = mesh.producer_client().load_table("cdn.requests")
    table.append(REQUESTS)
    committed.append(next(order))
    for thread in clients:
        thread.join()

    asked = [line for line in mesh.producer_log()[before:] if LOAD in line]
    after = {location for began, location in seen if began > committed[0]}
    assert after == {table.metadata_location}
    assert len(asked) < len(seen)


def test_a_table_dropped_or_re_created_at_the_producer_is_never_served_from_before(
    mesh: Mesh,
) -> None:
    assert count(mesh.central) == 3
    producer = mesh.producer_client()

    producer.drop_table("cdn.requests")

    with pytest.raises(NoSuchTable, match=re.escape("catalog cdn_prod has no table cdn.requests")):
        mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    producer.create_table("cdn.requests", schema=pa.schema([("code", pa.string())]))
    state = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    assert [f["name"] for f in state.metadata["schemas"][0]["fields"]] == ["code"]
    assert count(mesh.central) == 0


def test_a_producer_that_goes_down_after_a_load_fails_its_loads_naming_it(mesh: Mesh) -> None:
    mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")

    kill(mesh.producer.process)

    named = re.escape(f"catalog cdn_prod at {mesh.producer.url}")
    with pytest.raises(CatalogUnavailable, match=named):
        mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    with pytest.raises(CatalogUnavailable, match="is unreachable"):
        count(mesh.central)


def test_an_unmount_forgets_the_producer_and_a_new_mount_of_the_name_reads_its_own(
    mesh: Mesh,
) -> None:
    assert count(mesh.central) == 3

    mesh.central.catalogs.unmount("cdn_prod")

    with pytest.raises(NoSuchMount):
        mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")
    other = sql_producer(mesh.folder / "other")
    SqlCatalog("prod", uri=other).load_table("cdn.requests").append(REQUESTS)
    mesh.central.catalogs.mount("cdn_prod", type="sql", uri=other)
    assert count(mesh.central) == 6


def test_the_mount_prefix_answers_a_load_with_an_etag_and_304_while_unchanged(
    mesh: Mesh,
) -> None:
    home = mesh.central.home
    mesh.central.close()
    made = ok("principal", "create", "ops", "--admin", "--format", "json", "--home", str(home))
    client_id, secret = re.findall(r'"client_(?:id|secret)": "([^"]+)"', made.stdout)
    process, url = serve(home, mesh.folder / "central.log")
    try:
        headers = {"Authorization": f"Bearer {token(url, client_id, secret)}"}
        table = f"{url}/v1/cdn_prod/namespaces/cdn/tables/requests"
        first = requests.get(table, headers=headers, timeout=30)
        unchanged = requests.get(
            table, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=30
        )
        mesh.producer_client().load_table("cdn.requests").append(REQUESTS)
        changed = requests.get(
            table, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=30
        )
    finally:
        kill(process)

    assert first.status_code == 200
    assert first.json()["metadata"]["table-uuid"]
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert changed.status_code == 200
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert changed.json()["metadata-location"] != first.json()["metadata-location"]


# -- a mounted table found by its UUID ------------------------------------------------------


class Clock:
    """The lake's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def granted_on(lake: Lake) -> list[str]:
    """The tables ana's grants are on, named as they are now (gone ones not listed)."""
    to_ana = Grantee(GranteeKind.PRINCIPAL, "ana")
    return [g.on.name for g in lake.governance.show_grants(to=to_ana)]


def test_a_grant_on_a_mounted_table_follows_it_by_uuid_at_the_producer(tmp_path: Path) -> None:
    url = sql_producer(tmp_path / "producer")
    producer = SqlCatalog("prod", uri=url)
    clock = Clock()
    Lake.init(tmp_path / "central")
    with Lake.open(tmp_path / "central", clock=clock) as lake:
        lake.catalogs.mount("cdn_prod", type="sql", uri=url)
        lake.principals.create("ana")
        lake.governance.grant(
            [Privilege.SELECT],
            Securable(SecurableKind.TABLE, "cdn_prod.cdn.requests"),
            Grantee(GranteeKind.PRINCIPAL, "ana"),
        )
        assert granted_on(lake) == ["cdn_prod.cdn.requests"]

        producer.rename_table("cdn.requests", "cdn.hits")
        renamed = granted_on(lake)
        location = producer.load_table("cdn.hits").metadata_location
        producer.drop_table("cdn.hits")
        dropped = granted_on(lake)
        producer.register_table("cdn.requests", location)  # the same table, its UUID
        within_ttl = granted_on(lake)
        clock.now += UUID_TTL
        after_ttl = granted_on(lake)

    assert renamed == ["cdn_prod.cdn.hits"]
    assert dropped == []
    assert within_ttl == []
    assert after_ttl == ["cdn_prod.cdn.requests"]


def test_a_governed_load_through_a_mount_asks_the_producer_once(mesh: Mesh) -> None:
    lake = mesh.central
    lake.principals.create("ana")
    lake.governance.grant(
        [Privilege.SELECT],
        Securable(SecurableKind.TABLE, "cdn_prod.cdn.requests"),
        Grantee(GranteeKind.PRINCIPAL, "ana"),
    )
    ana = lake.as_principal(Principal("ana", admin=False))
    before = len(mesh.producer_log())

    state = ana.catalogs.load("cdn_prod", ("cdn",), "requests")
    rows = ana.sql("SELECT count(*) AS n FROM cdn_prod.cdn.requests").to_pylist()

    asked = [line for line in mesh.producer_log()[before:] if LOAD in line]
    assert state.metadata_location is not None
    assert rows == [{"n": 3}]
    assert asked == [f"central {LOAD} 304", f"central {LOAD} 304"]


# -- what a load reads once per policy version, changed by another process ----------------


def test_an_unmount_and_a_new_mount_made_by_another_process_show_on_the_next_load(
    mesh: Mesh,
) -> None:
    """A mount's row is kept by policy version, which an unmount and a mount move in the
    state database: the CLI (or another server worker) changing the mount is seen by
    the very next load, which reads the new producer."""
    lake, home = mesh.central, str(mesh.central.home)
    first = lake.catalogs.load("cdn_prod", ("cdn",), "requests")

    ok("catalog", "unmount", "cdn_prod", "--yes", "--home", home)
    with pytest.raises(NoSuchMount):
        lake.catalogs.load("cdn_prod", ("cdn",), "requests")
    other = sql_producer(mesh.folder / "other")
    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", other, "--home", home)
    again = lake.catalogs.load("cdn_prod", ("cdn",), "requests")

    assert str(mesh.folder / "producer") in str(first.metadata_location)
    assert str(mesh.folder / "other") in str(again.metadata_location)


def test_a_grant_a_revoke_and_an_unmount_made_by_another_process_show_on_the_next_governed_load(
    mesh: Mesh,
) -> None:
    lake, home = mesh.central, str(mesh.central.home)
    lake.principals.create("ana")
    ana = lake.as_principal(Principal("ana", admin=False))
    load = ("cdn_prod", ("cdn",), "requests")
    grant = "GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana"
    with pytest.raises(Forbidden):
        ana.catalogs.load(*load)

    ok("sql", grant, "--home", home)
    granted = ana.catalogs.load(*load)
    ok("sql", "REVOKE SELECT ON TABLE cdn_prod.cdn.requests FROM PRINCIPAL ana", "--home", home)
    refused = re.escape("may not table.load on table cdn_prod.cdn.requests")
    with pytest.raises(Forbidden, match=refused):
        ana.catalogs.load(*load)
    ok("sql", grant, "--home", home)
    granted_again = ana.catalogs.load(*load)
    ok("catalog", "unmount", "cdn_prod", "--yes", "--home", home)

    assert granted.metadata_location == granted_again.metadata_location is not None
    with pytest.raises(Forbidden, match="not found or not permitted"):
        ana.catalogs.load(*load)


def test_a_producer_that_revokes_the_central_servers_token_is_asked_again_with_a_new_one(
    mesh: Mesh,
) -> None:
    first = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")

    ok("principal", "revoke", "central", "--home", str(mesh.producer.home))
    before = len(mesh.producer_log())
    again = mesh.central.catalogs.load("cdn_prod", ("cdn",), "requests")

    assert again.metadata_location == first.metadata_location
    assert logged_since(mesh, before, 3) == [
        f"- {LOAD} 401",
        "- POST /v1/oauth/tokens 200",
        f"central {LOAD} 304",
    ]


def test_a_mount_made_and_dropped_by_another_process_shows_on_the_next_statement(
    mesh: Mesh,
) -> None:
    """The mounts' names a statement looks for are kept by policy version, which a mount
    and an unmount move: a catalog mounted by the CLI is queried by the very next
    statement of a lake that is already open, and one unmounted is gone from it."""
    lake, home = mesh.central, str(mesh.central.home)
    count = "SELECT count(*) AS n FROM cdn_copy.cdn.requests"
    with pytest.raises(QueryError):
        lake.sql(count)

    other = sql_producer(mesh.folder / "copy")
    ok("catalog", "mount", "cdn_copy", "--type", "sql", "--uri", other, "--home", home)
    counted = lake.sql(count).column("n").to_pylist()
    ok("catalog", "unmount", "cdn_copy", "--yes", "--home", home)

    assert counted == [REQUESTS.num_rows]
    with pytest.raises(QueryError):
        lake.sql(count)
