"""The state database's schema is versioned: new databases start at the newest version,
old ones are migrated forward, and a newer one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from icehouse.errors import StateError
from icehouse.maintain.reports import list_runs, start_run
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate, open_engine
from icehouse.state.models import metadata


def columns(engine, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_a_new_database_is_created_at_the_newest_version(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    assert migrate(engine) == SCHEMA_VERSION
    assert current_version(engine) == SCHEMA_VERSION
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    assert migrate(engine) == 0


def test_a_first_release_database_is_migrated_to_the_newest_version(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    with engine.begin() as conn:  # turn it back into what version 1 created
        conn.execute(text("ALTER TABLE ingest_files DROP COLUMN replay_lines"))
        conn.execute(text("ALTER TABLE quarantine DROP COLUMN replayed_by"))
        conn.execute(text("DROP TABLE maintenance_runs"))
        conn.execute(text("DROP TABLE maintenance_leases"))
        conn.execute(text("ALTER TABLE ingest_files DROP COLUMN delivery"))
        conn.execute(text("ALTER TABLE ingest_files DROP COLUMN start_offset"))
        conn.execute(text("DROP TABLE ingest_contents"))
        conn.execute(text("DROP TABLE icehouse_home"))
        conn.execute(text("DROP TABLE principal_tokens"))
        conn.execute(text("DROP TABLE principals"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (1, 0)"))
    assert "replayed_by" not in columns(engine, "quarantine")

    assert migrate(engine) == SCHEMA_VERSION - 1

    assert current_version(engine) == SCHEMA_VERSION
    assert "replay_lines" in columns(engine, "ingest_files")
    assert "replayed_by" in columns(engine, "quarantine")
    assert "summary" in columns(engine, "maintenance_runs")
    assert "lease_until" in columns(engine, "maintenance_leases")
    assert "delivery" in columns(engine, "ingest_files")
    assert "file_id" in columns(engine, "ingest_contents")
    assert {"alive_until", "committed"} <= columns(engine, "maintenance_runs")
    assert "warehouse" in columns(engine, "icehouse_home")


V3_RUNS = """CREATE TABLE maintenance_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, table_name VARCHAR(400) NOT NULL,
    action VARCHAR(40) NOT NULL, started_at FLOAT NOT NULL, finished_at FLOAT NOT NULL,
    dry_run INTEGER NOT NULL, status VARCHAR(20) NOT NULL, owner VARCHAR(200),
    summary TEXT NOT NULL, error TEXT)"""


def test_version_4_keeps_the_recorded_runs_and_lets_a_run_be_recorded_before_it_ends(
    tmp_path: Path,
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    with engine.begin() as conn:  # turn it back into what version 3 created
        conn.execute(text("DROP TABLE maintenance_runs"))
        conn.execute(text("DROP TABLE icehouse_home"))
        conn.execute(text("DROP TABLE principal_tokens"))
        conn.execute(text("DROP TABLE principals"))
        conn.execute(text("ALTER TABLE ingest_files DROP COLUMN delivery"))
        conn.execute(text("ALTER TABLE ingest_files DROP COLUMN start_offset"))
        conn.execute(text("DROP TABLE ingest_contents"))
        conn.execute(text(V3_RUNS))
        conn.execute(
            text(
                "CREATE INDEX ix_maintenance_runs_table "
                "ON maintenance_runs (table_name, started_at)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO maintenance_runs VALUES "
                "(7, 'a.b', 'expire', 1.0, 2.0, 0, 'ok', 'h:1', '{\"x\": 1}', NULL)"
            )
        )
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (3, 0)"))

    assert migrate(engine) == SCHEMA_VERSION - 3

    runs = list_runs(engine)
    assert [(r.id, r.table, r.status, r.summary, r.seconds) for r in runs] == [
        (7, "a.b", "ok", {"x": 1}, 1.0)
    ]
    started = start_run(engine, table="a.b", action="orphans", dry_run=False, alive_for=60)
    assert started > 7
    assert list_runs(engine)[0].status == "running"


def test_a_database_from_a_newer_icehouse_is_refused(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (99, 0)"))
    with pytest.raises(StateError, match="schema version 99, newer than this icehouse"):
        migrate(engine)


def test_a_version_5_database_gains_the_rest_catalogs_keys_and_metrics(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    with engine.begin() as conn:  # turn it back into what version 5 created
        conn.execute(text("DROP TABLE rest_idempotency_keys"))
        conn.execute(text("DROP TABLE rest_metrics_reports"))
        conn.execute(text("DROP TABLE principal_tokens"))
        conn.execute(text("DROP TABLE principals"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (5, 0)"))

    migrate(engine)

    assert current_version(engine) == SCHEMA_VERSION
    assert {"key", "fingerprint", "expires_at"} <= columns(engine, "rest_idempotency_keys")
    assert {"table_name", "report_type", "report"} <= columns(engine, "rest_metrics_reports")
