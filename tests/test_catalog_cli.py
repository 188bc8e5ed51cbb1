"""``icehouse catalog mount|list|unmount``: the central server's administrator mounts
a producer (a real ``icehouse serve`` with its own home, or a PyIceberg SQL catalog),
whose credential is never printed."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures_federation import served_producer, sql_producer
from tests.test_audit_kill import kill
from tests.test_cli import as_json, home, ok, one_line, run

__all__ = ["home"]


def test_a_served_producer_is_mounted_with_a_credential_file_that_is_never_printed(
    home: str, tmp_path: Path
) -> None:
    producer = served_producer(tmp_path)
    try:
        secret = producer.credential.partition(":")[2]
        file = producer.credential_file(tmp_path)

        said = ok("catalog", "mount", "cdn_prod", "--type", "rest", "--uri", producer.url,
                  "--credential-file", str(file), "--home", home)  # fmt: skip
        listed = ok("catalog", "list", "--home", home)
        as_data = as_json("catalog", "list", "--home", home)
    finally:
        kill(producer.process)

    assert said.stdout == (
        f"Mounted rest catalog {producer.url} as cdn_prod: its tables read as "
        "cdn_prod.namespace.table.\n"
    )
    assert [(m["name"], m["type"], m["uri"], m["credential"]) for m in as_data] == [
        ("cdn_prod", "rest", producer.url, "yes")
    ]
    for output in (said.stdout, said.stderr, listed.stdout, str(as_data)):
        assert secret not in output
    assert secret not in (Path(home) / "state.db").read_bytes().decode("latin-1")


def test_a_credential_the_producer_refuses_is_named_and_nothing_is_mounted(
    home: str, tmp_path: Path
) -> None:
    producer = served_producer(tmp_path)
    try:
        result = run("catalog", "mount", "cdn_prod", "--type", "rest", "--uri", producer.url,
                     "--credential", "central:wrong", "--home", home)  # fmt: skip
    finally:
        kill(producer.process)

    assert result.exit_code == 1
    assert one_line(result.stderr).startswith(
        f"Error: catalog cdn_prod at {producer.url}: the producer refused the credential"
    )
    assert as_json("catalog", "list", "--home", home) == []


def test_a_producer_that_is_down_is_named_with_its_url(home: str, tmp_path: Path) -> None:
    producer = served_producer(tmp_path)
    kill(producer.process)

    result = run("catalog", "mount", "cdn_prod", "--type", "rest", "--uri", producer.url,
                 "--credential", producer.credential, "--home", home)  # fmt: skip

    assert result.exit_code == 1
    assert one_line(result.stderr).startswith(
        f"Error: catalog cdn_prod at {producer.url} is unreachable:"
    )


def test_a_sql_catalog_is_mounted_listed_and_unmounted(home: str, tmp_path: Path) -> None:
    url = sql_producer(tmp_path / "producer")

    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", url, "--home", home)
    listed = ok("catalog", "list", "--home", home).stdout
    unmounted = ok("catalog", "unmount", "cdn_prod", "--yes", "--home", home).stdout

    header, row = listed.splitlines()
    assert header.split() == ["name", "type", "uri", "warehouse", "credential", "created_at"]
    assert row.split()[:4] == ["cdn_prod", "sql", url, "no"]  # no warehouse, no credential
    assert unmounted == "Unmounted catalog cdn_prod.\n"
    assert ok("catalog", "list", "--home", home).stdout.startswith("No catalogs mounted")


def test_a_namespace_named_like_a_mount_is_refused_naming_the_clash(
    home: str, tmp_path: Path
) -> None:
    ok("table", "create", "cdn.requests", "--schema", '{"id": "long"}', "--home", home)
    url = sql_producer(tmp_path / "producer")

    result = run("catalog", "mount", "cdn", "--type", "sql", "--uri", url, "--home", home)

    assert result.exit_code == 1
    assert "namespace 'cdn' exists in this catalog: mounts and top-level namespaces share" in (
        one_line(result.stderr)
    )
