"""The one state database on a real PostgreSQL server: migrations, a whole ingestion
(catalog, ledger and quarantine all in PostgreSQL) and concurrent claims."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from icehouse.config import STATE_FILE
from icehouse.demo.generator import GeneratorConfig, generate
from icehouse.demo.workload import SCHEMA, TABLE, demo_sources
from icehouse.ingest.landing import LandedFile
from icehouse.ingest.ledger import CLAIMED, COMMITTED, PENDING, FileQueue
from icehouse.lake import Lake
from icehouse.maintain.leases import Leases
from icehouse.maintain.reports import list_runs, note_committed, start_run
from icehouse.state import models
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate, open_engine
from tests.test_claims import open_batches

pytestmark = pytest.mark.postgres


def test_migrate_creates_the_schema_once(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    try:
        assert engine.dialect.name == "postgresql"
        assert current_version(engine) == 0
        assert migrate(engine) == SCHEMA_VERSION
        assert current_version(engine) == SCHEMA_VERSION
        tables = set(sa.inspect(engine).get_table_names())
        assert set(models.metadata.tables) <= tables

        assert migrate(engine) == 0
        assert current_version(engine) == SCHEMA_VERSION
        with engine.connect() as conn:
            versions = conn.execute(
                sa.select(models.schema_version.c.version).order_by(models.schema_version.c.version)
            ).scalars()
            assert list(versions) == [SCHEMA_VERSION]  # a new database starts at the head
    finally:
        engine.dispose()


def test_whole_ingest_with_state_in_postgres(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    home = tmp_path / "lake"
    Lake.init(home)
    logs = generate(home / "landing", GeneratorConfig(rows=3000, days=2))
    assert logs.rows == 3000

    lake = Lake.open(home)
    try:
        assert lake.config.state_url == postgres_url
        lake.tables.create(
            TABLE, schema=SCHEMA, partition=["day(requested_at)"], sort="customer_id, requested_at"
        )
        for source in demo_sources(home / "landing"):
            lake.sources.add(source)

        report = lake.ingest()
        assert report.files == len(logs.files)
        assert report.rows == logs.rows
        assert report.bad_rows == logs.bad_lines
        assert report.quarantined_files == 0

        counts = lake.sql(
            f"SELECT provider, count(*) AS n FROM {TABLE} GROUP BY provider ORDER BY provider"
        ).to_pylist()
        assert {c["provider"]: c["n"] for c in counts} == logs.rows_by_provider()
        assert lake.sql(f"SELECT count(*) AS n FROM {TABLE}").to_pylist() == [{"n": 3000}]
        quarantined = lake.quarantine.summary()
        assert sum(q["lines"] for q in quarantined.values()) == logs.bad_lines
        assert sum(q["files"] for q in quarantined.values()) == 0

        again = lake.ingest()
        assert (again.files, again.rows, again.duplicate_files) == (0, 0, 0)
        assert lake.sql(f"SELECT count(*) AS n FROM {TABLE}").to_pylist() == [{"n": 3000}]
    finally:
        lake.close()

    # Everything is in PostgreSQL: the catalog, the ledger; no SQLite file was made.
    assert not (home / STATE_FILE).exists()
    engine = open_engine(postgres_url)
    try:
        with engine.connect() as conn:
            catalog_rows = conn.execute(
                sa.text("SELECT table_namespace, table_name FROM iceberg_tables")
            ).all()
            assert [tuple(r) for r in catalog_rows] == [tuple(TABLE.split("."))]
            states = dict(
                conn.execute(
                    sa.select(models.files.c.state, sa.func.count()).group_by(models.files.c.state)
                ).all()
            )
            assert states == {COMMITTED: len(logs.files)}
    finally:
        engine.dispose()


def test_two_threads_never_claim_the_same_file(postgres_url: str) -> None:
    setup = open_engine(postgres_url)
    migrate(setup)
    landed = [
        LandedFile(path=f"landing/f{i:04d}.jsonl", size=100 + i, mtime=1000.0 + i)
        for i in range(300)
    ]
    FileQueue(setup).register("s", landed)
    with setup.connect() as conn:
        pending = conn.execute(
            sa.select(sa.func.count()).where(models.files.c.state == PENDING)
        ).scalar_one()
    assert pending == len(landed)

    workers = 2
    barrier = threading.Barrier(workers)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claim_all(batch_id: str) -> None:
        # Its own engine, as a second process would have.
        engine = open_engine(postgres_url)
        try:
            ledger = FileQueue(engine)
            mine: list[int] = []
            barrier.wait(timeout=30)
            while rows := ledger.claim(batch_id, ["s"], 7):
                mine.extend(r.id for r in rows)
            claimed[batch_id] = mine
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    batch_ids = [uuid.uuid4().hex for _ in range(workers)]
    open_batches(setup, batch_ids)
    threads = [threading.Thread(target=claim_all, args=(b,)) for b in batch_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    first, second = (claimed[b] for b in batch_ids)
    assert len(first) == len(set(first)) and len(second) == len(set(second))
    assert not set(first) & set(second)
    try:
        with setup.connect() as conn:
            rows = conn.execute(
                sa.select(models.files.c.id, models.files.c.state, models.files.c.batch_id)
            ).all()
    finally:
        setup.dispose()
    assert sorted(first + second) == sorted(r.id for r in rows)
    assert all(r.state == CLAIMED for r in rows) and not any(r.state == PENDING for r in rows)
    owner = {i: b for b in batch_ids for i in claimed[b]}
    assert all(owner[r.id] == r.batch_id for r in rows)


def test_a_first_release_database_on_postgresql_is_migrated_forward(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    try:
        migrate(engine)
        with engine.begin() as conn:  # what version 1 created
            conn.execute(sa.text("ALTER TABLE ingest_files DROP COLUMN replay_lines"))
            conn.execute(sa.text("ALTER TABLE quarantine DROP COLUMN replayed_by"))
            conn.execute(sa.text("DROP TABLE maintenance_runs"))
            conn.execute(sa.text("DROP TABLE maintenance_leases"))
            conn.execute(sa.text("ALTER TABLE ingest_files DROP COLUMN delivery"))
            conn.execute(sa.text("ALTER TABLE ingest_files DROP COLUMN start_offset"))
            conn.execute(sa.text("DROP TABLE ingest_contents"))
            conn.execute(sa.text("DROP TABLE icehouse_home"))
            conn.execute(sa.text("DROP TABLE principal_tokens"))
            conn.execute(sa.text("DROP TABLE principals"))
            conn.execute(sa.text("DELETE FROM icehouse_schema_version"))
            conn.execute(sa.text("INSERT INTO icehouse_schema_version VALUES (1, 0)"))
        assert migrate(engine) == SCHEMA_VERSION - 1
        inspector = sa.inspect(engine)
        assert "replayed_by" in {c["name"] for c in inspector.get_columns("quarantine")}
        assert "summary" in {c["name"] for c in inspector.get_columns("maintenance_runs")}
        assert "maintenance_leases" in inspector.get_table_names()
        assert current_version(engine) == SCHEMA_VERSION
    finally:
        engine.dispose()


def test_version_4_on_postgresql_keeps_runs_and_records_a_run_before_it_ends(
    postgres_url: str,
) -> None:
    engine = open_engine(postgres_url)
    try:
        migrate(engine)
        with engine.begin() as conn:  # what version 3 created
            conn.execute(sa.text("DROP TABLE maintenance_runs"))
            conn.execute(sa.text("DROP TABLE icehouse_home"))
            conn.execute(sa.text("DROP TABLE principal_tokens"))
            conn.execute(sa.text("DROP TABLE principals"))
            conn.execute(sa.text("ALTER TABLE ingest_files DROP COLUMN delivery"))
            conn.execute(sa.text("ALTER TABLE ingest_files DROP COLUMN start_offset"))
            conn.execute(sa.text("DROP TABLE ingest_contents"))
            conn.execute(
                sa.text(
                    "CREATE TABLE maintenance_runs (id SERIAL PRIMARY KEY, "
                    "table_name VARCHAR(400) NOT NULL, action VARCHAR(40) NOT NULL, "
                    "started_at FLOAT NOT NULL, finished_at FLOAT NOT NULL, "
                    "dry_run INTEGER NOT NULL, status VARCHAR(20) NOT NULL, "
                    "owner VARCHAR(200), summary TEXT NOT NULL, error TEXT)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO maintenance_runs (table_name, action, started_at, "
                    "finished_at, dry_run, status, summary) "
                    "VALUES ('a.b', 'expire', 1, 2, 0, 'ok', '{}')"
                )
            )
            conn.execute(sa.text("DELETE FROM icehouse_schema_version"))
            conn.execute(sa.text("INSERT INTO icehouse_schema_version VALUES (3, 0)"))

        assert migrate(engine) == SCHEMA_VERSION - 3

        started = start_run(engine, table="a.b", action="orphans", dry_run=False, alive_for=60)
        note_committed(engine, started, {"snapshot_id": 5})
        runs = list_runs(engine, "a.b")
        assert [(r.action, r.status) for r in runs] == [("orphans", "running"), ("expire", "ok")]
        assert runs[0].committed[0]["snapshot_id"] == 5 and runs[0].seconds is None
    finally:
        engine.dispose()


def test_leases_renew_and_break_on_postgresql(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    try:
        migrate(engine)
        first = Leases(engine, owner="far-host:1", seconds=30)
        second = Leases(engine, owner="far-host:2", seconds=30)
        assert first.try_acquire("k") and not second.try_acquire("k")
        assert first.renew("k") and not second.renew("k")
        broken = second.break_lease("k")
        assert broken is not None and broken.owner == "far-host:1"
        assert not first.renew("k") and second.try_acquire("k")
    finally:
        engine.dispose()
