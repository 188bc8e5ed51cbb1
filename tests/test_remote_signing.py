"""Remote signing on a real S3 server (SeaweedFS): an engine that holds no storage keys
reads (and, with INSERT, writes) a table on S3 through signatures the catalog makes
with the lake's own keys, for that table's files only, for a principal with unfiltered
SELECT, decided again at each request (a revoked grant, an expired token stop it).

The consumer is PyIceberg's REST client given only a catalog credential: the
``config`` of loadTable turns its signer on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa
import pytest
import requests
from pyiceberg.exceptions import ForbiddenError
from pyiceberg.table import Table
from pyiceberg.utils.concurrent import ExecutorFactory

from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import IDS, TABLE, batch, make_table
from tests.test_s3_landing import configure

if TYPE_CHECKING:
    from tests.conftest import S3Server

pytestmark = pytest.mark.s3

OTHER = "web.other"
API = "/v1/icehouse/namespaces/web/tables"


class Clock:
    """The served lake's clock, moved by the test (tokens expire by it)."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Signing:
    served: Served
    clock: Clock
    storage: dict[str, str]

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def principal(self, name: str, *privileges: Privilege, table: str = TABLE) -> Credentials:
        credentials = self.lake.principals.create(name, kind="service")
        if privileges:
            self.lake.governance.grant(
                list(privileges),
                Securable(SecurableKind.TABLE, table),
                Grantee(GranteeKind.PRINCIPAL, name),
            )
        return credentials

    def consumer(self, who: Credentials) -> Any:
        """A PyIceberg REST client with a catalog credential and no S3 settings at all."""
        return self.served.client(credential=f"{who.client_id}:{who.client_secret}")

    def token(self, who: Credentials) -> str:
        return self.lake.principals.issue_token(who.client_id, who.client_secret).access_token

    def sign(
        self, who: Credentials | str, uri: str, *, method: str = "GET", table: str = "requests"
    ) -> requests.Response:
        """``POST .../tables/{table}/sign`` as ``who`` (a principal, or a bearer token)."""
        token = who if isinstance(who, str) else self.token(who)
        return requests.post(
            self.served.url(f"{API}/{table}/sign"),
            json={"region": "us-east-1", "uri": uri, "method": method, "headers": {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def http_url(self, s3_path: str) -> str:
        """An ``s3://bucket/key`` as the path-style URL an engine sends its request to."""
        return self.storage["s3.endpoint"] + "/" + quote(s3_path.removeprefix("s3://"), "/~")


@pytest.fixture
def signing(
    tmp_path: Path,
    s3_server: S3Server,
    make_s3_bucket,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Signing]:
    with signing_lake(tmp_path, s3_server, make_s3_bucket("signing"), monkeypatch) as made:
        yield made


@contextmanager
def signing_lake(
    tmp_path: Path, s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Signing]:
    """A lake home on S3 with ``web.requests`` and ``web.other``, served, whose
    consumers hold no S3 keys (its state database: ``ICEHOUSE_STATE_URL``, else SQLite)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # the consumer holds no keys from anywhere
    # PyIceberg 0.12 installs its signer on s3fs's shared client once per worker thread,
    # unregistering it first: a request another thread sends meanwhile goes out unsigned
    # and S3 refuses it. One worker, as docs/serve.md tells PyIceberg users.
    monkeypatch.setenv("PYICEBERG_MAX_WORKERS", "1")
    monkeypatch.setattr(ExecutorFactory, "_instance", None)
    home = tmp_path / "lake"
    Lake.init(home)
    configure(home, s3_server, warehouse=f"s3://{bucket}/lake")
    clock = Clock()
    with Lake.open(home, clock=clock) as lake:
        make_table(lake)
        make_table(lake, OTHER)
        with serving(lake, allow_anonymous=False) as served:
            yield Signing(served, clock, dict(s3_server.storage))
    if ExecutorFactory._instance is not None:  # this test's own pool
        ExecutorFactory._instance.shutdown()


def data_files(lake: Lake, name: str) -> list[str]:
    from tests import fixtures_lake

    table = fixtures_lake.iceberg_table(lake, name)
    return [task.file.file_path for task in table.scan().plan_files()]


def ids(table: Table) -> list[int]:
    return sorted(table.scan().to_arrow().column("id").to_pylist())


def test_a_consumer_without_storage_keys_reads_the_table_through_signatures(
    signing: Signing,
) -> None:
    reader = signing.principal("reader", Privilege.SELECT)

    table = signing.consumer(reader).load_table(TABLE)

    assert ids(table) == list(IDS)
    assert table.io.properties["s3.remote-signing-enabled"] == "true"
    handed = set(table.io.properties.values())
    assert signing.storage["s3.secret-access-key"] not in handed
    assert signing.storage["s3.access-key-id"] not in handed


def test_the_files_are_not_readable_without_a_signature(signing: Signing) -> None:
    """What the consumer reads, it reads only through the catalog's signatures."""
    path = data_files(signing.lake, TABLE)[0]

    unsigned = requests.get(signing.http_url(path), timeout=30)

    assert unsigned.status_code == 403


def test_the_signature_is_for_the_one_request_it_was_asked_for(signing: Signing) -> None:
    reader = signing.principal("reader", Privilege.SELECT)
    path = data_files(signing.lake, TABLE)[0]

    answer = signing.sign(reader, signing.http_url(path))

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-cache"
    signed = answer.json()
    headers = {name: ", ".join(values) for name, values in signed["headers"].items()}
    assert requests.get(signed["uri"], headers=headers, timeout=30).status_code == 200
    assert requests.delete(signed["uri"], headers=headers, timeout=30).status_code == 403


def test_a_file_of_another_table_is_refused(signing: Signing) -> None:
    reader = signing.principal("reader", Privilege.SELECT)
    others = signing.http_url(data_files(signing.lake, OTHER)[0])

    through_its_own_table = signing.sign(reader, others)
    through_the_other_table = signing.sign(reader, others, table="other")

    assert through_its_own_table.status_code == 403
    assert "lies outside the table's location" in through_its_own_table.json()["error"]["message"]
    assert through_the_other_table.status_code == 403
    assert "not found or not permitted" in through_the_other_table.json()["error"]["message"]


def test_a_writer_cannot_copy_another_tables_file_into_its_table(signing: Signing) -> None:
    writer = signing.principal("writer", Privilege.SELECT, Privilege.INSERT)
    mine = signing.http_url(data_files(signing.lake, TABLE)[0])
    others = data_files(signing.lake, OTHER)[0].removeprefix("s3://")

    answer = requests.post(
        signing.served.url(f"{API}/requests/sign"),
        json={
            "region": "us-east-1",
            "uri": mine + ".copy",
            "method": "PUT",
            "headers": {"x-amz-copy-source": [others]},
        },
        headers={"Authorization": f"Bearer {signing.token(writer)}"},
        timeout=30,
    )

    assert answer.status_code == 400
    assert "the header x-amz-copy-source is not signed" in answer.json()["error"]["message"]


def test_a_table_created_around_another_gets_no_signature_for_its_files(
    signing: Signing,
) -> None:
    """A principal may not create it there, where files already lie; one an
    administrator placed there and granted it is still signed none of the other's."""
    creator = signing.principal("creator")
    signing.lake.governance.grant(
        [Privilege.CREATE_TABLE],
        Securable(SecurableKind.NAMESPACE, "web"),
        Grantee(GranteeKind.PRINCIPAL, "creator"),
    )
    theirs = data_files(signing.lake, TABLE)[0]
    around = theirs.split("/requests/")[0]  # the parent prefix of web.requests' location
    schema = pa.schema([("id", pa.int64())])
    with pytest.raises(ForbiddenError, match="files already lie at location"):
        signing.consumer(creator).create_table("web.around", schema=schema, location=around)
    admin = signing.lake.principals.create("placer", admin=True)
    signing.consumer(admin).create_table("web.around", schema=schema, location=around)
    signing.lake.governance.grant(
        [Privilege.SELECT],
        Securable(SecurableKind.TABLE, "web.around"),
        Grantee(GranteeKind.PRINCIPAL, "creator"),
    )

    answer = signing.sign(creator, signing.http_url(theirs), table="around")

    assert answer.status_code == 403
    assert "lies in another table's location too" in answer.json()["error"]["message"]


def test_a_path_in_the_warehouse_that_no_table_owns_is_refused(signing: Signing) -> None:
    """Signing looks up only the tables whose location could hold the path: one
    beside every table, or beside the table under a longer name, still belongs to
    none the principal reads."""
    reader = signing.principal("reader", Privilege.SELECT)
    location = fixtures_lake.iceberg_table(signing.lake, TABLE).metadata.location
    admin = signing.lake.principals.create("placer", admin=True)
    schema = pa.schema([("id", pa.int64())])
    signing.consumer(admin).create_table("web.longer", schema=schema, location=location + "x")
    paths = [
        location.rsplit("/", 1)[0] + "/nowhere/data/x.parquet",
        location + "x/data/x.parquet",
        location + "x/metadata/00000-x.metadata.json",
    ]

    answers = [signing.sign(reader, signing.http_url(path)) for path in paths]

    for path, answer in zip(paths, answers, strict=True):
        assert answer.status_code == 403, path
        assert "lies outside the table's location" in answer.json()["error"]["message"]
        assert "uri" not in answer.json()


def test_a_table_created_inside_another_after_a_signature_stops_the_next_one(
    signing: Signing,
) -> None:
    """Nothing about where tables lie is kept between requests: the table placed inside
    the data folder owns its files from then on, and the next request for one is
    refused."""
    reader = signing.principal("reader", Privilege.SELECT)
    path = data_files(signing.lake, TABLE)[0]
    assert signing.sign(reader, signing.http_url(path)).status_code == 200
    admin = signing.lake.principals.create("placer", admin=True)
    inside = path.rsplit("/", 1)[0]
    schema = pa.schema([("id", pa.int64())])
    signing.consumer(admin).create_table("web.inside", schema=schema, location=inside)

    answer = signing.sign(reader, signing.http_url(path))

    assert answer.status_code == 403
    assert "lies in another table's location too" in answer.json()["error"]["message"]


def test_a_table_placed_outside_the_warehouse_gets_no_signature_there(signing: Signing) -> None:
    """A landing prefix beside the warehouse holds raw logs that no table owns: a
    principal allowed to create tables must not open it by placing a table on it."""
    creator = signing.principal("creator")
    signing.lake.governance.grant(
        [Privilege.CREATE_TABLE],
        Securable(SecurableKind.NAMESPACE, "web"),
        Grantee(GranteeKind.PRINCIPAL, "creator"),
    )
    lake_file = data_files(signing.lake, TABLE)[0]
    landing = lake_file.split("/lake/")[0] + "/landing"
    schema = pa.schema([("id", pa.int64())])
    signing.consumer(creator).create_table("web.landed", schema=schema, location=landing)

    answer = signing.sign(creator, signing.http_url(f"{landing}/raw.jsonl.gz"), table="landed")

    assert answer.status_code == 403
    assert "lies outside the lake's warehouse" in answer.json()["error"]["message"]


def test_a_path_that_climbs_out_of_the_table_is_refused(signing: Signing) -> None:
    reader = signing.principal("reader", Privilege.SELECT)
    mine = signing.http_url(data_files(signing.lake, TABLE)[0])
    climbing = mine.split("/data/")[0] + "/../other/metadata/x.avro"

    answer = signing.sign(reader, climbing)

    assert answer.status_code == 400
    assert "'..' segment" in answer.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["service", "engine"])
def test_a_filtered_principal_gets_no_signature_even_as_a_trusted_engine(
    signing: Signing, kind: str
) -> None:
    analyst = signing.lake.principals.create("analyst", kind=kind)
    signing.lake.governance.create_data_filter("eu_only", TABLE, where="region = 'eu'")
    signing.lake.governance.grant(
        [Privilege.SELECT],
        Securable(SecurableKind.DATA_FILTER, "eu_only"),
        Grantee(GranteeKind.PRINCIPAL, "analyst"),
    )
    loaded = requests.get(
        signing.served.url(f"{API}/requests"),
        headers={"Authorization": f"Bearer {signing.token(analyst)}"},
        timeout=30,
    )

    answer = signing.sign(analyst, signing.http_url(data_files(signing.lake, TABLE)[0]))

    assert answer.status_code == 403
    message = answer.json()["error"]["message"]
    assert "its SELECT on it is filtered" in message and "POST /api/v1/query" in message
    if kind == "engine":  # handed the table with read restrictions, and no signer
        assert loaded.status_code == 200 and loaded.json()["config"] == {}
    else:
        assert loaded.status_code == 403


def test_a_revoked_grant_stops_the_next_read(signing: Signing) -> None:
    reader = signing.principal("reader", Privilege.SELECT)
    table = signing.consumer(reader).load_table(TABLE)
    assert ids(table) == list(IDS)

    signing.lake.governance.revoke(
        [Privilege.SELECT],
        Securable(SecurableKind.TABLE, TABLE),
        Grantee(GranteeKind.PRINCIPAL, "reader"),
    )

    with pytest.raises(Exception, match="Failed to sign request 403"):
        ids(table)


def test_an_expired_token_is_refused(signing: Signing) -> None:
    reader = signing.principal("reader", Privilege.SELECT)
    token = signing.token(reader)
    path = signing.http_url(data_files(signing.lake, TABLE)[0])
    assert signing.sign(token, path).status_code == 200

    signing.clock.now += 24 * 3600.0

    answer = signing.sign(token, path)
    assert answer.status_code == 401


def test_writing_needs_insert(signing: Signing) -> None:
    reader = signing.principal("reader", Privilege.SELECT)
    writer = signing.principal("writer", Privilege.SELECT, Privilege.INSERT)
    rows = batch([100, 101])
    more = rows.cast(rows.schema.set(0, pa.field("id", pa.int64(), nullable=False)))

    with pytest.raises(Exception, match="Failed to sign request 403"):
        signing.consumer(reader).load_table(TABLE).append(more)
    signing.consumer(writer).load_table(TABLE).append(more)

    assert ids(signing.consumer(reader).load_table(TABLE)) == [*IDS, 100, 101]


def test_deleting_a_file_needs_delete(signing: Signing) -> None:
    writer = signing.principal("writer", Privilege.SELECT, Privilege.INSERT)
    cleaner = signing.principal("cleaner", Privilege.SELECT, Privilege.DELETE)
    path = signing.http_url(data_files(signing.lake, TABLE)[0])

    refused = signing.sign(writer, path, method="DELETE")

    assert refused.status_code == 403
    assert "it needs DELETE on table web.requests" in refused.json()["error"]["message"]
    assert signing.sign(cleaner, path, method="DELETE").status_code == 200


def test_a_table_created_by_the_consumer_is_written_through_signatures(signing: Signing) -> None:
    creator = signing.principal("creator")
    signing.lake.governance.grant(
        [Privilege.CREATE_TABLE],
        Securable(SecurableKind.NAMESPACE, "web"),
        Grantee(GranteeKind.PRINCIPAL, "creator"),
    )
    rows = pa.table({"id": pa.array([7, 8], pa.int64()), "name": ["a", "b"]})

    created = signing.consumer(creator).create_table("web.fresh", schema=rows.schema)
    created.append(rows)

    assert created.location().startswith("s3://")
    assert signing.lake.sql("SELECT id FROM web.fresh ORDER BY id").to_pylist() == [
        {"id": 7},
        {"id": 8},
    ]


@pytest.mark.postgres
def test_signing_decides_on_a_postgresql_state_database(
    tmp_path: Path,
    s3_server: S3Server,
    make_s3_bucket,  # type: ignore[no-untyped-def]
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    bucket = make_s3_bucket("signing")
    with signing_lake(tmp_path, s3_server, bucket, monkeypatch) as signing:
        assert signing.lake.config.state_url == postgres_url
        reader = signing.principal("reader", Privilege.SELECT)
        table = signing.consumer(reader).load_table(TABLE)
        assert ids(table) == list(IDS)

        signing.lake.governance.revoke(
            [Privilege.SELECT],
            Securable(SecurableKind.TABLE, TABLE),
            Grantee(GranteeKind.PRINCIPAL, "reader"),
        )

        with pytest.raises(Exception, match="Failed to sign request 403"):
            ids(table)


def test_a_table_on_a_local_warehouse_is_handed_without_signing(tmp_path: Path) -> None:
    home = tmp_path / "local"
    Lake.init(home)
    with Lake.open(home) as lake:
        make_table(lake)
        with serving(lake) as served:
            answer = requests.get(served.url(f"{API}/requests"), timeout=30)

    assert answer.json()["config"] == {}
