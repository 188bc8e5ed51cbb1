"""``icehouse health``: the probe a supervisor runs. Ready means the home opens and its
state database answers; a live ingest worker is one on this host that holds a current
writer-slot lease, which a running ``ingest --follow`` renews and a stopped one gives up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import ok, one_line, run

READY = "ok: icehouse.toml reads and the state database answers\n"


def test_a_home_that_opens_is_healthy(tmp_path: Path) -> None:
    home = str(tmp_path / "lake")
    ok("init", "--home", home)
    assert ok("health", "--home", home).stdout == READY


def test_an_unreachable_state_database_is_not_healthy(tmp_path: Path) -> None:
    home = str(tmp_path / "lake")
    ok("init", "--home", home)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://icehouse@127.0.0.1:{port}/icehouse"
    result = run("health", "--home", home, env={"ICEHOUSE_STATE_URL": url})
    assert result.exit_code == 1
    assert one_line(result.stderr).startswith(f"Error: state database {url} is unreachable: ")


def test_no_ingest_worker_on_this_host_fails_the_worker_probe(tmp_path: Path) -> None:
    home = str(tmp_path / "lake")
    ok("init", "--home", home)
    result = run("health", "--ingest-worker", "--home", home)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert one_line(result.stderr) == (
        f"Error: no ingest worker on {socket.gethostname()} holds a current writer slot "
        "lease (slots: none); is `icehouse ingest --follow` running here, and is it stuck?"
    )


def test_a_following_worker_passes_the_worker_probe_until_it_stops(tmp_path: Path) -> None:
    home = str(tmp_path / "lake")
    ok("init", "--home", home)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "ICEHOUSE_HOME")}
    follower = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--follow", "--home", home],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (probe := run("health", "--ingest-worker", "--home", home)).exit_code != 0:
            assert time.monotonic() < deadline, "the follower never took a writer slot"
            assert follower.poll() is None, follower.communicate()
            time.sleep(0.2)
        shown = json.loads(ok("health", "--ingest-worker", "--home", home, "-f", "json").stdout)
        follower.send_signal(signal.SIGTERM)
        _, stderr = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    owner = f"{socket.gethostname()}:{follower.pid}"
    first, second = probe.stdout.splitlines(keepends=True)
    assert first == READY
    assert second.startswith(f"ok: ingest worker {owner} holds writer slot w1 until 20")
    assert shown["healthy"] is True and shown["host"] == socket.gethostname()
    assert [(w["writer_id"], w["owner"]) for w in shown["workers"]] == [("w1", owner)]
    assert follower.returncode == 0, stderr
    assert run("health", "--ingest-worker", "--home", home).exit_code == 1
