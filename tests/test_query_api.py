"""``POST /api/v1/query`` on a real server: SQL as the token's principal, answered as an
Arrow IPC stream (types intact) or as JSON rows; errors in the ErrorModel of the REST
catalog, never a 500 for a body that is junk."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import fixtures_query_api
from tests.fixtures_query_api import ARROW, Api

api = fixtures_query_api.api

COUNT_BY_DAY = (
    "SELECT CAST(ts AS DATE) AS day, count(*) AS n FROM logs.events GROUP BY 1 ORDER BY 1"
)
TYPED = """SELECT
    TIMESTAMPTZ '2024-06-01 10:00:00.123456+00' AS ts,
    TIMESTAMP '2024-06-01 10:00:00' AS local_ts,
    DATE '2024-06-01' AS day,
    12345678.91::DECIMAL(12, 2) AS amount,
    'nl'::VARCHAR AS country,
    '\\x01\\x02'::BLOB AS raw,
    [1, 2, NULL] AS list,
    {'a': 1, 'b': 'x'} AS struct,
    'NaN'::DOUBLE AS nan,
    NULL::BIGINT AS nothing"""


def arrow_of(answer: requests.Response) -> pa.Table:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == ARROW
    return pa.ipc.open_stream(answer.content).read_all()


def error_of(answer: requests.Response, status: int) -> dict[str, Any]:
    """The ErrorModel's ``error``, checked to be one."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == status and isinstance(error["message"], str), body
    return error


def test_an_administrator_gets_the_rows_of_a_query_as_an_arrow_stream(api: Api) -> None:
    answer = api.post({"sql": COUNT_BY_DAY}, token=api.token(api.admin))

    assert arrow_of(answer).to_pylist() == [
        {"day": dt.date(2024, 6, day), "n": 20} for day in (1, 2, 3)
    ]
    assert arrow_of(answer) == api.lake.sql(COUNT_BY_DAY)


def test_arrow_types_arrive_as_they_left_time_zones_and_decimals_included(api: Api) -> None:
    table = arrow_of(api.post({"sql": TYPED}, token=api.token(api.admin)))

    assert table.schema == api.lake.sql(TYPED).schema
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    row = table.to_pylist()[0]
    assert row["ts"] == dt.datetime(2024, 6, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert row["amount"] == Decimal("12345678.91")
    assert row["list"] == [1, 2, None] and row["struct"] == {"a": 1, "b": "x"}


def test_json_rows_hold_values_json_can_hold(api: Api) -> None:
    answer = api.post({"sql": TYPED, "format": "json"}, token=api.token(api.admin))

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert [c["name"] for c in body["columns"]] == [
        "ts", "local_ts", "day", "amount", "country", "raw", "list", "struct", "nan", "nothing"
    ]  # fmt: skip
    assert body["columns"][3]["type"] == "decimal128(12, 2)"
    assert body["rows"] == [
        [
            "2024-06-01T10:00:00.123456+00:00",
            "2024-06-01T10:00:00",
            "2024-06-01",
            "12345678.91",
            "nl",
            "AQI=",
            [1, 2, None],
            {"a": 1, "b": "x"},
            "nan",
            None,
        ]
    ]


def test_the_accept_header_chooses_json_when_the_body_does_not_say(api: Api) -> None:
    token = api.token(api.admin)

    answer = api.post({"sql": COUNT_BY_DAY}, token=token, accept="application/json")

    assert answer.json()["rows"] == [["2024-06-01", 20], ["2024-06-02", 20], ["2024-06-03", 20]]
    assert arrow_of(api.post({"sql": COUNT_BY_DAY}, token=token, accept="*/*")).num_rows == 3
    body_wins = api.post(
        {"sql": COUNT_BY_DAY, "format": "arrow"}, token=token, accept="application/json"
    )
    assert arrow_of(body_wins).num_rows == 3


def test_an_accept_header_naming_neither_format_is_406(api: Api) -> None:
    answer = api.post({"sql": "SELECT 1"}, token=api.token(api.admin), accept="text/html")

    assert "application/vnd.apache.arrow.stream" in error_of(answer, 406)["message"]


def test_explain_sends_the_plans_with_the_rows_in_json_and_in_arrow(api: Api) -> None:
    token = api.token(api.admin)
    sql = "SELECT count(*) AS n FROM logs.events WHERE ts >= TIMESTAMPTZ '2024-06-03 00:00:00+00'"

    body = api.post({"sql": sql, "format": "json", "explain": True}, token=token).json()
    arrow = arrow_of(api.post({"sql": sql, "explain": True}, token=token))

    assert body["rows"] == [[20]]
    [plan] = body["explain"]["plans"]
    assert plan["table"] == "logs.events"
    assert plan["files_in_snapshot"] == 3 and plan["files_planned"] == 1
    assert "ts" in plan["pushed_filter"]
    carried = json.loads(arrow.schema.metadata[b"icehouse.explain"])
    assert carried["plans"][0]["files_planned"] == 1
    assert arrow.column("n").to_pylist() == [20]


def test_bad_sql_is_a_400_with_the_engines_message(api: Api) -> None:
    answer = api.post({"sql": "SELEC 1"}, token=api.token(api.admin))

    error = error_of(answer, 400)
    assert error["type"] == "BadRequestException"
    assert 'syntax error at or near "SELEC"' in error["message"]


def test_a_missing_table_is_a_400_naming_it(api: Api) -> None:
    answer = api.post({"sql": "SELECT * FROM logs.nope"}, token=api.token(api.admin))

    assert "logs.nope" in error_of(answer, 400)["message"]


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_without_a_valid_token_the_answer_is_401(api: Api, token: str | None) -> None:
    answer = api.post({"sql": "SELECT 1"}, token=token)

    error = error_of(answer, 401)
    assert error["type"] == "NotAuthorizedException"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_401(api: Api) -> None:
    token = api.token(api.admin)
    api.clock.advance(3601)

    assert "expired" in error_of(api.post({"sql": "SELECT 1"}, token=token), 401)["message"]


def test_a_principal_without_grants_is_told_not_found_or_not_permitted(api: Api) -> None:
    token = api.token(api.reader)

    hidden = api.post({"sql": "SELECT * FROM logs.events"}, token=token)
    missing = api.post({"sql": "SELECT * FROM logs.nope"}, token=token)

    error = error_of(hidden, 400)
    assert error["message"].startswith("table logs.events not found or not permitted")
    assert error["message"].replace("events", "nope") == error_of(missing, 400)["message"]
    assert "2024-06" not in hidden.text


def test_the_query_api_is_not_listed_among_the_iceberg_endpoints(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token(api.admin)}"}
    config = requests.get(api.served.url("/v1/config"), headers=headers, timeout=30).json()

    assert not [e for e in config["endpoints"] if "query" in e]


JUNK_BODIES: list[Any] = [
    b"",
    b"{",
    b"\xff\xfe",
    b"null",
    b"[]",
    b'"SELECT 1"',
    {},
    {"sql": ""},
    {"sql": 1},
    {"sql": None},
    {"sql": ["SELECT 1"]},
    {"sql": "SELECT 1", "format": "xml"},
    {"sql": "SELECT 1", "explain": "maybe"},
    {"sql": "SELECT 1", "explian": True},
    {"query": "SELECT 1"},
    {"sql": "\x00"},
    {"sql": ";;;"},
    {"sql": "SELECT * FROM read_csv('/nonexistent/file.csv')"},
    {"sql": "SELECT 1" * 10_000},
]


@pytest.mark.parametrize("body", JUNK_BODIES, ids=lambda b: repr(b)[:40])
def test_a_junk_body_is_a_4xx_in_the_error_model_never_a_500(api: Api, body: Any) -> None:
    answer = api.post(body, token=api.token(api.admin))

    assert 400 <= answer.status_code < 500, answer.text
    error_of(answer, answer.status_code)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"sql": st.text(min_size=1)}),
    st.fixed_dictionaries(
        {"sql": st.text(min_size=1), "format": JSON_VALUES, "explain": JSON_VALUES}
    ),
)


def test_no_generated_body_is_answered_with_a_5xx(api: Api) -> None:
    token = api.token(api.admin)  # once: a token costs a scrypt of the secret

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(body=BODIES)
    def check(body: Any) -> None:
        answer = api.post(body, token=token)

        assert answer.status_code < 500, f"{body!r}\n{answer.text}"
        if answer.status_code >= 400:
            error_of(answer, answer.status_code)

    check()
