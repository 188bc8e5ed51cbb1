"""Producer catalogs mounted into a lake (``lake.catalogs``): kept in the state database
with their credentials sealed by the home's key file, checked when mounted, and sharing
one name space with the lake's top-level namespaces."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, select, text

from icehouse.errors import (
    CatalogUnavailable,
    Forbidden,
    InvalidInput,
    MountNameTaken,
    NoSuchMount,
    SealedSecretUnreadable,
)
from icehouse.govern import mounts
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.state import models
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate
from icehouse.state.secrets import SecretBox
from tests import fixtures_lake
from tests.fixtures_federation import sql_producer

home = fixtures_lake.home
lake = fixtures_lake.lake

SECRET = "central:s3cr3t-of-the-producer"


def test_a_version_10_database_gains_the_mounts_table(state_engine: Engine) -> None:
    migrate(state_engine)
    with state_engine.begin() as conn:
        conn.execute(text("DROP TABLE fed_mounts"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (10, 0)"))

    assert migrate(state_engine) == SCHEMA_VERSION - 10

    assert current_version(state_engine) == SCHEMA_VERSION
    assert mounts.list_mounts(state_engine) == []


def test_a_mounts_secret_is_stored_sealed_and_opens_only_with_its_homes_key(
    state_engine: Engine, tmp_path: Path
) -> None:
    migrate(state_engine)
    box = SecretBox(tmp_path)
    mounts.create_mount(state_engine, name="cdn_prod", type="rest", uri="http://p:1/",
                        warehouse=None, sealed_secret=box.seal(SECRET))  # fmt: skip

    (listed,) = mounts.list_mounts(state_engine)
    assert (listed.name, listed.type, listed.uri, listed.has_credential) == (
        "cdn_prod", "rest", "http://p:1/", True,
    )  # fmt: skip
    with state_engine.connect() as conn:
        stored = conn.execute(select(models.mounts.c.secret)).scalar_one()
    assert "s3cr3t" not in stored
    assert box.open(mounts.sealed_secret(state_engine, "cdn_prod") or "") == SECRET
    assert oct((tmp_path / "secrets.key").stat().st_mode & 0o777) == "0o600"

    another_home = tmp_path / "another"
    another_home.mkdir()
    SecretBox(another_home).seal("its own")
    with pytest.raises(SealedSecretUnreadable, match="does not open the stored secret"):
        SecretBox(another_home).open(stored)
    with pytest.raises(SealedSecretUnreadable, match=r"secrets\.key is missing"):
        SecretBox(tmp_path / "nowhere").open(stored)


def test_a_sql_catalog_is_mounted_listed_and_unmounted(lake: Lake, tmp_path: Path) -> None:
    url = sql_producer(tmp_path / "producer")

    made = lake.catalogs.mount("cdn_prod", type="sql", uri=url)

    assert lake.catalogs.list() == [made]
    assert (made.name, made.type, made.uri, made.has_credential) == (
        "cdn_prod", "sql", url, False,
    )  # fmt: skip
    lake.catalogs.unmount("cdn_prod")
    assert lake.catalogs.list() == []
    with pytest.raises(NoSuchMount, match="no catalog is mounted as 'cdn_prod'"):
        lake.catalogs.unmount("cdn_prod")


@pytest.mark.postgres
def test_a_sql_urls_password_is_sealed_and_never_listed(
    lake: Lake, tmp_path: Path, postgres_url: str
) -> None:
    """A SQL URL's password is the producer's credential: listed masked, stored sealed
    (the test server trusts loopback, so any password connects)."""
    url = make_url(sql_producer(tmp_path / "producer", url=postgres_url))
    with_password = url.set(password="pa55word").render_as_string(hide_password=False)

    made = lake.catalogs.mount("cdn_prod", type="sql", uri=with_password)

    assert "pa55word" not in repr(lake.catalogs.list())
    assert made.uri == url.render_as_string().replace("postgres@", "postgres:***@")
    assert made.has_credential
    with lake._engine.connect() as conn:
        assert "pa55word" not in str(conn.execute(select(models.mounts)).all())
    with Lake.open(lake.home) as reopened:  # opens the producer with the unsealed URL
        rows = reopened.sql("SELECT count(*) AS n FROM cdn_prod.cdn.requests").to_pylist()
    assert rows == [{"n": 3}]


def test_a_mount_and_a_top_level_namespace_refuse_each_others_name(
    lake: Lake, tmp_path: Path
) -> None:
    url = sql_producer(tmp_path / "producer")
    lake.namespaces.create(("cdn",))

    with pytest.raises(MountNameTaken, match="namespace 'cdn' exists in this catalog"):
        lake.catalogs.mount("cdn", type="sql", uri=url)

    lake.catalogs.mount("cdn_prod", type="sql", uri=url)
    with pytest.raises(MountNameTaken, match="a catalog is mounted as 'cdn_prod'"):
        lake.namespaces.create(("cdn_prod",))
    with pytest.raises(MountNameTaken, match="a catalog is mounted as 'cdn_prod'"):
        lake.tables.create("cdn_prod.requests", schema={"id": "long"})
    lake.namespaces.create(("web", "cdn_prod"))  # only the top level shares names
    assert [m.name for m in lake.catalogs.list()] == ["cdn_prod"]


def test_a_producer_that_does_not_answer_is_not_mounted(lake: Lake, tmp_path: Path) -> None:
    with pytest.raises(CatalogUnavailable) as caught:
        lake.catalogs.mount("cdn_prod", type="rest", uri="http://127.0.0.1:9")
    assert caught.value.message.startswith(
        "catalog cdn_prod at http://127.0.0.1:9 is unreachable: "
    )
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    with pytest.raises(CatalogUnavailable, match=f"catalog cdn_prod at {missing} is unreach"):
        lake.catalogs.mount("cdn_prod", type="sql", uri=missing)
    assert not (tmp_path / "none.db").exists()
    assert lake.catalogs.list() == []


def test_a_sql_database_holding_several_catalogs_needs_the_one_named(
    lake: Lake, tmp_path: Path
) -> None:
    url = sql_producer(tmp_path / "producer", catalog="prod")
    sql_producer(tmp_path / "producer", catalog="staging")

    with pytest.raises(InvalidInput, match=r"holds 2 catalogs \(prod, staging\): name one"):
        lake.catalogs.mount("cdn_prod", type="sql", uri=url)
    made = lake.catalogs.mount("cdn_prod", type="sql", uri=url, warehouse="staging")
    assert made.warehouse == "staging"


def test_only_administrators_mount_and_unmount_and_others_list_none(
    lake: Lake, tmp_path: Path
) -> None:
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    analyst = lake.as_principal(Principal("ana", admin=False))

    with pytest.raises(Forbidden, match="only an administrator may"):
        analyst.catalogs.mount("other", type="sql", uri="sqlite:///x.db")
    with pytest.raises(Forbidden, match="only an administrator may"):
        analyst.catalogs.unmount("cdn_prod")
    assert analyst.catalogs.list() == []
    assert [m.name for m in lake.catalogs.list()] == ["cdn_prod"]
