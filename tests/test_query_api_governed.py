"""A slice of the leak catalogue over HTTP: a governed principal reads ``web.requests``
through the query API (JSON and Arrow), ``icehouse.connect`` and ``icehouse sql
--server``, and on every path sees only the cells its grants show.

Every cell of the table names its row and column (``note-7``, ``cost-7``), so a leak is
any such value in whatever the principal was given: rows, an error, a hint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from typer.testing import CliRunner

import icehouse
from icehouse.cli.app import app
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake
from tests.fixtures_query_api import QUERY_PATH, credential
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import IDS, TABLE, make_table, markers, region_of

EU = [i for i in IDS if region_of(i) == "eu"]
EU_CELLS = {f"note-{i}" for i in EU}
"""What the analyst may see: the notes of the rows in eu; never a cost."""


@dataclass(frozen=True)
class Answer:
    rows: list[dict[str, Any]] | None
    """None: the statement was refused."""
    shown: str
    """Everything the principal was given: rows, or the error with its hints."""


Path_ = Callable[[Served, Credentials, str], Answer]


def via_json(served: Served, who: Credentials, sql: str) -> Answer:
    response = _post(served, who, {"sql": sql, "format": "json"})
    if response.status_code != 200:
        return Answer(None, response.text)
    body = response.json()
    names = [c["name"] for c in body["columns"]]
    return Answer([dict(zip(names, row, strict=True)) for row in body["rows"]], response.text)


def via_arrow(served: Served, who: Credentials, sql: str) -> Answer:
    response = _post(served, who, {"sql": sql})
    if response.status_code != 200:
        return Answer(None, response.text)
    rows = pa.ipc.open_stream(response.content).read_all().to_pylist()
    return Answer(rows, repr(rows))


def via_client(served: Served, who: Credentials, sql: str) -> Answer:
    with icehouse.connect(served.uri, credential=credential(who)) as connection:
        try:
            rows = connection.sql(sql).to_pylist()
        except icehouse.IcehouseError as exc:
            return Answer(None, exc.message)
    return Answer(rows, repr(rows))


def via_cli(served: Served, who: Credentials, sql: str) -> Answer:
    env = {"ICEHOUSE_CREDENTIAL": credential(who), "ICEHOUSE_HOME": None, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["sql", sql, "--server", served.uri, "-f", "json"], env=env)
    if result.exit_code != 0:
        return Answer(None, result.stdout + result.stderr)
    return Answer(json.loads(result.stdout), result.stdout + result.stderr)


def _post(served: Served, who: Credentials, body: dict[str, Any]) -> requests.Response:
    token = requests.post(
        served.url("/v1/oauth/tokens"),
        data={
            "grant_type": "client_credentials",
            "client_id": who.client_id,
            "client_secret": who.client_secret,
        },
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return requests.post(served.url(QUERY_PATH), json=body, headers=headers, timeout=60)


PATHS = {"api-json": via_json, "api-arrow": via_arrow, "client": via_client, "cli": via_cli}


@dataclass(frozen=True)
class Governed:
    served: Served
    analyst: Credentials
    """Through role ``eu_analysts``: data filter ``eu_only`` (region = 'eu', no cost)."""
    nobody: Credentials
    """No grant at all."""
    data_file: str


@contextmanager
def governed_lake(home: Path) -> Iterator[Governed]:
    """``web.requests`` served with tokens required; ``analyst`` reads it through a data
    filter granted to its role, ``nobody`` holds no grant."""
    Lake.init(home)
    with Lake.open(home) as lake:
        make_table(lake)
        analyst = lake.principals.create("analyst")
        nobody = lake.principals.create("nobody")
        rules = lake.governance
        rules.create_role("eu_analysts")
        rules.grant_role("eu_analysts", Grantee(GranteeKind.PRINCIPAL, "analyst"))
        rules.create_data_filter("eu_only", TABLE, where="region = 'eu'", excluding=["cost"])
        rules.grant(
            [Privilege.SELECT],
            Securable(SecurableKind.DATA_FILTER, "eu_only"),
            Grantee(GranteeKind.ROLE, "eu_analysts"),
        )
        table = fixtures_lake.iceberg_table(lake, TABLE)
        data_file = fixtures_lake.data_files(table)[0]["file_path"]
        with serving(lake, allow_anonymous=False) as served:
            yield Governed(served, analyst, nobody, data_file)


@pytest.fixture
def governed(tmp_path: Path) -> Iterator[Governed]:
    with governed_lake(tmp_path / "lake") as running:
        yield running


def _no_leak(answer: Answer, allowed: set[str], sql: str = "") -> None:
    """No cell value but ``allowed`` and those the statement itself wrote (an error
    quotes it back) is in the answer."""
    leaked = markers(answer.shown) - allowed - markers(sql)
    assert not leaked, f"leaked {sorted(leaked)}:\n{answer.shown}"


@pytest.fixture(params=sorted(PATHS))
def path(request: pytest.FixtureRequest) -> Path_:
    return PATHS[request.param]


def test_a_filtered_principal_reads_only_its_rows_and_columns(
    governed: Governed, path: Path_
) -> None:
    answer = path(governed.served, governed.analyst, f"SELECT * FROM {TABLE} ORDER BY id")

    assert answer.rows is not None, answer.shown
    assert [row["id"] for row in answer.rows] == EU
    assert {row["note"] for row in answer.rows} == EU_CELLS
    assert all(row.get("cost") is None for row in answer.rows)
    _no_leak(answer, EU_CELLS)


ESCAPES = [
    f"SELECT cost FROM {TABLE}",
    f"SELECT * FROM {TABLE} WHERE region <> 'eu'",
    f"SELECT note FROM {TABLE} WHERE cost = 'cost-1'",
    "SELECT * FROM read_parquet('{data_file}')",
    "SELECT * FROM '{data_file}'",
    "SELECT * FROM glob('{data_file}')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "COPY (SELECT 1) TO '/tmp/icehouse-leak.csv'",
    "SET enable_external_access = true",
    "SELECT table_name, column_name FROM information_schema.columns",
    f"SELECT * FROM {TABLE}; SELECT * FROM read_parquet('{{data_file}}')",
]


@pytest.mark.parametrize("escape", ESCAPES)
def test_no_escape_shows_a_cell_the_filter_hides(
    governed: Governed, path: Path_, escape: str
) -> None:
    sql = escape.replace("{data_file}", governed.data_file)

    answer = path(governed.served, governed.analyst, sql)

    _no_leak(answer, EU_CELLS, sql)
    assert all(row.get("cost") is None for row in answer.rows or [])


def test_information_schema_lists_only_the_columns_the_principal_may_read(
    governed: Governed, path: Path_
) -> None:
    """(The sandbox holds the tables a statement names: here in a comment.)"""
    sql = f"SELECT column_name FROM information_schema.columns ORDER BY ALL -- {TABLE}"

    answer = path(governed.served, governed.analyst, sql)

    assert answer.rows is not None, answer.shown
    assert {row["column_name"] for row in answer.rows} == {"id", "region", "status", "note"}


def test_a_principal_without_grants_is_told_not_found_or_not_permitted(
    governed: Governed, path: Path_
) -> None:
    hidden = path(governed.served, governed.nobody, f"SELECT * FROM {TABLE}")
    missing = path(governed.served, governed.nobody, "SELECT * FROM web.nope")
    elsewhere = path(governed.served, governed.nobody, "SELECT * FROM nope.nope")

    assert hidden.rows is None and missing.rows is None and elsewhere.rows is None
    assert f"{TABLE} not found or not permitted" in hidden.shown
    assert hidden.shown.replace(TABLE, "web.nope") == missing.shown
    assert TABLE not in elsewhere.shown  # no hint names a table it may not see
    _no_leak(hidden, set())


def test_a_revoked_grant_stops_reads_through_the_api_at_once(governed: Governed) -> None:
    lake = governed.served.lake
    assert via_client(governed.served, governed.analyst, f"SELECT id FROM {TABLE}").rows

    lake.governance.revoke_role("eu_analysts", Grantee(GranteeKind.PRINCIPAL, "analyst"))

    for path in PATHS.values():
        answer = path(governed.served, governed.analyst, f"SELECT * FROM {TABLE}")
        assert answer.rows is None
        assert "not found or not permitted" in answer.shown
        _no_leak(answer, set())


def test_explain_over_the_api_shows_the_filter_applied(governed: Governed) -> None:
    with icehouse.connect(governed.served.uri, credential=credential(governed.analyst)) as c:
        answer = c.explain(f"SELECT id FROM {TABLE} WHERE id > 3")

    [plan] = answer.plans
    assert "region = 'eu'" in plan["pushed_filter"]
    assert plan["files_planned"] == 1
    assert answer.table.column("id").to_pylist() == [i for i in EU if i > 3]


@pytest.mark.postgres
def test_on_a_postgresql_state_database_the_filter_holds_on_every_path(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    with governed_lake(tmp_path / "lake") as on_postgres:
        assert on_postgres.served.lake.config.state_url == postgres_url
        for path in PATHS.values():
            answer = path(on_postgres.served, on_postgres.analyst, f"SELECT * FROM {TABLE}")
            assert answer.rows is not None, answer.shown
            assert sorted(row["id"] for row in answer.rows) == EU
            _no_leak(answer, EU_CELLS)
            refused = path(on_postgres.served, on_postgres.nobody, f"SELECT * FROM {TABLE}")
            assert refused.rows is None and "not found or not permitted" in refused.shown
