"""``icehouse tenant`` and ``icehouse principal create --tenant``: the server's
administrator creates a tenant and its first principal, lists and drops tenants."""

from __future__ import annotations

from tests.test_cli import as_json, home, ok, one_line, run

__all__ = ["home"]


def test_a_tenant_is_created_listed_with_its_principals_and_dropped_once_empty(
    home: str,
) -> None:
    said = ok("tenant", "create", "consumer", "--home", home).stdout
    assert said.startswith("Created tenant consumer. Next: `icehouse principal create NAME")
    ok("principal", "create", "cadmin", "--tenant", "consumer", "--kind", "user", "--home", home)
    ok("sql", "GRANT ADMIN ON TENANT consumer TO PRINCIPAL cadmin", "--home", home)

    listed = as_json("tenant", "list", "--home", home)
    assert [(t["name"], t["admins"], t["principals"], t["roles"]) for t in listed] == [
        ("consumer", ["cadmin"], 1, 0)
    ]
    principals = as_json("principal", "list", "--home", home)
    assert [(p["name"], p["tenant"]) for p in principals] == [("cadmin", "consumer")]

    refused = run("tenant", "drop", "consumer", "--yes", "--home", home)
    assert refused.exit_code == 1
    assert "tenant 'consumer' still has 1 principal(s) and 0 role(s)" in one_line(refused.stderr)

    ok("principal", "delete", "cadmin", "--yes", "--home", home)
    assert ok("tenant", "drop", "consumer", "--yes", "--home", home).stdout == (
        "Dropped tenant consumer.\n"
    )
    assert as_json("tenant", "list", "--home", home) == []


def test_a_principal_of_a_tenant_that_does_not_exist_is_refused(home: str) -> None:
    result = run("principal", "create", "ana", "--tenant", "nowhere", "--home", home)

    assert result.exit_code == 1
    assert "no tenant 'nowhere'" in one_line(result.stderr)


def test_a_principal_of_a_tenant_cannot_be_a_server_administrator(home: str) -> None:
    ok("tenant", "create", "consumer", "--home", home)

    result = run("principal", "create", "ana", "--tenant", "consumer", "--admin", "--home", home)

    assert result.exit_code == 2
    assert "cannot administer the server" in one_line(result.stderr)
    assert as_json("principal", "list", "--home", home) == []
