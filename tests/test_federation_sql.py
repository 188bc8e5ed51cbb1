"""Tables of mounted producer catalogs read in SQL as ``mount.namespace.table``, by
the central lake's administrator: the central server reads the producer's metadata and
files itself, and a producer that is down fails only the queries that read it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import Result
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.errors import QueryError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_federation import served_producer, sql_producer
from tests.test_audit_kill import kill
from tests.test_cli import WIDE, as_json, home, ok, one_line, run

__all__ = ["home"]
lake = fixtures_lake.lake
iceberg_table, rows_of = fixtures_lake.iceberg_table, fixtures_lake.rows_of


def test_a_mounted_table_is_read_and_joined_with_a_local_one(lake: Lake, tmp_path: Path) -> None:
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    lake.tables.create("web.countries", schema={"code": "string", "name": "string"})
    iceberg_table(lake, "web.countries").append(
        pa.table({"code": ["fr", "de"], "name": ["France", "Germany"]})
    )

    rows = rows_of(lake, "SELECT r.id, c.name FROM cdn_prod.cdn.requests r "
                   "JOIN web.countries c ON c.code = r.country ORDER BY r.id")  # fmt: skip

    assert rows == [{"id": 1, "name": "France"}, {"id": 2, "name": "Germany"}]
    assert rows_of(lake, "SELECT count(*) AS n FROM web.countries") == [{"n": 2}]


def test_a_table_the_producer_does_not_have_is_named(home: str, tmp_path: Path) -> None:
    url = sql_producer(tmp_path / "producer")
    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", url, "--home", home)

    result = run("sql", "SELECT * FROM cdn_prod.cdn.missing", "--home", home)

    assert result.exit_code == 1
    assert one_line(result.stderr) == "Error: catalog cdn_prod has no table cdn.missing"


def test_a_producer_that_goes_down_fails_only_its_own_tables(home: str, tmp_path: Path) -> None:
    served = served_producer(tmp_path)
    try:
        ok("catalog", "mount", "cdn_prod", "--type", "rest", "--uri", served.url,
           "--credential", served.credential, "--home", home)  # fmt: skip
        url = sql_producer(tmp_path / "staging")
        ok("catalog", "mount", "cdn_staging", "--type", "sql", "--uri", url, "--home", home)
        ok("table", "create", "web.hits", "--schema", '{"id": "long"}', "--home", home)
        count = "SELECT count(*) AS n FROM {}"
        assert as_json("sql", count.format("cdn_prod.cdn.requests"), "--home", home) == [{"n": 3}]
        listed = script(home, "\\d\n")
        assert listed.exit_code == 0, listed.stderr
        assert "\ncdn_prod.cdn.requests        3           1          1\n" in listed.stdout
    finally:
        kill(served.process)

    down = run("sql", count.format("cdn_prod.cdn.requests"), "--home", home)
    assert down.exit_code == 1
    assert one_line(down.stderr).startswith(
        f"Error: catalog cdn_prod at {served.url} is unreachable:"
    )
    assert as_json("sql", count.format("cdn_staging.cdn.requests"), "--home", home) == [{"n": 3}]
    assert as_json("sql", count.format("web.hits"), "--home", home) == [{"n": 0}]
    listed = script(home, "\\d\n")
    assert listed.exit_code == 0, listed.stderr
    assert one_line(listed.stderr).startswith(f"catalog cdn_prod at {served.url} is unreachable:")
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert names == ["web.hits", "cdn_staging.cdn.requests"]


def test_a_mounted_table_is_described_in_the_shell(home: str, tmp_path: Path) -> None:
    url = sql_producer(tmp_path / "producer")
    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", url, "--home", home)

    described = script(home, "\\d cdn_prod.cdn.requests\n")

    assert described.exit_code == 0, described.stderr
    assert described.stdout.startswith("cdn_prod.cdn.requests  file://")
    assert " 2  country  string" in described.stdout
    assert "rows: 3  data files: 1" in described.stdout


def script(home: str, text: str) -> Result:
    """``icehouse sql`` reading a script from stdin (the shell's commands)."""
    return CliRunner().invoke(
        app, ["sql", "--home", home], input=text, env=WIDE, catch_exceptions=False
    )


def test_a_principal_that_is_not_an_administrator_reads_nothing_of_a_mount(
    lake: Lake, tmp_path: Path
) -> None:
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    analyst = lake.as_principal(Principal("ana", admin=False))

    with pytest.raises(QueryError) as refused:
        analyst.sql("SELECT * FROM cdn_prod.cdn.requests")

    assert "fr" not in refused.value.message
    assert analyst.sql("SHOW TABLES").num_rows == 0
    assert analyst.catalogs.list() == []
