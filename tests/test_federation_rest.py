"""A mounted catalog served as its own REST prefix by the central server: two real
``icehouse serve`` processes (the producer and the central one) with homes of their
own; a PyIceberg client of the central server lists and loads the producer's table with
``warehouse=<mount>`` and reads its rows, a commit through the mount is refused, and a
principal that is not an administrator sees nothing of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import ForbiddenError, NoSuchTableError

from tests.fixtures_federation import REQUESTS, ServedProducer, served_producer
from tests.test_audit_kill import kill, serve
from tests.test_cli import ok


@dataclass
class Central:
    url: str
    admin: str
    """``CLIENT_ID:SECRET`` of an administrator of the central server."""
    analyst: str
    """``CLIENT_ID:SECRET`` of a principal with no grants."""
    producer: ServedProducer
    home: Path
    """The central server's home (its governance statements run on it)."""


def principal(home: Path, name: str, *admin: str) -> str:
    made = json.loads(ok("principal", "create", name, *admin, "--format", "json",
                         "--home", str(home)).stdout)  # fmt: skip
    return f"{made['client_id']}:{made['client_secret']}"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    producer = served_producer(tmp_path)
    home = tmp_path / "central"
    ok("init", "--home", str(home))
    ok("catalog", "mount", "cdn_prod", "--type", "rest", "--uri", producer.url,
       "--credential", producer.credential, "--home", str(home))  # fmt: skip
    admin, analyst = principal(home, "ops", "--admin"), principal(home, "ana")
    process, url = serve(home, tmp_path / "central.log")
    try:
        yield Central(url, admin, analyst, producer, home)
    finally:
        kill(process)
        kill(producer.process)


def client(url: str, credential: str, **properties: str) -> RestCatalog:
    return RestCatalog(
        "central", uri=url, credential=credential,
        **{"oauth2-server-uri": f"{url}/v1/oauth/tokens", **properties},
    )  # fmt: skip


def test_a_mount_is_its_own_prefix_listed_loaded_and_read(central: Central) -> None:
    mounted = client(central.url, central.admin, warehouse="cdn_prod")
    producer = client(central.producer.url, central.producer.credential)

    assert ("cdn",) in mounted.list_namespaces()
    assert mounted.list_namespaces() == producer.list_namespaces()
    assert mounted.list_tables("cdn") == [("cdn", "requests")]
    table = mounted.load_table("cdn.requests")
    assert table.scan().to_arrow().sort_by("id") == REQUESTS
    with pytest.raises(NoSuchTableError):
        mounted.load_table("cdn.missing")
    own = client(central.url, central.admin)
    assert ("cdn",) not in own.list_namespaces()  # the lake's own catalog is unchanged


def test_a_commit_through_a_mount_is_refused_and_the_producer_keeps_its_rows(
    central: Central,
) -> None:
    mounted = client(central.url, central.admin, warehouse="cdn_prod")
    table = mounted.load_table("cdn.requests")

    with pytest.raises(Exception, match="catalog cdn_prod is mounted read-only here"):
        table.append(REQUESTS)

    producer = client(central.producer.url, central.producer.credential)
    assert producer.load_table("cdn.requests").scan().to_arrow().num_rows == 3


def test_a_principal_that_is_not_an_administrator_sees_nothing_of_a_mount(
    central: Central,
) -> None:
    token = requests.post(
        f"{central.url}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": central.analyst.split(":")[0],
              "client_secret": central.analyst.split(":")[1]},
        timeout=30,
    ).json()["access_token"]  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    config, no_mount = (
        requests.get(f"{central.url}/v1/config?warehouse={w}", headers=headers, timeout=30)
        for w in ("cdn_prod", "nothing")
    )
    base = f"{central.url}/v1/cdn_prod/namespaces"
    listed = requests.get(base, headers=headers, timeout=30)
    load = requests.get(f"{base}/cdn/tables/requests", headers=headers, timeout=30)

    assert config.status_code == 200 and config.json() == no_mount.json()  # as for no mount
    assert client(central.url, central.analyst, warehouse="cdn_prod").list_namespaces() == []
    assert listed.status_code == 200 and listed.json()["namespaces"] == []
    assert (
        requests.get(f"{base}/cdn/tables", headers=headers, timeout=30).json()["identifiers"] == []
    )
    assert load.status_code == 403
    assert "metadata" not in load.json()
    with pytest.raises(ForbiddenError):
        client(central.url, central.analyst).load_table("cdn_prod.requests")


def test_a_principal_granted_select_on_a_mounted_table_loads_it_through_the_mount(
    central: Central,
) -> None:
    def sql(statement: str) -> None:
        ok("sql", statement, "--home", str(central.home))

    sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")
    mounted = client(central.url, central.analyst, warehouse="cdn_prod")

    assert mounted.list_namespaces() == [("cdn",)]
    assert mounted.list_tables("cdn") == [("cdn", "requests")]
    assert mounted.load_table("cdn.requests").scan().to_arrow().sort_by("id") == REQUESTS

    sql("REVOKE SELECT ON TABLE cdn_prod.cdn.requests FROM PRINCIPAL ana")
    sql("CREATE DATA FILTER fr ON cdn_prod.cdn.requests WHERE country = 'fr'")
    sql("GRANT SELECT ON DATA FILTER fr TO PRINCIPAL ana")
    with pytest.raises(ForbiddenError, match="through the query API"):
        mounted.load_table("cdn.requests")
