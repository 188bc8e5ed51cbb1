"""``icehouse init`` for the scale-out default: a PostgreSQL state database and an S3
warehouse, both checked before the home is kept.

Each failure is met for real (a port nobody listens on, a role PostgreSQL does not know,
keys SeaweedFS refuses, keys it allows only to read) and must say what failed, exit 1,
and leave no ``icehouse.toml`` behind, or say exactly what it left.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.fs as pafs
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import READER
from tests.fixtures_server import free_port
from tests.test_cli import SCHEMA, ok, one_line, run

if TYPE_CHECKING:
    from tests.conftest import S3Server

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


def keys(server: S3Server, *, secret: str | None = None) -> dict[str, str]:
    """The environment that hands ``init`` its S3 keys, as a deployment script would."""
    return {"AWS_ACCESS_KEY_ID": server.key, "AWS_SECRET_ACCESS_KEY": secret or server.secret}


@pytest.fixture
def new_bucket(s3_filesystem: pafs.S3FileSystem) -> Iterator[str]:
    """The name of a bucket that does not exist yet; deleted after the test if made."""
    name = f"init-{secrets.token_hex(6)}"
    yield name
    with contextlib.suppress(OSError):
        s3_filesystem.delete_dir(name)


def exists(filesystem: pafs.S3FileSystem, bucket: str) -> bool:
    return filesystem.get_file_info(bucket).type != pafs.FileType.NotFound


def failed(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a failing init; its one-line error (exit 1, nothing on stdout)."""
    result = run("init", "--home", str(home), *args, env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    return one_line(result.stderr)


# --- success ---------------------------------------------------------------------------


def test_init_creates_the_bucket_writes_the_toml_and_the_home_works(
    tmp_path: Path,
    postgres_url: str,
    s3_server: S3Server,
    s3_filesystem: pafs.S3FileSystem,
    new_bucket: str,
) -> None:
    home = tmp_path / "lake"
    warehouse = f"s3://{new_bucket}/prod"
    result = ok("init", "--home", str(home), "--state-url", postgres_url,
                "--warehouse", warehouse, "--s3-endpoint", s3_server.endpoint,
                env=keys(s3_server))  # fmt: skip
    shown = make_url(postgres_url).render_as_string(hide_password=True)
    assert result.stdout.splitlines() == [
        f"Created lake home {home}.",
        f"  state database {shown}: connected and migrated",
        f"  warehouse {warehouse}: created bucket {new_bucket}; wrote, read and deleted a "
        "probe object",
        "  icehouse.toml holds the S3 secret key: readable by you only",
        f"Next: `icehouse table create ... --home {home}`",
    ]
    assert s3_server.secret not in result.stdout + result.stderr
    config = home / "icehouse.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert f'state_url = "{postgres_url}"' in text
    assert f'warehouse = "{warehouse}"' in text
    assert (
        f'"s3.endpoint" = "{s3_server.endpoint}"\n"s3.region" = "us-east-1"\n'
        f'"s3.access-key-id" = "{s3_server.key}"\n"s3.secret-access-key" = "{s3_server.secret}"\n'
    ) in text
    assert exists(s3_filesystem, new_bucket)
    listed = s3_filesystem.get_file_info(pafs.FileSelector(new_bucket, recursive=True))
    assert [f.path for f in listed if f.type == pafs.FileType.File] == []  # no probe left

    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", str(home))
    written = s3_filesystem.get_file_info(pafs.FileSelector(new_bucket, recursive=True))
    assert any(f.path.startswith(f"{new_bucket}/prod/logs/events/metadata/") for f in written)


def test_init_into_a_bucket_that_exists_creates_none_and_says_what_it_checked(
    tmp_path: Path, postgres_url: str, s3_server: S3Server, s3_bucket: str
) -> None:
    home = tmp_path / "lake"
    result = ok("init", "--home", str(home), "--state-url", postgres_url,
                "--warehouse", f"s3://{s3_bucket}/lake", "--s3-endpoint", s3_server.endpoint,
                "--format", "json", env=keys(s3_server))  # fmt: skip
    assert json.loads(result.stdout) == {
        "home": str(home),
        "created": True,
        "state_url": make_url(postgres_url).render_as_string(hide_password=True),
        "warehouse": f"s3://{s3_bucket}/lake",
        "created_bucket": None,
    }


def test_init_on_an_existing_home_with_settings_says_they_were_not_applied(
    tmp_path: Path, postgres_url: str
) -> None:
    home = tmp_path / "lake"
    ok("init", "--home", str(home))
    before = (home / "icehouse.toml").read_text()
    result = ok("init", "--home", str(home), "--state-url", postgres_url)
    assert result.stdout == (
        f"{home} is already a lake home; nothing changed (the settings given were not "
        "applied: edit its icehouse.toml)\n"
    )
    assert (home / "icehouse.toml").read_text() == before


def test_init_help_explains_each_option_with_an_example() -> None:
    result = run("init", "--help")
    assert result.exit_code == 0
    text = one_line(result.stdout.replace("│", " "))
    for option, example in [
        ("--state-url", "postgresql+psycopg://icehouse@db.internal:5432/icehouse"),
        ("--warehouse", "s3://lake/prod"),
        ("--s3-endpoint", "http://seaweedfs.internal:8333"),
        ("--s3-region", "eu-west-1"),
        ("--s3-access-key-id", "AKIAIOSFODNN7EXAMPLE"),
        ("--s3-secret-access-key", "$AWS_SECRET_ACCESS_KEY"),
    ]:
        assert option in text and example in text, option


# --- the state database fails: nothing is written, storage is not touched ----------------


def test_an_unreachable_database_fails_before_anything_is_written(
    tmp_path: Path, s3_server: S3Server, s3_filesystem: pafs.S3FileSystem, new_bucket: str
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/icehouse"
    error = failed(tmp_path / "lake", "--state-url", url, "--warehouse", f"s3://{new_bucket}/p",
                   "--s3-endpoint", s3_server.endpoint, env=keys(s3_server))  # fmt: skip
    assert error.startswith(f"Error: state database {url}: unreachable (connection failed: ")
    assert error.endswith(
        "Connection refused); check the host and port, and that the server runs. "
        "Nothing was written"
    )
    assert not (tmp_path / "lake").exists()
    assert not exists(s3_filesystem, new_bucket)


def test_a_login_the_database_refuses_fails_and_says_so(tmp_path: Path, postgres_url: str) -> None:
    url = make_url(postgres_url).set(username="nobody_here")
    error = failed(tmp_path / "lake", "--state-url", url.render_as_string(hide_password=False))
    assert 'FATAL: role "nobody_here" does not exist' in error
    assert error.startswith(
        f"Error: state database {url.render_as_string(hide_password=True)}: the login was "
        "refused (connection failed: "
    )
    assert error.endswith("; check the user and password. Nothing was written")
    assert not (tmp_path / "lake").exists()


def test_a_missing_database_fails_and_says_to_create_it(tmp_path: Path, postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="no_such_icehouse_db")
    error = failed(tmp_path / "lake", "--state-url", url.render_as_string(hide_password=False))
    assert error.endswith(
        'FATAL: database "no_such_icehouse_db" does not exist; create it first (e.g. '
        "createdb), or name an existing one. Nothing was written"
    )


# --- the warehouse fails -----------------------------------------------------------------


def test_an_unreachable_store_fails_and_the_home_folder_keeps_only_what_it_had(
    tmp_path: Path, postgres_url: str
) -> None:
    home = tmp_path / "lake"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    endpoint = f"http://127.0.0.1:{free_port()}"
    error = failed(home, "--state-url", postgres_url, "--warehouse", "s3://lake/prod",
                   "--s3-endpoint", endpoint, "--s3-access-key-id", "k",
                   "--s3-secret-access-key", "s")  # fmt: skip
    assert error.startswith("Error: storage s3://lake/prod: unreachable (")
    assert error.endswith("check s3.endpoint and that the store is running. Nothing was written")
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]


def test_keys_the_store_refuses_fail_and_the_secret_is_never_printed(
    tmp_path: Path, postgres_url: str, s3_server: S3Server, s3_bucket: str
) -> None:
    wrong = secrets.token_hex(16)
    error = failed(tmp_path / "lake", "--state-url", postgres_url,
                   "--warehouse", f"s3://{s3_bucket}/prod", "--s3-endpoint", s3_server.endpoint,
                   env=keys(s3_server, secret=wrong))  # fmt: skip
    assert error.startswith(f"Error: storage s3://{s3_bucket}/prod: the keys were refused (")
    assert "SIGNATURE_DOES_NOT_MATCH" in error
    assert error.endswith(
        "check s3.access-key-id and s3.secret-access-key (or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY). Nothing was written"
    )
    assert wrong not in error
    assert not (tmp_path / "lake").exists()


def test_keys_without_write_permission_fail_naming_the_permission(
    tmp_path: Path, postgres_url: str, s3_server_with_reader: S3Server
) -> None:
    server = s3_server_with_reader
    bucket = f"init-{secrets.token_hex(6)}"
    server.filesystem().create_dir(bucket)
    reader = {"AWS_ACCESS_KEY_ID": READER.key, "AWS_SECRET_ACCESS_KEY": READER.secret}
    error = failed(tmp_path / "lake", "--state-url", postgres_url,
                   "--warehouse", f"s3://{bucket}/prod", "--s3-endpoint", server.endpoint,
                   env=reader)  # fmt: skip
    assert error.startswith(f"Error: storage s3://{bucket}/prod: permission denied (")
    assert "ACCESS_DENIED" in error
    assert error.endswith(
        "the keys must be allowed to write, read and delete objects under the warehouse. "
        "Nothing was written"
    )


def test_a_missing_bucket_the_keys_may_not_create_fails_and_says_both(
    tmp_path: Path, postgres_url: str, s3_server_with_reader: S3Server
) -> None:
    server = s3_server_with_reader
    bucket = f"init-{secrets.token_hex(6)}"
    reader = {"AWS_ACCESS_KEY_ID": READER.key, "AWS_SECRET_ACCESS_KEY": READER.secret}
    error = failed(tmp_path / "lake", "--state-url", postgres_url,
                   "--warehouse", f"s3://{bucket}/prod", "--s3-endpoint", server.endpoint,
                   env=reader)  # fmt: skip
    assert error.startswith(
        f"Error: storage s3://{bucket}/prod: bucket {bucket} does not exist and could not be "
        f"created (When creating bucket '{bucket}': AWS Error ACCESS_DENIED during "
        "CreateBucket operation: Access Denied.)"
    )
    assert error.endswith("create it, or give keys that may create buckets. Nothing was written")
    assert not exists(server.filesystem(), bucket)


# --- a failure after the bucket was made says it is left ----------------------------------


def test_a_database_of_another_warehouse_fails_after_the_bucket_and_says_it_is_left(
    tmp_path: Path,
    postgres_url: str,
    s3_server: S3Server,
    s3_filesystem: pafs.S3FileSystem,
    s3_bucket: str,
    new_bucket: str,
) -> None:
    """A second host set up with another warehouse than the lake's database records."""
    first = tmp_path / "first"
    ok("init", "--home", str(first), "--state-url", postgres_url,
       "--warehouse", f"s3://{s3_bucket}/lake", "--s3-endpoint", s3_server.endpoint,
       env=keys(s3_server))  # fmt: skip
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", str(first))

    second = tmp_path / "second"
    error = failed(second, "--state-url", postgres_url, "--warehouse", f"s3://{new_bucket}/lake",
                   "--s3-endpoint", s3_server.endpoint, env=keys(s3_server))  # fmt: skip
    shown = make_url(postgres_url).render_as_string(hide_password=True)
    assert error.startswith(f"Error: state database {shown}: {second} ")
    assert f"looks like a copy of the lake home {first}" in error
    assert error.endswith(f"Left behind: bucket {new_bucket}, created by this init")
    assert exists(s3_filesystem, new_bucket)
    assert not second.exists()
