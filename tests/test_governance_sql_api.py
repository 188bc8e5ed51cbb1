"""Governance statements through the query API of a real ``icehouse serve``: the
administrator grants in SQL over HTTP and ``icehouse sql --server``; a principal runs
them only once it holds what they need, and a refusal names what was denied."""

from __future__ import annotations

import json

import pyarrow as pa
from typer.testing import CliRunner

from icehouse.cli.app import app
from tests import fixtures_query_api
from tests.fixtures_query_api import Api, credential
from tests.test_query_api import error_of

api = fixtures_query_api.api


def statuses(api: Api, token: str, sql: str) -> list[dict[str, object]]:
    answer = api.post({"sql": sql}, token=token)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = pa.ipc.open_stream(answer.content).read_all().to_pylist()
    return rows


def test_the_administrator_grants_over_http_and_the_grantee_then_may(api: Api) -> None:
    admin, reader = api.token(api.admin), api.token(api.reader)

    refused = error_of(api.post({"sql": "CREATE ROLE mine"}, token=reader), 403)
    assert refused["type"] == "ForbiddenException"
    assert "reader" in refused["message"] and "governance.create_role" in refused["message"]

    assert statuses(api, admin, "GRANT MANAGE_GRANTS ON CATALOG TO PRINCIPAL reader") == [
        {"status": "granted MANAGE_GRANTS on catalog icehouse to principal reader"}
    ]
    assert statuses(api, reader, "CREATE ROLE mine") == [{"status": "created role mine"}]
    assert [r["name"] for r in statuses(api, admin, "SHOW ROLES")] == ["mine"]


def test_a_statement_that_does_not_parse_is_a_400_naming_where(api: Api) -> None:
    answer = api.post(
        {"sql": "REVOKE SELECT ON TABLE logs.events TO ROLE r"}, token=api.token(api.admin)
    )

    error = error_of(answer, 400)
    assert error["type"] == "BadRequestException"
    assert error["message"] == "expected FROM at line 1, column 36, found 'TO'"


def test_icehouse_sql_server_runs_governance_statements(api: Api) -> None:
    env = {"ICEHOUSE_CREDENTIAL": credential(api.admin), "ICEHOUSE_HOME": None, "COLUMNS": "200"}

    def sql(statement: str) -> list[dict[str, object]]:
        result = CliRunner().invoke(
            app, ["sql", statement, "--server", api.url, "-f", "json"], env=env
        )
        assert result.exit_code == 0, result.stdout + result.stderr
        answer: list[dict[str, object]] = json.loads(result.stdout)
        return answer

    assert sql("CREATE ROLE analysts") == [{"status": "created role analysts"}]
    sql("GRANT SELECT ON TABLE logs.events TO ROLE analysts")
    assert sql("SHOW GRANTS") == [
        {
            "grantee": "role analysts",
            "privilege": "SELECT",
            "object": "table logs.events",
            "with_grant_option": False,
            "granted_by": "analyst-admin",
        }
    ]
