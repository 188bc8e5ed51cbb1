"""The REST catalog over a lake whose state database is PostgreSQL: commits from two
clients race on PostgreSQL's row update, and the lake reads what they wrote."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import OAuthError
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from icehouse.lake import Lake
from tests.fixtures_server import serving

pytestmark = pytest.mark.postgres

SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))


def test_clients_of_a_postgresql_lake_commit_concurrently_and_exactly_once(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake, serving(lake) as served:
        assert lake.config.state_url == postgres_url
        setup = served.client()
        setup.create_namespace("web")
        setup.create_table("web.hits", SCHEMA)
        start = threading.Barrier(2)

        def append_three(first_id: int) -> None:
            table = served.client().load_table("web.hits")
            start.wait()
            for i in range(first_id, first_id + 3):
                table.append(pa.table({"id": [i]}))

        workers = [threading.Thread(target=append_three, args=(n,)) for n in (0, 100)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

        ids = lake.sql("SELECT id FROM web.hits ORDER BY id").column("id").to_pylist()
        assert ids == [0, 1, 2, 100, 101, 102]
        assert setup.list_namespaces() == [("web",)]
        setup.drop_table("web.hits")
        setup.drop_namespace("web")
        assert lake.tables.list() == []


def test_a_principal_of_a_postgresql_lake_connects_and_its_deletion_stops_its_token(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake, serving(lake, allow_anonymous=False) as served:
        admin = lake.principals.create("etl", admin=True)
        catalog = served.client(credential=f"{admin.client_id}:{admin.client_secret}")
        catalog.create_namespace("web")
        assert lake.namespaces.list() == [("web",)]

        lake.principals.delete("etl")

        with pytest.raises(OAuthError, match="invalid_client"):  # its 401, then no new token
            catalog.list_namespaces()
