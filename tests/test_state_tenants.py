"""Version 10 of the state database adds tenants, on SQLite and on PostgreSQL alike: a
version 9 database is migrated forward, its principals, roles and audit records become
the server's own (no tenant), and tenants, their administrators and the tenant of new
principals, roles and records are kept."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from icehouse.govern import principals, roles, store, tenants, tokens
from icehouse.govern.authz import Principal
from icehouse.govern.objects import Grantee, GranteeKind
from icehouse.state.audit import AuditRow, rows_after, write_rows
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate


@pytest.fixture
def engine(state_engine: Engine) -> Engine:
    return state_engine


def as_version_9(engine: Engine) -> None:
    """What version 9 had: no tenant tables, no tenant columns; a principal, a role and
    an audit record made then."""
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE gov_tenants"))
        conn.execute(text("DROP TABLE gov_tenant_admins"))
        for table in ("principals", "gov_roles", "audit_events"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN tenant"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (9, 0)"))
        conn.execute(
            text(
                "INSERT INTO principals (name, kind, client_id, secret_salt, secret_hash, "
                "admin, created_at) VALUES ('ana', 'user', 'c1', '00', '00', 0, 1)"
            )
        )
        conn.execute(text("INSERT INTO gov_roles (name, created_at) VALUES ('analysts', 1)"))
        conn.execute(
            text(
                "INSERT INTO audit_events (at, request_id, kind, principal, action, resource, "
                "allowed) VALUES (1, 'r', 'decision', 'ana', 'table.load', 't', 1)"
            )
        )


def test_a_version_9_database_gains_tenants_and_keeps_its_rows_as_the_servers(
    engine: Engine,
) -> None:
    as_version_9(engine)

    migrate(engine)

    assert current_version(engine) == SCHEMA_VERSION
    assert [(p.name, p.tenant) for p in principals.list_all(engine)] == [("ana", None)]
    assert roles.list_roles(engine) == [("analysts", [], None)]
    assert [r.tenant for r in rows_after(engine, 0, limit=10)] == [None]


def test_tenants_their_administrators_principals_roles_and_records_are_kept(
    engine: Engine,
) -> None:
    as_version_9(engine)
    migrate(engine)

    tenants.create_tenant(engine, "consumer")
    principals.create(engine, "cadmin", admin=False, kind="user", tenant="consumer")
    tenants.grant_admin(engine, "consumer", "cadmin")
    roles.create_role(engine, "readers", tenant="consumer")
    write_rows(
        engine, [AuditRow(2, "r2", "query", "cadmin", "query.run", "", True, tenant="consumer")]
    )

    (info,) = tenants.list_tenants(engine)
    assert (info.name, info.admins, info.principals, info.roles) == ("consumer", ("cadmin",), 1, 1)
    rows = store.read_rows(engine)
    assert rows.tenants == {
        Grantee(GranteeKind.PRINCIPAL, "cadmin"): "consumer",
        Grantee(GranteeKind.ROLE, "readers"): "consumer",
    }
    assert rows.tenant_admins == (("consumer", "cadmin"),)
    assert [r.tenant for r in rows_after(engine, 0, limit=10)] == [None, "consumer"]


def test_a_principal_signed_in_by_secret_or_token_carries_its_tenant(engine: Engine) -> None:
    migrate(engine)
    tenants.create_tenant(engine, "consumer")
    made = principals.create(engine, "cadmin", admin=False, kind="user", tenant="consumer")
    cadmin = Principal("cadmin", admin=False, kind="user", tenant="consumer")

    found = principals.check_secret(engine, made.client_id, made.client_secret)

    assert found is not None and found[1] == cadmin
    issued = tokens.issue(engine, found[0], now=0.0, lifetime=60.0)
    assert tokens.principal_for(engine, issued.access_token, now=1.0) == cadmin
