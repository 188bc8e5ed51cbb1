"""``icehouse sql --server URL``: the statement runs on a real ``icehouse serve`` as the
principal of the credential (``--credential``, else ``ICEHOUSE_CREDENTIAL``, else an
owner-only ``--credential-file``), and prints exactly what the same statement prints on
the local home."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app
from tests import fixtures_query_api
from tests.fixtures_query_api import Api, credential

api = fixtures_query_api.api

QUERY = "SELECT id, ts, country, bytes FROM logs.events WHERE id < 10100 ORDER BY id"
ENV = {"COLUMNS": "200", "ICEHOUSE_HOME": None, "ICEHOUSE_CREDENTIAL": None}
Env = dict[str, str | None] | None


def run(*args: str, env: Env = None, input: str | None = None):  # type: ignore[no-untyped-def]
    """The CLI in-process; stdin is not a terminal, so no statement means a script."""
    return CliRunner().invoke(
        app, list(args), env={**ENV, **(env or {})}, input=input, catch_exceptions=False
    )


def local(api: Api, *args: str):  # type: ignore[no-untyped-def]
    result = run("sql", *args, "--home", str(api.lake.home))
    assert result.exit_code == 0, result.stderr
    return result


def remote(api: Api, *args: str, env: Env = None, input: str | None = None):  # type: ignore[no-untyped-def]
    return run("sql", *args, "--server", api.url, env=env, input=input)


@pytest.mark.parametrize("format", ["table", "csv", "json", "jsonl"])
def test_the_server_prints_exactly_what_the_local_home_prints(api: Api, format: str) -> None:
    result = remote(api, QUERY, "--format", format, "--credential", credential(api.admin))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == local(api, QUERY, "--format", format).stdout
    assert "2024-06-03" in result.stdout


def test_the_credential_comes_from_icehouse_credential(api: Api) -> None:
    result = remote(api, "SELECT 42 AS answer", env={"ICEHOUSE_CREDENTIAL": credential(api.admin)})

    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["answer", "42", "1", "row(s)"]


def test_the_option_wins_over_the_environment(api: Api) -> None:
    result = remote(
        api,
        "SELECT 1 AS one",
        "--credential",
        credential(api.admin),
        env={"ICEHOUSE_CREDENTIAL": "bad:credential"},
    )

    assert result.exit_code == 0, result.stderr


def test_the_credential_comes_from_a_file_only_its_owner_may_read(api: Api, tmp_path: Path) -> None:
    secret = tmp_path / "credential"
    secret.write_text(credential(api.admin) + "\n")
    secret.chmod(0o600)

    result = remote(api, "SELECT 1 AS one", "--credential-file", str(secret))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["one", "1", "1", "row(s)"]


def test_a_credential_file_others_may_read_is_refused(api: Api, tmp_path: Path) -> None:
    secret = tmp_path / "credential"
    secret.write_text(credential(api.admin))
    secret.chmod(0o644)

    result = remote(api, "SELECT 1", "--credential-file", str(secret))

    assert result.exit_code == 1
    assert result.stdout == ""
    message = " ".join(result.stderr.split())
    assert f"{secret}: permissions 0644 are too open" in message
    assert f"chmod 600 {secret}" in message


def test_a_missing_credential_file_is_an_error_naming_it(api: Api, tmp_path: Path) -> None:
    result = remote(api, "SELECT 1", "--credential-file", str(tmp_path / "nope"))

    assert result.exit_code == 1
    assert "cannot read the credential file" in result.stderr


def test_a_malformed_credential_says_where_it_came_from(api: Api) -> None:
    result = remote(api, "SELECT 1", env={"ICEHOUSE_CREDENTIAL": "no-colon"})

    assert result.exit_code == 1
    assert "ICEHOUSE_CREDENTIAL: a credential is CLIENT_ID:CLIENT_SECRET" in result.stderr


def test_a_wrong_secret_exits_1_and_names_the_client_id(api: Api) -> None:
    result = remote(api, "SELECT 1", "--credential", f"{api.admin.client_id}:wrong")

    assert result.exit_code == 1
    assert f"refused client id '{api.admin.client_id}'" in result.stderr
    assert "wrong" not in result.stderr.replace("wrong client secret", "")


def test_a_principal_without_grants_gets_the_servers_refusal(api: Api) -> None:
    result = remote(api, QUERY, "--credential", credential(api.reader))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: table logs.events not found or not permitted")


def test_bad_sql_prints_the_engines_message_as_locally(api: Api) -> None:
    result = remote(api, "SELEC 1", "--credential", credential(api.admin))
    here = run("sql", "SELEC 1", "--home", str(api.lake.home))

    assert result.exit_code == here.exit_code == 1
    assert result.stderr == here.stderr


def test_explain_over_the_server_prints_the_plans(api: Api) -> None:
    sql = "SELECT count(*) AS n FROM logs.events WHERE ts >= TIMESTAMPTZ '2024-06-03 00:00:00+00'"

    shown = remote(api, sql, "--explain", "--credential", credential(api.admin))
    document = remote(api, sql, "--explain", "-f", "json", "--credential", credential(api.admin))

    assert shown.exit_code == 0, shown.stderr
    assert "what each table read" in shown.stdout
    assert "logs.events: filter pushed" in shown.stdout
    body = json.loads(document.stdout)
    assert body["rows"] == [{"n": 20}]
    assert body["plans"][0]["files_planned"] == 1
    assert set(body["plans"][0]) == set(
        json.loads(local(api, sql, "--explain", "-f", "json").stdout)["plans"][0]
    )


def test_out_writes_the_servers_rows_to_a_file(api: Api, tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"

    result = remote(api, QUERY, "--out", str(target), "--credential", credential(api.admin))

    assert result.exit_code == 0, result.stderr
    assert pq.read_table(target) == api.lake.sql(QUERY)


def test_home_and_server_together_are_a_usage_error(api: Api) -> None:
    result = remote(api, "SELECT 1", "--home", "somewhere", "--credential", credential(api.admin))

    assert result.exit_code == 2
    assert "leave out --home" in result.stderr


SCRIPT = f"""
SELECT count(*) AS n FROM logs.events;
\\explain on
{QUERY};
"""


def test_a_piped_script_over_the_server_prints_what_it_prints_on_the_home(api: Api) -> None:
    there = remote(api, "--credential", credential(api.admin), input=SCRIPT)
    here = run("sql", "--home", str(api.lake.home), input=SCRIPT)

    assert there.exit_code == 0, there.stderr
    assert "explain is on" in there.stdout and "what each table read" in there.stdout
    assert without_times(there.stdout) == without_times(here.stdout)


def without_times(text: str) -> str:
    """The output with the planning and execution milliseconds blanked out."""
    lines = [line for line in text.splitlines() if not line.startswith("executed in")]
    return "\n".join(
        " ".join(line.split()[:-1]) if "logs.events  " in line else line for line in lines
    )


def test_the_shell_over_the_server_refuses_d_and_says_what_to_ask_instead(api: Api) -> None:
    result = remote(api, "--credential", credential(api.admin), input="SELECT 1 AS one;\n\\d\n")

    assert result.exit_code == 1
    assert result.stdout.split() == ["one", "1", "1", "row(s)"]
    assert "describes a local home's tables; over --server, ask information_schema" in " ".join(
        result.stderr.split()
    )


def test_a_credential_without_server_is_a_usage_error(api: Api) -> None:
    result = run("sql", "SELECT 1", "--credential", "a:b", "--home", str(api.lake.home))

    assert result.exit_code == 2
    assert "--credential and --credential-file go with --server" in result.stderr


@pytest.mark.parametrize("text", [";", "/* nothing but a comment */"])
def test_text_without_a_statement_is_an_error_locally_and_on_the_server(
    api: Api, text: str
) -> None:
    here = run("sql", text, "--home", str(api.lake.home))
    there = remote(api, text, "--credential", credential(api.admin))

    assert here.exit_code == there.exit_code == 1
    assert "no SQL statement to run" in here.stderr
    assert here.stderr == there.stderr
