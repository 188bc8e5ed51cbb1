"""``icehouse maintain ...`` from the command line: each command's report, dry runs that
change nothing, the orphan safety-age refusal, and the recorded history."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.errors import SparkUnavailable
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, NO_READER_GRACE, append_batches

WIDE = {"COLUMNS": "1000", "ICEHOUSE_HOME": ""}


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=WIDE, catch_exceptions=False)


def as_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


@pytest.fixture
def home(tmp_path: Path) -> str:
    path = tmp_path / "lake"
    Lake.init(path)
    with Lake.open(path) as lake:
        lake.tables.create(
            EVENTS,
            schema=EVENTS_SCHEMA,
            partition=["day(ts)"],
            sort="id",
            properties=NO_READER_GRACE,
        )
        append_batches(lake)
    return str(path)


def snapshot_id(home: str) -> int:
    with Lake.open(Path(home)) as lake:
        return fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id


def test_compact_dry_run_prints_the_plan_and_changes_nothing(home: str) -> None:
    before = snapshot_id(home)
    result = run(
        "maintain", "compact", EVENTS, "--min-input-files", "2", "--dry-run", "--home", home
    )
    assert result.exit_code == 0, result.stderr
    assert "would rewrite 3 partition group(s) with binpack" in result.stdout
    assert "ts_day=2024-06-01" in result.stdout
    assert snapshot_id(home) == before


def test_compact_sort_reports_files_before_and_after(home: str) -> None:
    report = as_json("maintain", "compact", EVENTS, "--strategy", "sort", "--min-input-files", "2",
                     "--home", home)  # fmt: skip
    assert (report["files_before"], report["files_after"]) == (18, 3)
    assert [g["status"] for g in report["groups"]] == ["committed"] * 3
    assert snapshot_id(home) == report["snapshots"][0]


def test_a_bad_strategy_or_where_is_a_clear_error(home: str) -> None:
    result = run("maintain", "compact", EVENTS, "--strategy", "zorder", "--home", home)
    assert result.exit_code == 1
    assert "zorder needs columns" in result.stderr
    result = run("maintain", "compact", EVENTS, "--where", "id % 2 = 0", "--home", home)
    assert result.exit_code == 1 and "--where supports" in result.stderr


def test_an_unknown_strategy_is_a_usage_error_listing_the_strategies(home: str) -> None:
    result = run("maintain", "compact", EVENTS, "--strategy", "hilbert", "--home", home)
    assert result.exit_code == 2
    assert "'hilbert' is not one of 'binpack', 'sort', 'zorder'" in " ".join(result.stderr.split())


def test_orphans_refuses_a_safety_age_under_an_hour_and_explains(home: str) -> None:
    orphan = Path(home) / "warehouse" / "logs" / "events" / "data" / "stray.parquet"
    orphan.write_bytes(b"x" * 100)
    old = time.time() - 3600
    os.utime(orphan, (old, old))

    refused = run("maintain", "orphans", EVENTS, "--older-than", "10m", "--home", home)
    assert refused.exit_code == 1
    assert "--force" in refused.stderr and "not committed yet" in refused.stderr
    assert orphan.exists()

    dry = as_json("maintain", "orphans", EVENTS, "--older-than", "30m", "--force", "--dry-run",
                  "--home", home)  # fmt: skip
    assert dry["files_found"] == 1 and dry["files_deleted"] == 0 and orphan.exists()
    done = as_json("maintain", "orphans", EVENTS, "--older-than", "30m", "--force", "--home", home)
    assert (done["files_deleted"], done["bytes_freed"]) == (1, 100)
    assert not orphan.exists()


def test_expire_manifests_and_history(home: str) -> None:
    manifests = as_json("maintain", "manifests", EVENTS, "--home", home)
    assert manifests["manifests_before"] == 18 and manifests["manifests_after"] == 1
    expired = as_json("maintain", "expire", EVENTS, "--older-than", "0s", "--home", home)
    assert len(expired["expired_snapshot_ids"]) == 18  # all but the current snapshot
    assert expired["files_deleted"] > 0
    cleaned = as_json("maintain", "clean-metadata", EVENTS, "--home", home)
    assert cleaned["files_deleted"] >= 0

    history = as_json("maintain", "history", EVENTS, "--home", home)
    assert [r["action"] for r in history] == ["clean-metadata", "expire", "manifests"]
    assert all(r["status"] == "ok" for r in history)
    shown = run("maintain", "history", "--home", home)
    assert "manifests 18 → 1" in shown.stdout
    assert "18 snapshot(s) expired" in shown.stdout


def test_maintain_run_dry_run_lists_what_it_would_do(home: str) -> None:
    result = run("maintain", "run", "--dry-run", "--home", home)
    assert result.exit_code == 0, result.stderr
    assert "logs.events: waiting (3 partition(s) due but written within 10m)" in result.stdout
    assert "logs.events: would remove orphans" in result.stdout


def test_compact_with_spark_dry_run_plans_in_icehouse_without_starting_spark(home: str) -> None:
    result = run(
        "maintain", "compact", EVENTS, "--engine", "spark", "--min-input-files", "2",
        "--dry-run", "--home", home,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "would rewrite 3 partition group(s) with binpack on Spark" in result.stdout


def test_compact_with_spark_in_python_and_no_catalog_for_it_says_how_to_get_one(
    home: str,
) -> None:
    before = snapshot_id(home)
    with Lake.open(Path(home)) as lake, pytest.raises(SparkUnavailable) as raised:
        lake.maintenance.compact(EVENTS, engine="spark", min_input_files=2)
    message = raised.value.message
    assert "Spark local[2] is unavailable: Spark has no catalog to reach the lake" in message
    assert "[maintain] spark-catalog-uri" in message
    assert "or run it with the CLI, which serves the catalog itself" in message
    assert snapshot_id(home) == before
    history = as_json("maintain", "history", EVENTS, "--home", home)
    assert [(r["action"], r["status"]) for r in history] == [("compact:binpack", "failed")]


def test_compact_on_a_spark_connect_server_that_refuses_names_its_url_at_once(
    home: str,
) -> None:
    """A port bound but not listening refuses connections (pyspark's own client would
    retry it for minutes); the catalog served for the run is gone afterwards, with the
    principal it was served to."""
    before = snapshot_id(home)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"sc://127.0.0.1:{closed.getsockname()[1]}"
        result = run(
            "maintain", "compact", EVENTS, "--engine", "spark", "--min-input-files", "2",
            "--spark-remote", url, "--home", home,
        )  # fmt: skip
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert (
        f"Error: Spark {url} is unavailable: no Spark Connect server accepts connections at "
        f"{url.removeprefix('sc://')} (Connection refused)"
    ) in message
    assert "start-connect-server.sh" in message
    assert snapshot_id(home) == before
    with Lake.open(Path(home)) as lake:
        assert [p.name for p in lake.principals.list()] == []
    history = as_json("maintain", "history", EVENTS, "--home", home)
    assert [(r["action"], r["status"]) for r in history] == [("compact:binpack", "failed")]


def test_compact_on_a_spark_connect_server_elsewhere_needs_a_catalog_it_can_reach(
    home: str,
) -> None:
    """Said before anything is served or connected to: the catalog a run serves listens
    on 127.0.0.1, which a server on another host cannot reach."""
    result = run(
        "maintain", "compact", EVENTS, "--engine", "spark", "--min-input-files", "2",
        "--spark-remote", "sc://spark.example:15002", "--home", home,
    )  # fmt: skip
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert (
        "Spark sc://spark.example:15002 is unavailable: a Spark Connect server on another "
        "host cannot reach the catalog this run would serve on 127.0.0.1"
    ) in message
    assert "[maintain] spark-catalog-uri" in message


def test_maintain_settings_are_read_from_icehouse_toml(home: str) -> None:
    config = Path(home) / "icehouse.toml"
    config.write_text(
        config.read_text()
        + '\n[maintain]\nspark-master = "spark://example:7077"\n'
        + 'spark-catalog-uri = "http://127.0.0.1:9"\n'
        + '[maintain.spark-conf]\n"spark.driver.memory" = "4g"\n'
    )
    with Lake.open(Path(home)) as lake:
        assert lake.config.maintain.spark_master == "spark://example:7077"
        assert lake.config.maintain.spark_conf == {"spark.driver.memory": "4g"}
    config.write_text(config.read_text().replace("spark-master", "spark-mastr"))
    result = run("maintain", "compact", EVENTS, "--dry-run", "--home", home)
    assert result.exit_code != 0
    assert "spark-mastr" in result.stderr


def test_compact_with_spark_without_pyspark_says_how_to_install_it(
    home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``None`` in ``sys.modules`` makes ``import pyspark`` fail as if it were absent: for
    every pyspark module, since another test in this worker may have imported them."""
    config = Path(home) / "icehouse.toml"
    config.write_text(
        config.read_text() + '\n[maintain]\nspark-catalog-uri = "http://127.0.0.1:9"\n'
    )
    for name in [m for m in sys.modules if m.split(".")[0] == "pyspark"] + ["pyspark"]:
        monkeypatch.setitem(sys.modules, name, None)
    result = run(
        "maintain", "compact", EVENTS, "--engine", "spark", "--min-input-files", "2",
        "--home", home,
    )  # fmt: skip
    assert result.exit_code != 0
    message = " ".join(result.stderr.split())
    assert "Spark local[2] is unavailable: pyspark is not installed" in message
    assert "pip install 'icehouse[spark]'" in message
