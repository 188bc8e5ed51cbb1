"""The audit trail by tenant: every decision and query records the tenant of the
principal that made it (NULL for the server's own), locally and through the server,
and ``icehouse_system.audit`` carries it in a ``tenant`` column, added to a table that
was exported before tenants existed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from icehouse.errors import IcehouseError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.maintain.audit_export import AUDIT_TABLE, SCHEMA
from icehouse.tables import manage
from icehouse.tables.grammar import parse_partition_field
from tests.fixtures_server import serving
from tests.governed_fixtures import TABLE
from tests.test_query_api_governed import via_json
from tests.test_tenants import Mesh, build, status


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        yield build(lake)


def audited(lake: Lake, where: str) -> list[tuple[str, str | None, str, str, bool]]:
    rows = lake.sql(
        "SELECT principal, tenant, kind, action, allowed FROM icehouse_system.audit "
        f"WHERE {where} ORDER BY id"
    ).to_pylist()
    return [(r["principal"], r["tenant"], r["kind"], r["action"], r["allowed"]) for r in rows]


def test_each_step_of_the_story_is_audited_with_its_tenant(mesh: Mesh) -> None:
    status(mesh.as_("cadmin"), "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")
    with serving(mesh.lake, allow_anonymous=False) as served:
        answer = via_json(served, mesh.credentials["analyst"], f"SELECT id FROM {TABLE}")
        assert answer.rows is not None, answer.shown
        assert via_json(served, mesh.credentials["batch"], f"SELECT id FROM {TABLE}").rows is None

    mesh.lake.audit.export()

    assert audited(mesh.lake, "action = 'tenant.create_principal'") == [
        ("owner", None, "decision", "tenant.create_principal", True),
        ("cadmin", "consumer", "decision", "tenant.create_principal", True),
        ("cadmin", "consumer", "decision", "tenant.create_principal", True),
    ]
    assert {r[1] for r in audited(mesh.lake, "principal = 'cadmin'")} == {"consumer"}
    assert audited(mesh.lake, "principal = 'analyst' AND kind = 'query'") == [
        ("analyst", "consumer", "query", "query.run", True)
    ]
    assert audited(mesh.lake, "principal = 'batch' AND action = 'table.select'") == [
        ("batch", "consumer", "decision", "table.select", False)
    ]


def test_an_audit_table_exported_before_tenants_gains_the_column(tmp_path: Path) -> None:
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        before = pa.schema([f for f in SCHEMA if f.name != "tenant"])
        lake.namespaces.create(("icehouse_system",))
        manage.create_table(
            lake._catalog,
            AUDIT_TABLE,
            before,
            partition=[parse_partition_field("day(at)")],
            sort=[],
            properties={},
        )
        lake.tenants.create("consumer")
        lake.as_principal(Principal("sam", admin=False, tenant="consumer")).tables.list()

        lake.audit.export()

        assert audited(lake, "action IN ('tenant.create', 'table.list')") == [
            ("owner", None, "decision", "tenant.create", True),
            ("sam", "consumer", "decision", "table.list", True),
        ]
        columns = lake.sql(f"SELECT * FROM {AUDIT_TABLE}").column_names
        assert columns[-1] == "tenant"


def test_a_governance_statement_is_recorded_with_its_text_and_tenant(mesh: Mesh) -> None:
    cadmin = mesh.as_("cadmin")
    status(cadmin, "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")
    with pytest.raises(IcehouseError):
        cadmin.sql(f"GRANT SELECT ON TABLE {TABLE} TO ROLE analysts")

    mesh.lake.audit.export()

    rows = mesh.lake.sql(
        "SELECT tenant, statement, reason IS NULL AS done FROM icehouse_system.audit "
        "WHERE kind = 'query' AND principal = 'cadmin' ORDER BY id"
    ).to_pylist()
    assert rows == [
        {"tenant": "consumer", "statement": "CREATE ROLE analysts", "done": True},
        {"tenant": "consumer", "statement": "GRANT ROLE analysts TO PRINCIPAL analyst",
         "done": True},
        {"tenant": "consumer", "statement": "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts",
         "done": True},
        {"tenant": "consumer", "statement": f"GRANT SELECT ON TABLE {TABLE} TO ROLE analysts",
         "done": False},
    ]  # fmt: skip
