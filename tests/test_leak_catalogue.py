"""The leak catalogue on real grants, through every path: in each situation a governed
principal tries every escape, and gets no cell its grants do not show, while what they
do show stays readable.

Situations (``tests/leak_situations.py``, all in one lake home, set up once with real
statements): no grant, a column excluded, a row filter, two filters on one table (per
cell), a grant revoked, a tag changed after the grant, a role membership removed, the
table renamed, columns renamed, time travel, a view over the filtered table, and a
resource link to a table not granted and to a filtered one; and across tenants: a tenant's
principal reading a share its administrator has not re-granted yet (and another tenant
has), a re-grant beyond the grant option, a re-grant after the share was revoked, and
another tenant's objects (its share, role, link).
Paths: ``lake.as_principal(p).sql`` (local), the query API (JSON and Arrow), the Python
client ``icehouse.connect``, and ``icehouse sql --server``, against one real server.
State databases: SQLite (every path), and PostgreSQL (marked ``postgres``: the local path
and the query API's JSON, ``BACKENDS``), each with a lake home of its own.
Every cell holds a value naming its row and column (``note-107``), so a leak is any such
value in whatever the principal was given (rows, an error, a hint) that the situation
does not allow.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from typer.testing import CliRunner

import icehouse
from icehouse.cli.app import app
from icehouse.client.connection import Connection
from icehouse.errors import IcehouseError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.conftest import new_postgres_database
from tests.fixtures_query_api import QUERY_PATH, credential
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import markers
from tests.leak_situations import (
    ESCAPES,
    SITUATIONS,
    TENANT_SITUATIONS,
    TRANSPORT_ESCAPES,
    Situation,
    batch,
    build,
    fill,
)

CATALOGUE = SITUATIONS | TENANT_SITUATIONS
"""Every situation: those inside one tenant, and those across tenants."""

secret_rows = batch(range(1, 13))
"""A Python variable holding cells: the sandbox must not scan it by name."""


@dataclass
class Catalogue:
    """The lake with every situation, served; tokens and client connections are made
    once per principal (a token costs a secret's hash on the server)."""

    served: Served
    situations: dict[str, Situation]
    scratch: Path
    tokens: dict[str, str] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def token(self, case: Situation) -> str:
        if case.principal not in self.tokens:
            answer = requests.post(
                self.served.url("/v1/oauth/tokens"),
                data={
                    "grant_type": "client_credentials",
                    "client_id": case.credentials.client_id,
                    "client_secret": case.credentials.client_secret,
                },
                timeout=30,
            )
            self.tokens[case.principal] = answer.json()["access_token"]
        return self.tokens[case.principal]

    def connection(self, case: Situation) -> Connection:
        if case.principal not in self.connections:
            self.connections[case.principal] = icehouse.connect(
                self.served.uri, token=self.token(case)
            )
        return self.connections[case.principal]


@pytest.fixture(scope="module")
def catalogues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Catalogue]]:
    """The catalogue on a state database (``BACKENDS``), set up the first time a test
    asks for it and kept for the module's other tests on it."""
    made: dict[str, Catalogue] = {}
    with contextlib.ExitStack() as stack:

        def on(backend: str) -> Catalogue:
            if backend not in made:
                root = tmp_path_factory.mktemp(f"leaks-{backend}")
                state_url = None
                if backend == "postgresql":
                    state_url = stack.enter_context(new_postgres_database())
                made[backend] = stack.enter_context(_served_catalogue(root, state_url))
            return made[backend]

        yield on


@pytest.fixture
def catalogue(request: pytest.FixtureRequest, catalogues: Callable[[str], Catalogue]) -> Catalogue:
    """The catalogue on the state database the test's parameter names."""
    return catalogues(request.param)


@contextlib.contextmanager
def _served_catalogue(root: Path, state_url: str | None) -> Iterator[Catalogue]:
    """Every situation in a new lake home in ``root`` (its state database at
    ``state_url``, else the home's SQLite file), served."""
    with pytest.MonkeyPatch.context() as env:
        if state_url is not None:
            env.setenv("ICEHOUSE_STATE_URL", state_url)
        Lake.init(root / "lake")
        opened = Lake.open(root / "lake")
    with opened as lake:
        situations = build(lake, CATALOGUE)
        with serving(lake, allow_anonymous=False) as served:
            running = Catalogue(served, situations, root)
            try:
                yield running
            finally:
                for connection in running.connections.values():
                    connection.close()


@dataclass(frozen=True)
class Answer:
    rows: list[dict[str, Any]] | None
    """None: the statement was refused."""
    shown: str
    """Everything the principal was given: rows, or the error with its hints."""


def via_local(c: Catalogue, case: Situation, sql: str) -> Answer:
    lake = c.lake.as_principal(Principal(case.principal, admin=False))
    try:
        rows = lake.sql(sql).to_pylist()
    except IcehouseError as exc:
        return Answer(None, str(exc))
    return Answer(rows, repr(rows))


def via_json(c: Catalogue, case: Situation, sql: str) -> Answer:
    response = _post(c, case, {"sql": sql, "format": "json"})
    if response.status_code != 200:
        return Answer(None, response.text)
    body = response.json()
    names = [column["name"] for column in body["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in body["rows"]]
    return Answer(rows, response.text + repr(rows))


def via_arrow(c: Catalogue, case: Situation, sql: str) -> Answer:
    response = _post(c, case, {"sql": sql})
    if response.status_code != 200:
        return Answer(None, response.text)
    rows = pa.ipc.open_stream(response.content).read_all().to_pylist()
    return Answer(rows, repr(rows))


def via_client(c: Catalogue, case: Situation, sql: str) -> Answer:
    try:
        rows = c.connection(case).sql(sql).to_pylist()
    except IcehouseError as exc:
        return Answer(None, exc.message)
    return Answer(rows, repr(rows))


def via_cli(c: Catalogue, case: Situation, sql: str) -> Answer:
    env = {
        "ICEHOUSE_CREDENTIAL": credential(case.credentials),
        "ICEHOUSE_HOME": None,
        "COLUMNS": "200",
    }
    args = ["sql", sql, "--server", c.served.uri, "-f", "json"]
    result = CliRunner().invoke(app, args, env=env)
    if result.exit_code != 0:
        return Answer(None, result.stdout + result.stderr)
    rows = json.loads(result.stdout)
    return Answer(rows, result.stdout + result.stderr + repr(rows))


def _post(c: Catalogue, case: Situation, body: dict[str, Any]) -> requests.Response:
    headers = {"Authorization": f"Bearer {c.token(case)}"}
    return requests.post(c.served.url(QUERY_PATH), json=body, headers=headers, timeout=60)


Via = Callable[[Catalogue, Situation, str], Answer]
PATHS: dict[str, Via] = {
    "local": via_local,
    "api-json": via_json,
    "api-arrow": via_arrow,
    "client": via_client,
    "cli": via_cli,
}

EVERY_ESCAPE_BY_DEFAULT = ("local", "api-json")
"""The paths that try every escape by default. The others carry the same statements to
the same engine, so by default they try ``TRANSPORT_ESCAPES`` (one of each kind of
answer: rows, a refusal before reading, DuckDB's refusal, a listing, time travel, a
DELETE) and no more: the rest of the matrix would test the engine again (three times
over, ``icehouse sql --server`` trading its credential for a token on every invocation)
and cost the suite minutes."""


@dataclass(frozen=True)
class Backend:
    """The paths the catalogue takes on one state database."""

    paths: tuple[str, ...]
    every_escape: tuple[str, ...]
    """The paths that try every escape and every listing; the others try
    ``TRANSPORT_ESCAPES``."""


BACKENDS = {
    "sqlite": Backend(tuple(PATHS), EVERY_ESCAPE_BY_DEFAULT),
    "postgresql": Backend(("local", "api-json"), ("local",)),
}
"""Each state database the catalogue runs on. On PostgreSQL the same code reads the
grants, filters, tags, views and tokens from another database: the local path tries
every escape, and the query API's JSON (a server's tokens, its request trail, its
threads) one of each kind; the other transports would test SQLite's run again, and every
escape through the API too doubled the minutes PostgreSQL adds to CI."""


def _param(backend: str, *values: str) -> Any:
    """A case on ``backend`` (the ``catalogue`` fixture's parameter)."""
    marks = [pytest.mark.postgres] if backend == "postgresql" else []
    return pytest.param(backend, *values, marks=marks, id="-".join((backend, *values)))


def _situations(backend: str) -> dict[str, Any]:
    """The situations tried on ``backend``: those across tenants read the same grants
    and filters as the others, so SQLite alone tries them."""
    return CATALOGUE if backend == "sqlite" else SITUATIONS


def _every_escape(on: Backend, path: str, situation: str) -> bool:
    """Does ``path`` try every escape in ``situation``? Across tenants, the local path
    alone does: the escapes are the engine's, and the transports were tried on it."""
    if situation in TENANT_SITUATIONS:
        return path == on.every_escape[0]
    return path in on.every_escape


def _cases() -> Iterator[Any]:
    for backend, on in BACKENDS.items():
        for path in on.paths:
            for situation in _situations(backend):
                for escape in ESCAPES:
                    if _every_escape(on, path, situation) or escape in TRANSPORT_ESCAPES:
                        yield _param(backend, path, situation, escape)


def _paths_and_situations() -> Iterator[Any]:
    for backend, on in BACKENDS.items():
        for path in on.paths:
            for situation in _situations(backend):
                yield _param(backend, path, situation)


@pytest.mark.parametrize(
    ("catalogue", "path", "situation", "escape"), _cases(), indirect=["catalogue"]
)
def test_no_escape_shows_a_cell_the_grants_hide(
    catalogue: Catalogue, path: str, situation: str, escape: str
) -> None:
    case = catalogue.situations[situation]
    template, refused = ESCAPES[escape]
    sql = fill(template, case, catalogue.lake, catalogue.scratch)
    where = f"[{path} / {situation} / {escape}]"

    answer = PATHS[path](catalogue, case, sql)

    if answer.rows is not None:
        assert not refused, f"{where} ran: {answer.shown[:300]}"
        for column in case.hidden_columns:
            assert f"'{column}'" not in repr(answer.rows), f"{where} shows {column}"
    leaked = markers(answer.shown) - markers(sql) - case.cells
    assert not leaked, f"{where} leaked {sorted(leaked)}: {answer.shown[:300]}"
    assert not (catalogue.scratch / "out.csv").exists(), f"{where} wrote a file"
    if escape == "DELETE":
        left = fixtures_lake.rows_of(catalogue.lake, f"SELECT count(*) AS n FROM {case.real}")
        assert left[0]["n"] >= 12, f"{where} deleted rows"


@pytest.mark.parametrize(
    ("catalogue", "path", "situation"), _paths_and_situations(), indirect=["catalogue"]
)
def test_the_allowed_part_stays_readable(catalogue: Catalogue, path: str, situation: str) -> None:
    case = catalogue.situations[situation]
    where = f"[{path} / {situation}]"

    answer = PATHS[path](catalogue, case, case.allowed_sql.format(t=case.table))

    if case.allowed is None:
        assert answer.rows is None, f"{where} read {answer.shown[:300]}"
        assert f"table {case.table} not found or not permitted" in answer.shown, where
    else:
        assert answer.rows == case.allowed, f"{where} {answer.shown[:300]}"


def _named(row: dict[str, Any], *keys: str) -> str:
    return ".".join(str(row[k]) for k in keys)


def _columns_by_table(rows: list[dict[str, Any]], *keys: str) -> dict[str, set[str] | None]:
    found: dict[str, set[str] | None] = {}
    for row in rows:
        columns = found.setdefault(_named(row, *keys), set())
        assert columns is not None
        columns.add(row["column_name"])
    return found


LISTINGS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], dict[str, set[str] | None]]]] = {
    "SHOW TABLES": ("SHOW TABLES", lambda rows: {r["name"]: None for r in rows}),
    "SHOW ALL TABLES": (
        "SHOW ALL TABLES",
        lambda rows: {
            _named(r, "schema", "name"): set(r["column_names"])
            for r in rows
            if r["database"] != "temp"
        },
    ),
    "information_schema.tables": (
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog <> 'temp'",
        lambda rows: {_named(r, "table_schema", "table_name"): None for r in rows},
    ),
    "information_schema.columns": (
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog <> 'temp'",
        lambda rows: _columns_by_table(rows, "table_schema", "table_name"),
    ),
    "duckdb_tables() and duckdb_views()": (
        "SELECT schema_name, table_name AS name FROM duckdb_tables() "
        "WHERE database_name <> 'temp' UNION ALL SELECT schema_name, view_name "
        "FROM duckdb_views() WHERE NOT internal AND database_name <> 'temp'",
        lambda rows: {_named(r, "schema_name", "name"): None for r in rows},
    ),
    "duckdb_columns()": (
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE NOT internal AND database_name <> 'temp'",
        lambda rows: _columns_by_table(rows, "schema_name", "table_name"),
    ),
}
"""How a principal lists tables, and each answer as table -> its columns (None: the
listing names no column). The sandbox's own aliases of what it registered (the temporary
``__icehouse_ns_t`` relations, in catalog ``temp``) are left out: they hold only what
the principal may read under its own name."""


def _listing_cases() -> Iterator[Any]:
    """Every listing on the local path and the API's JSON: the catalogue is the
    engine's, the same on each path."""
    for backend, on in BACKENDS.items():
        for path in on.every_escape:
            for situation in _situations(backend):
                for listing in LISTINGS:
                    yield _param(backend, path, situation, listing)


@pytest.mark.parametrize(
    ("catalogue", "path", "situation", "listing"), _listing_cases(), indirect=["catalogue"]
)
def test_listings_show_every_table_the_principal_may_describe_and_nothing_else(
    catalogue: Catalogue, path: str, situation: str, listing: str
) -> None:
    case = catalogue.situations[situation]
    sql, read = LISTINGS[listing]
    where = f"[{path} / {situation} / {listing}]"

    answer = PATHS[path](catalogue, case, sql)

    assert answer.rows is not None, f"{where} {answer.shown[:300]}"
    listed = read(answer.rows)
    assert set(listed) == set(case.listed), where
    for name, columns in listed.items():
        assert columns is None or columns == case.listed[name], f"{where} {name}"
    assert not markers(answer.shown), where


@pytest.mark.parametrize(
    ("catalogue", "path", "situation"), _paths_and_situations(), indirect=["catalogue"]
)
def test_a_hint_names_only_what_the_principal_may_describe(
    catalogue: Catalogue, path: str, situation: str
) -> None:
    case = catalogue.situations[situation]
    namespace = case.table.split(".")[0]
    typo = f"{namespace}.requestz"

    answer = PATHS[path](catalogue, case, f"SELECT * FROM {typo}")

    assert answer.rows is None, answer.shown
    named = set(re.findall(r"\bs\d+\.\w+", answer.shown)) - {typo}
    assert named <= set(case.listed), f"[{path} / {situation}] names {sorted(named)}"
