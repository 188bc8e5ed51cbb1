"""Version 9 of the state database adds the audit trail's records, on SQLite and on
PostgreSQL alike: a version 7 database is migrated forward and keeps records, whose ids
keep growing after the export emptied the table (they are the export's cursor)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from icehouse.state.audit import AuditRow, delete_through, rows_after, write_rows
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate

ROW = AuditRow(
    at=1.5, request_id="r1", kind="decision", principal="ana", action="table.load",
    resource="table shop.orders", allowed=False, reason="no grant",
)  # fmt: skip


@pytest.fixture
def engine(state_engine: Engine) -> Engine:
    return state_engine


def test_a_version_7_database_gets_the_audit_records(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as conn:  # what version 7 had
        conn.execute(text("DROP TABLE audit_events"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (7, 0)"))

    migrate(engine)

    assert current_version(engine) == SCHEMA_VERSION
    write_rows(engine, [ROW])
    assert [r.principal for r in rows_after(engine, 0, limit=10)] == ["ana"]


def test_ids_keep_growing_after_every_record_was_deleted(engine: Engine) -> None:
    migrate(engine)
    write_rows(engine, [ROW, ROW])
    assert delete_through(engine, 2) == 2

    write_rows(engine, [ROW])

    (again,) = rows_after(engine, 2, limit=10)
    assert again.id == 3
    assert again == AuditRow(**{**ROW.__dict__, "id": 3})
