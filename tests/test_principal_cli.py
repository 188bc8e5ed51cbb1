"""``icehouse principal``: a principal's secret is printed once and only its hash is
stored; list never shows a secret; rotate replaces it; delete removes the principal."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from tests.test_cli import as_json, home, ok, one_line, run

__all__ = ["home"]


def principal_rows(home: str) -> list[dict[str, object]]:
    with sqlite3.connect(Path(home) / "state.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM principals ORDER BY name")]


def test_create_prints_a_client_id_and_secret_once_and_stores_only_a_scrypt_hash(
    home: str,
) -> None:
    created = as_json("principal", "create", "etl", "--admin", "--home", home)

    assert set(created) == {"name", "client_id", "client_secret"}
    (row,) = principal_rows(home)
    assert row["name"] == "etl" and row["admin"] == 1 and row["kind"] == "service"
    assert row["client_id"] == created["client_id"]
    secret = created["client_secret"]
    assert secret not in {str(value) for value in row.values()}
    expected = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(str(row["secret_salt"])), n=2**14, r=8, p=1, dklen=32
    ).hex()
    assert row["secret_hash"] == expected
    listed = as_json("principal", "list", "--home", home)
    assert [(p["name"], p["admin"], p["client_id"]) for p in listed] == [
        ("etl", True, created["client_id"])
    ]
    assert secret not in ok("principal", "list", "--home", home).stdout


def test_create_for_people_says_the_secret_is_shown_once(home: str) -> None:
    said = ok("principal", "create", "ana", "--kind", "user", "--home", home).stdout

    assert said.startswith("Created principal ana.\nclient_id:")
    assert "The secret is shown this once." in said
    assert principal_rows(home)[0]["kind"] == "user"


def test_a_second_principal_of_the_same_name_exits_1(home: str) -> None:
    ok("principal", "create", "etl", "--home", home)

    result = run("principal", "create", "etl", "--home", home)

    assert result.exit_code == 1
    assert "principal 'etl' already exists" in one_line(result.stderr)


def test_rotate_gives_a_new_secret_and_keeps_the_client_id(home: str) -> None:
    created = as_json("principal", "create", "etl", "--home", home)
    old_hash = principal_rows(home)[0]["secret_hash"]

    rotated = as_json("principal", "rotate", "etl", "--home", home)

    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    assert principal_rows(home)[0]["secret_hash"] != old_hash
    assert as_json("principal", "list", "--home", home)[0]["rotated_at"] is not None


def test_delete_removes_the_principal_and_an_unknown_one_exits_1(home: str) -> None:
    ok("principal", "create", "etl", "--home", home)

    deleted = as_json("principal", "delete", "etl", "--yes", "--home", home)
    missing = run("principal", "delete", "etl", "--yes", "--home", home)

    assert deleted == {"name": "etl", "tokens_deleted": 0}
    assert principal_rows(home) == []
    assert ok("principal", "list", "--home", home).stdout.startswith("No principals yet")
    assert missing.exit_code == 1
    assert "no principal 'etl'" in one_line(missing.stderr)


def test_delete_without_a_terminal_needs_yes(home: str) -> None:
    ok("principal", "create", "etl", "--home", home)

    result = run("principal", "delete", "etl", "--home", home)

    assert result.exit_code == 1
    assert "pass --yes to confirm" in one_line(result.stderr)
    assert [row["name"] for row in principal_rows(home)] == ["etl"]


def test_a_trusted_engine_is_created_with_kind_engine_and_listed_so(home: str) -> None:
    ok("principal", "create", "reader-engine", "--trusted-engine", "--home", home)
    ok("principal", "create", "etl", "--home", home)

    listed = as_json("principal", "list", "--home", home)
    shown = ok("principal", "list", "--home", home).stdout
    both = run("principal", "create", "x", "--trusted-engine", "--kind", "user", "--home", home)

    assert [(p["name"], p["kind"]) for p in listed] == [
        ("etl", "service"),
        ("reader-engine", "engine"),
    ]
    rows = {line.split()[0]: line.split()[1] for line in shown.splitlines()[1:]}
    assert rows == {"etl": "service", "reader-engine": "engine"}
    assert both.exit_code == 2 and "a trusted engine is a service" in both.output
    assert [p["name"] for p in as_json("principal", "list", "--home", home)] == [
        "etl",
        "reader-engine",
    ]
