"""Mixed writers stay exactly once: an ``icehouse ingest --follow`` killed right after
its Iceberg commit (``ICEHOUSE_FAULT=batch.committed``: the ledger never hears of it),
then, through a real ``icehouse serve`` that requires tokens, a DuckDB INSERT and a
Spark ``rewrite_data_files`` of every file, then ``icehouse maintain expire`` deleting
what only the expired snapshots reached (no reader grace), then a restarted ingestion:
every source row is in the table exactly once, with DuckDB's rows beside them, and every
file the current snapshot reads exists.

The restart must take the dead process's batch for committed although the snapshot it
committed is gone and its data files were rewritten and deleted: only the ingestion keys
that the server carried onto DuckDB's and Spark's snapshots still say so. Were it taken
for uncommitted, its source files would be ingested a second time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from icehouse.ingest.faults import FAULT_EXIT_CODE
from icehouse.lake import Lake
from tests import fixtures_engines, fixtures_lake
from tests.fixtures_engines import DuckDBEngine
from tests.fixtures_spark import CATALOG, run, spark_session
from tests.test_cli import as_json
from tests.test_exactly_once import data_files_in_table, ids_in_table, make_lake, write_events
from tests.test_server_cli import _connect_when_listening, start_serve, stop

pytestmark = [pytest.mark.spark, pytest.mark.slow]

duckdb_engine = fixtures_engines.duckdb_engine

SRC = Path(__file__).resolve().parent.parent / "src"
ROWS_PER_FILE = 50
BEFORE_CRASH = 3
"""Files in the landing folder when the killed ingestion starts: its one batch."""
DUCKDB_IDS = [1_000_000, 1_000_001]


def icehouse(home: Path, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
    """``icehouse ARGS`` as a real process on ``home`` (with ``ICEHOUSE_FAULT`` set to
    ``fault``, where given)."""
    env = {**os.environ, "ICEHOUSE_HOME": str(home), "PYTHONPATH": str(SRC)}
    env.pop("ICEHOUSE_FAULT", None)
    if fault is not None:
        env["ICEHOUSE_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "icehouse", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def served_home(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A lake home with ``logs.events`` (no reader grace) fed by source ``events``,
    served by ``icehouse serve`` with tokens required: (home, URL, an administrator
    principal's ``CLIENT_ID:CLIENT_SECRET``)."""
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.2s", properties=fixtures_lake.NO_READER_GRACE).close()
    admin = as_json("principal", "create", "mixed", "--admin", "--home", str(home))
    credential = f"{admin['client_id']}:{admin['client_secret']}"
    server, url = start_serve(str(home), anonymous=False)
    try:
        _connect_when_listening(
            server, url, credential=credential, **{"oauth2-server-uri": f"{url}/v1/oauth/tokens"}
        )
        yield home, url, credential
    finally:
        stop(server)


def test_a_follow_killed_after_its_commit_then_duckdb_spark_and_expiry_lose_and_double_nothing(
    served_home: tuple[Path, str, str], duckdb_engine: DuckDBEngine, tmp_path: Path
) -> None:
    home, url, credential = served_home
    landing = home / "landing"
    for n in range(BEFORE_CRASH):
        write_events(landing, f"f{n}.jsonl.gz", n * ROWS_PER_FILE, ROWS_PER_FILE)

    follow = icehouse(home, "ingest", "--follow", fault="batch.committed")
    _, stderr = follow.communicate(timeout=120)
    assert follow.returncode == FAULT_EXIT_CODE, stderr
    with Lake.open(home) as lake:
        assert ids_in_table(lake) == list(range(BEFORE_CRASH * ROWS_PER_FILE))
        crashed_batch_files = data_files_in_table(lake)

    client_id, client_secret = credential.split(":")
    duckdb_engine.run(
        f"CREATE SECRET icehouse (TYPE iceberg, CLIENT_ID '{client_id}', "
        f"CLIENT_SECRET '{client_secret}', "
        f"OAUTH2_SERVER_URI '{url}/v1/oauth/tokens')",
        f"ATTACH 'lake' AS ice (TYPE iceberg, ENDPOINT '{url}', "
        "SECRET icehouse, ACCESS_DELEGATION_MODE 'none')",
        # DuckDB neither sorts nor sizes files for a partitioned table unless told that
        # icehouse's maintenance will.
        "SET unsafe_iceberg_ignore_sort_order = true",
        "SET ignore_target_file_size_for_partitioned_tables = true",
        "INSERT INTO ice.logs.events VALUES "
        + ", ".join(
            f"({i}, TIMESTAMPTZ '2024-06-01 12:00:00+00', 0, 'duckdb {i}')" for i in DUCKDB_IDS
        ),
    )
    with spark_session(url, credential, tmp_path / "spark-warehouse") as spark:
        rewritten = run(
            spark,
            f"CALL {CATALOG}.system.rewrite_data_files(table => 'logs.events', "
            "options => map('rewrite-all', 'true'))",
        )[0]
    assert rewritten["rewritten_data_files_count"] > len(crashed_batch_files)  # DuckDB's too

    expired = as_json("maintain", "expire", "logs.events", "--older-than", "0s",
                      "--retain-last", "1", "--home", str(home))  # fmt: skip
    assert expired["deleted"]["data"]["files"] >= len(crashed_batch_files)
    assert [p for p in crashed_batch_files if Path(p).exists()] == []
    write_events(landing, "f_after.jsonl.gz", 10_000, ROWS_PER_FILE)
    restarted = icehouse(home, "ingest", "--once")
    stdout, stderr = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, stderr

    with Lake.open(home) as lake:
        assert ids_in_table(lake) == [
            *range(BEFORE_CRASH * ROWS_PER_FILE),
            *range(10_000, 10_000 + ROWS_PER_FILE),
            *DUCKDB_IDS,
        ]
        table = fixtures_lake.iceberg_table(lake, "logs.events")
        referenced = [
            urlparse(path).path  # Spark writes ``file:/...``, PyIceberg ``file:///...``
            for task in table.scan().plan_files()
            for path in (task.file.file_path, *(d.file_path for d in task.delete_files))
        ]
    assert referenced
    assert [p for p in referenced if not Path(p).exists()] == []
    assert "recovered 1 committed and 0 abandoned batch(es)" in " ".join(stdout.split())
