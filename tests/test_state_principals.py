"""Version 6 of the state database adds principals and their tokens, on SQLite and on
PostgreSQL alike: a version 5 database is migrated forward, and then a principal's
secret gets a token that stops working when the principal is deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from icehouse.errors import NotAuthenticated
from icehouse.govern import principals, tokens
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate


@pytest.fixture
def engine(state_engine: Engine) -> Engine:
    return state_engine


def test_a_version_5_database_gets_principals_and_tokens(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as conn:  # what version 5 created
        conn.execute(text("DROP TABLE principal_tokens"))
        conn.execute(text("DROP TABLE principals"))
        conn.execute(text("DROP TABLE rest_idempotency_keys"))  # version 7's
        conn.execute(text("DROP TABLE rest_metrics_reports"))
        conn.execute(text("DROP TABLE audit_events"))  # version 9's
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (5, 0)"))

    assert migrate(engine) == SCHEMA_VERSION - 5  # version 6, then the later ones

    assert current_version(engine) == SCHEMA_VERSION
    names = set(inspect(engine).get_table_names())
    assert {"principals", "principal_tokens"} <= names
    created = principals.create(engine, "etl", admin=True, kind="service")
    assert [p.name for p in principals.list_all(engine)] == ["etl"]
    assert principals.check_secret(engine, created.client_id, created.client_secret) is not None


def test_a_token_lives_until_it_expires_and_dies_with_its_principal(engine: Engine) -> None:
    migrate(engine)
    created = principals.create(engine, "etl", admin=False, kind="user")
    found = principals.check_secret(engine, created.client_id, created.client_secret)
    assert found is not None and found[1].name == "etl" and not found[1].admin
    issued = tokens.issue(engine, found[0], now=1000.0, lifetime=60)

    assert tokens.principal_for(engine, issued.access_token, now=1059.0).name == "etl"
    with pytest.raises(NotAuthenticated, match="expired"):
        tokens.principal_for(engine, issued.access_token, now=1060.0)
    assert principals.remove(engine, "etl") == 1
    with pytest.raises(NotAuthenticated, match="unknown bearer token"):
        tokens.principal_for(engine, issued.access_token, now=1001.0)
    assert principals.check_secret(engine, created.client_id, created.client_secret) is None
