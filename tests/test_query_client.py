"""``icehouse.connect``: the Python client of the query API against a real server. It
trades a credential for a token, gets a new token when the old one is refused, and
raises icehouse's own exceptions with the server's message and status."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import icehouse
from icehouse import (
    IcehouseError,
    InvalidCredential,
    NotAuthenticated,
    QueryError,
    ServerUnavailable,
)
from tests import fixtures_query_api
from tests.fixtures_query_api import Api, credential
from tests.fixtures_server import free_port
from tests.test_startup_imports import loaded_by

api = fixtures_query_api.api

QUERY = "SELECT id, ts, country, bytes FROM logs.events WHERE id < 300 ORDER BY id"


def test_a_query_returns_the_same_arrow_table_as_the_lake_itself(api: Api) -> None:
    with icehouse.connect(api.url, credential=credential(api.admin)) as connection:
        table = connection.sql(QUERY)

    assert isinstance(table, pa.Table)
    assert table == api.lake.sql(QUERY)
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.num_rows == 2


def test_the_connection_gets_a_new_token_when_its_token_expired(api: Api) -> None:
    connection = icehouse.connect(api.url, credential=credential(api.admin))
    assert connection.sql("SELECT 1 AS one").to_pylist() == [{"one": 1}]

    api.clock.advance(3601)  # the server's clock: the token is refused with a 401

    assert connection.sql("SELECT 2 AS two").to_pylist() == [{"two": 2}]
    connection.close()


def test_a_revoked_token_is_replaced_once_and_the_query_goes_through(api: Api) -> None:
    with icehouse.connect(api.url, credential=credential(api.admin)) as connection:
        connection.sql("SELECT 1")
        assert api.lake.principals.revoke_tokens("analyst-admin") == 1

        assert connection.sql("SELECT 1 AS one").column("one").to_pylist() == [1]


def test_a_given_token_is_used_and_not_renewed(api: Api) -> None:
    connection = icehouse.connect(api.url, token=api.token(api.admin))
    assert connection.sql("SELECT 1 AS one").num_rows == 1

    api.clock.advance(3601)

    with pytest.raises(NotAuthenticated, match="expired") as raised:
        connection.sql("SELECT 1")
    assert raised.value.status == 401


def test_a_wrong_secret_is_refused_at_connect(api: Api) -> None:
    with pytest.raises(NotAuthenticated, match="wrong client secret"):
        icehouse.connect(api.url, credential=f"{api.admin.client_id}:not-the-secret")


def test_a_credential_without_a_colon_is_refused_before_any_request(api: Api) -> None:
    with pytest.raises(InvalidCredential, match="CLIENT_ID:CLIENT_SECRET"):
        icehouse.connect(api.url, credential=api.admin.client_id)


def test_bad_sql_raises_a_query_error_with_the_servers_message_and_status(api: Api) -> None:
    connection = icehouse.connect(api.url, credential=credential(api.admin))
    with pytest.raises(QueryError, match='syntax error at or near "SELEC"') as raised:
        connection.sql("SELEC 1")

    assert raised.value.status == 400
    assert raised.value.error_type == "BadRequestException"
    assert raised.value.sql == "SELEC 1"


def test_a_table_the_principal_may_not_read_is_not_found_or_not_permitted(api: Api) -> None:
    connection = icehouse.connect(api.url, credential=credential(api.reader))
    hidden = r"table logs\.events not found or not permitted"
    with pytest.raises(QueryError, match=hidden) as raised:
        connection.sql(QUERY)

    assert raised.value.status == 400


def test_without_a_credential_a_server_requiring_tokens_says_how_to_get_one(api: Api) -> None:
    with icehouse.connect(api.url) as connection, pytest.raises(NotAuthenticated) as raised:
        connection.sql("SELECT 1")

    assert "POST /v1/oauth/tokens" in raised.value.message


def test_a_server_that_does_not_answer_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ServerUnavailable, match="icehouse server") as raised:
        icehouse.connect(url, credential="id:secret")

    assert raised.value.where == url
    assert isinstance(raised.value, IcehouseError) and raised.value.status == 503


def test_explain_returns_the_rows_and_what_each_table_read(api: Api) -> None:
    sql = "SELECT count(*) AS n FROM logs.events WHERE ts >= TIMESTAMPTZ '2024-06-03 00:00:00+00'"

    with icehouse.connect(api.url, credential=credential(api.admin)) as connection:
        answer = connection.explain(sql)

    assert answer.table.to_pylist() == [{"n": 20}]
    assert answer.table.schema.metadata is None  # the plans are not left in the rows
    [plan] = answer.plans
    assert plan["table"] == "logs.events" and plan["files_planned"] == 1
    assert answer.execution_seconds >= 0


def test_the_connection_does_not_show_its_secret(api: Api) -> None:
    with icehouse.connect(api.url, credential=credential(api.admin)) as connection:
        shown = repr(connection) + repr(vars(connection))

    assert api.admin.client_secret not in shown
    assert api.admin.client_id in shown


def test_the_client_loads_no_engine_or_state_database(tmp_path: Path) -> None:
    """A script that only queries a server needs HTTP and pyarrow, not DuckDB, PyIceberg
    or SQLAlchemy (over a second of imports)."""
    assert loaded_by("import icehouse; icehouse.connect; icehouse.Connection", tmp_path) == []
