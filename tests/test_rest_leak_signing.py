"""The leak catalogue on remote signing, on a real S3 server (SeaweedFS): in each
situation (the catalogue's and those across tenants, in a lake whose warehouse is on S3)
the principal, which holds no storage keys of its own, asks the catalog to sign reads of
the files of the table it must not read whole: through that table, through the table
behind its name, and through ``open.requests``, a table it reads whole. Every one is
refused, nothing it names is handed out, and nothing reaches the files unsigned; the
files of ``open.requests`` are signed for it and read.

(A mounted table is not here: its files are its producer's, never signed by this lake.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

import pyarrow.fs as pafs
import pytest
import requests

from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import SCHEMA, markers
from tests.leak_situations import (
    SITUATIONS,
    TENANT_SITUATIONS,
    Builder,
    Situation,
    batch,
    build,
)
from tests.rest_leaks import table_path
from tests.test_query_deletes import append_rows
from tests.test_s3_landing import configure

if TYPE_CHECKING:
    from tests.conftest import S3Server

pytestmark = pytest.mark.s3

OPEN = "s0.requests"
"""The table every situation's principal reads whole."""
SCRATCH = "scratch"
"""Where every situation's principal may create tables."""


@dataclass(frozen=True)
class Signing:
    served: Served
    situations: dict[str, Situation]
    endpoint: str
    files: dict[str, list[str]]
    """By table: its data files and current metadata file (``s3://`` paths)."""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def token(self, who: Credentials) -> str:
        if who.client_id not in self.tokens:
            issued = self.lake.principals.issue_token(who.client_id, who.client_secret)
            self.tokens[who.client_id] = issued.access_token
        return self.tokens[who.client_id]

    def http_url(self, s3_path: str) -> str:
        """An ``s3://bucket/key`` as the path-style URL an engine sends its request to."""
        return self.endpoint + "/" + quote(s3_path.removeprefix("s3://"), "/~")

    def sign(self, who: Credentials, table: str, uri: str) -> requests.Response:
        """``POST .../tables/{table}/sign`` of a GET of ``uri``, as ``who``."""
        return requests.post(
            self.served.url(f"/v1{table_path(table)}/sign"),
            json={"region": "us-east-1", "uri": uri, "method": "GET", "headers": {}},
            headers={"Authorization": f"Bearer {self.token(who)}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def signing(
    tmp_path_factory: pytest.TempPathFactory,
    s3_server: S3Server,
    s3_filesystem: pafs.S3FileSystem,
) -> Iterator[Signing]:
    bucket = f"leaks-{secrets.token_hex(6)}"
    s3_filesystem.create_dir(bucket)
    home = tmp_path_factory.mktemp("rest-leak-signing") / "lake"
    Lake.init(home)
    configure(home, s3_server, warehouse=f"s3://{bucket}/lake")
    try:
        with Lake.open(home) as lake:
            situations = build(lake, SITUATIONS | TENANT_SITUATIONS)
            Builder(lake, 0, "p0")
            lake.namespaces.create((SCRATCH,))
            for case in situations.values():
                lake.sql(f"GRANT SELECT ON TABLE {OPEN} TO PRINCIPAL {case.principal}")
                lake.sql(f"GRANT CREATE TABLE ON NAMESPACE {SCRATCH} TO PRINCIPAL {case.principal}")
            files = {name: _files(lake, name) for name in lake.tables.list()}
            with serving(lake, allow_anonymous=False) as served:
                yield Signing(served, situations, s3_server.endpoint, files)
    finally:
        s3_filesystem.delete_dir(bucket)


def _files(lake: Lake, name: str) -> list[str]:
    table = fixtures_lake.iceberg_table(lake, name)
    paths = [str(f["file_path"]) for f in fixtures_lake.data_files(table)]
    return [*paths, str(table.metadata_location)]


SCHEMA_JSON = {
    "type": "struct",
    "fields": [{"id": 1, "name": "x", "type": "long", "required": False}],
}
"""The schema of a table a principal creates (any will do)."""

ROUTES = {
    "the table": lambda case: case.table,
    "the table behind its name": lambda case: case.real,
    "a table it reads whole": lambda case: OPEN,
}
"""Through which table's signing route the principal asks."""

FILES = {
    "a data file": lambda files: files[0],
    "the metadata file": lambda files: files[-1],
    "a listing of its data": lambda files: files[0].rsplit("/data/", 1)[0] + "/data/",
}


@pytest.mark.parametrize("asked", list(FILES))
@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("situation", list(SITUATIONS | TENANT_SITUATIONS))
def test_no_file_of_what_the_grants_hide_is_signed(
    signing: Signing, situation: str, route: str, asked: str
) -> None:
    case = signing.situations[situation]
    path = FILES[asked](signing.files[case.real])
    uri = signing.http_url(path)
    if asked == "a listing of its data":
        bucket, _, prefix = path.removeprefix("s3://").partition("/")
        uri = f"{signing.endpoint}/{bucket}?list-type=2&prefix={quote(prefix, safe='')}"
    where = f"[{situation} / {asked} through {route}]"

    answer = signing.sign(case.credentials, ROUTES[route](case), uri)

    assert answer.status_code == 403, f"{where} {answer.text[:300]}"
    assert "uri" not in answer.json() and "Authorization" not in answer.text, where
    assert not markers(answer.text), where


@pytest.mark.parametrize("situation", list(SITUATIONS | TENANT_SITUATIONS))
def test_the_files_of_the_table_it_reads_whole_are_signed_and_read(
    signing: Signing, situation: str
) -> None:
    case = signing.situations[situation]
    path = signing.files[OPEN][0]

    answer = signing.sign(case.credentials, OPEN, signing.http_url(path))

    assert answer.status_code == 200, answer.text
    signed = answer.json()
    headers = {name: ", ".join(values) for name, values in signed["headers"].items()}
    read = requests.get(signed["uri"], headers=headers, timeout=30)
    assert read.status_code == 200 and read.content.startswith(b"PAR1")


def test_no_file_is_read_unsigned(signing: Signing) -> None:
    """What the principals read, they read only through the catalog's signatures."""
    for name, paths in signing.files.items():
        assert requests.get(signing.http_url(paths[0]), timeout=30).status_code == 403, name


@pytest.mark.parametrize("situation", list(SITUATIONS | TENANT_SITUATIONS))
def test_a_table_placed_inside_the_tables_data_gets_no_signature_for_it(
    signing: Signing, situation: str
) -> None:
    """Placed there, it would own the files (the most specific location owns a file):
    it is not made, and nothing is signed through its name."""
    case = signing.situations[situation]
    data = signing.files[case.real][0]
    inside = data.rsplit("/data/", 1)[0] + "/data"
    body = {"name": f"{case.principal}_inside", "schema": SCHEMA_JSON, "location": inside}

    made = requests.post(
        signing.served.url(f"/v1/icehouse/namespaces/{SCRATCH}/tables"),
        json=body,
        headers={"Authorization": f"Bearer {signing.token(case.credentials)}"},
        timeout=30,
    )
    answer = signing.sign(
        case.credentials, f"{SCRATCH}.{case.principal}_inside", signing.http_url(data)
    )

    assert made.status_code == 403, made.text
    assert "is, or lies inside, another table's location" in made.json()["error"]["message"]
    assert answer.status_code == 403 and "not found or not permitted" in answer.text


@pytest.mark.parametrize("situation", ["no grant", "grant revoked"])
def test_a_table_recreated_under_a_dropped_tables_name_gets_no_signature_for_its_files(
    signing: Signing, situation: str
) -> None:
    """A table dropped without purge keeps its files: re-created under its name, a table
    gets a folder of its own beside them, and the old files stay unsigned for it; placing
    a table at the old location is refused."""
    case = signing.situations[situation]
    name = f"{case.principal}_dropped"
    dotted = f"{SCRATCH}.{name}"
    signing.lake.tables.create(dotted, schema=SCHEMA)
    append_rows(signing.lake, dotted, batch(range(8001, 8013)))
    old = _files(signing.lake, dotted)
    old_location = fixtures_lake.iceberg_table(signing.lake, dotted).metadata.location
    signing.lake.tables.drop(dotted)
    headers = {"Authorization": f"Bearer {signing.token(case.credentials)}"}
    tables = signing.served.url(f"/v1/icehouse/namespaces/{SCRATCH}/tables")

    body = {"name": name, "schema": SCHEMA_JSON}
    made = requests.post(tables, json=body, headers=headers, timeout=30)
    answers = [signing.sign(case.credentials, dotted, signing.http_url(path)) for path in old]
    placed = requests.post(
        tables,
        json={"name": f"{name}_again", "schema": SCHEMA_JSON, "location": old_location},
        headers=headers,
        timeout=30,
    )

    assert made.status_code == 200, made.text
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert "lies outside the table's location" in answer.json()["error"]["message"]
        assert "uri" not in answer.json()
    assert made.json()["metadata"]["location"].startswith(f"{old_location}-")
    assert placed.status_code == 403, placed.text
    assert "files already lie at location" in placed.json()["error"]["message"]
