"""Making a lake home (``icehouse init``), kept only once its database and storage work.

A home is an ``icehouse.toml``; on one laptop it names a SQLite file and a folder beside
it, and nothing can be wrong with them. Scaled out it names a PostgreSQL database and an
S3 warehouse that several hosts share, and a typo in either would only show when the
first worker starts, far from whoever wrote the file. So ``init`` checks both, in the
order that leaves least behind when one fails:

1. the state database answers (a connection, nothing written);
2. the warehouse can be written: its bucket is created if missing (said so), and a
   probe object is written, read back and deleted;
3. the state database is migrated and the catalog's tables made (``Lake.open``).

When a step fails, the ``icehouse.toml`` written for the check is removed (with the
home's folder, if ``init`` made it), and the error names the step, what answered and
what was left behind: a bucket created in step 2 is kept, since it may already hold
someone's objects by then.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from icehouse.config import CONFIG_FILE, default_config_text, load_config
from icehouse.errors import IcehouseError, ServiceUnavailable, SetupFailed
from icehouse.resilience import safe_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

SECRET_KEYS = ("s3.secret-access-key", "s3.session-token")
"""``[storage]`` keys whose value is a secret: the file holding one is readable by its
owner only."""


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did."""

    home: Path
    created: bool
    """False when the home already existed: then nothing was checked or changed."""
    state_url: str = ""
    """The state database, its password masked."""
    warehouse: str = ""
    """The warehouse as a URI."""
    created_bucket: str | None = None
    """The bucket ``init`` created for the warehouse, if it did."""


def init_home(
    home: Path,
    *,
    state_url: str | None = None,
    warehouse: str | None = None,
    storage: dict[str, str] | None = None,
) -> InitResult:
    """Write ``icehouse.toml`` in ``home`` and keep it only if its settings work.

    Raises:
        InvalidConfig: a setting that cannot be read (e.g. an unknown ``[storage]`` key).
        SetupFailed: the state database or the warehouse could not be used.
    """
    config_path = home / CONFIG_FILE
    if config_path.exists():
        return InitResult(home, created=False)
    made = _first_missing(home)
    home.mkdir(parents=True, exist_ok=True)
    text = default_config_text(state_url=state_url, warehouse=warehouse, storage=storage)
    fresh = [config_path]
    try:
        _write(config_path, text, private=any(k in (storage or {}) for k in SECRET_KEYS))
        config = load_config(home)
        fresh += _local_files(config.state_url, config.warehouse)
        return _check(home, config.state_url, config.warehouse, config.storage)
    except BaseException:  # a failed check, and Ctrl-C too: a half-made home is no home
        _undo(made, fresh)
        raise


def _check(home: Path, state_url: str, warehouse: str, storage: dict[str, str]) -> InitResult:
    from sqlalchemy.exc import SQLAlchemyError

    from icehouse.lake import Lake
    from icehouse.tables.warehouse_check import check_warehouse

    shown = safe_url(state_url)
    engine = _open(state_url, shown)
    try:
        before = _state_version(engine, shown)
        checked = check_warehouse(warehouse, storage)
        left: tuple[str, ...] = ()
        if checked.created_bucket:
            left = (f"bucket {checked.bucket}, created by this init",)
        try:
            lake = Lake.open(home)
            try:
                lake._catalog  # noqa: B018 - opening it creates PyIceberg's catalog tables
            finally:
                lake.close()
        except (IcehouseError, SQLAlchemyError) as exc:
            if before == 0 and _state_version(engine, shown) > 0:
                left += (f"icehouse's tables in the state database {shown}",)
            raise _database_failed(shown, exc).leaving(left) from exc
    finally:
        engine.dispose()
    return InitResult(
        home,
        created=True,
        state_url=shown,
        warehouse=checked.uri,
        created_bucket=checked.bucket if checked.created_bucket else None,
    )


def _open(state_url: str, shown: str) -> Engine:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from icehouse.state.database import open_engine

    try:
        return open_engine(state_url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:  # a bad URL, no driver
        raise _database_failed(shown, exc) from exc


def _state_version(engine: Engine, shown: str) -> int:
    """The schema version of the database, which also proves it answers and lets us in."""
    from sqlalchemy.exc import SQLAlchemyError

    from icehouse.state.database import current_version

    try:
        with engine.connect():
            pass
        return current_version(engine)
    except (IcehouseError, SQLAlchemyError) as exc:
        raise _database_failed(shown, exc) from exc


def _database_failed(shown: str, exc: Exception) -> SetupFailed:
    """``exc``, met using the state database, as what a person should check."""
    from icehouse.resilience import classify

    if isinstance(exc, SetupFailed):
        return exc
    outage = classify(exc)
    if outage is not None or isinstance(exc, ServiceUnavailable):
        detail = (
            f"unreachable ({_driver_line(exc)}); check the host and port, and that the server runs"
        )
    elif isinstance(exc, IcehouseError):
        detail = exc.message
    else:
        line = _driver_line(exc)
        no_role = 'role "' in line and "does not exist" in line
        if no_role or "password authentication failed" in line or "no password" in line:
            detail = f"the login was refused ({line}); check the user and password"
        elif "does not exist" in line and "database" in line:
            detail = f"{line}; create it first (e.g. createdb), or name an existing one"
        elif "permission denied" in line:
            detail = (
                f"permission denied ({line}); the user must be allowed to create tables "
                "in the database"
            )
        elif isinstance(exc, ImportError) or "Can't load plugin" in line:
            detail = f"{line}; for PostgreSQL, pip install 'icehouse[postgres]'"
        else:
            detail = line
    return SetupFailed(service="state database", where=shown, detail=detail)


def _driver_line(exc: BaseException) -> str:
    """The first line of what the driver said (SQLAlchemy wraps it in its own words)."""
    original: BaseException = exc
    while not hasattr(original, "orig") and original.__cause__ is not None:
        original = original.__cause__  # an outage re-raised as ours, from SQLAlchemy's
    original = getattr(original, "orig", None) or original
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _write(path: Path, text: str, *, private: bool) -> None:
    """Write ``text``; a file holding a secret is made readable by its owner only before
    the secret is in it."""
    if private:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
    else:
        path.write_text(text)


def _first_missing(home: Path) -> Path | None:
    """The outermost folder of ``home`` that does not exist yet (None if it does)."""
    missing = None
    for folder in (home, *home.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _local_files(state_url: str, warehouse: str) -> list[Path]:
    """A SQLite file and a local warehouse folder that do not exist yet (the check makes
    them), so that a failed init takes them away again."""
    candidates = []
    if state_url.startswith("sqlite:///"):
        database = Path(state_url.removeprefix("sqlite:///"))
        candidates += [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    if "://" not in warehouse or warehouse.startswith("file://"):
        candidates.append(Path(warehouse.removeprefix("file://")))
    return [path for path in candidates if not path.exists()]


def _undo(made: Path | None, fresh: list[Path]) -> None:
    """Remove what this init wrote: the folder it made, else each new file or folder."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
        return
    for path in fresh:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
