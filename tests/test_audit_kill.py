"""Nothing of the audit trail is lost or doubled when ``icehouse serve`` (a real
process) is killed: after its requests and before any export, at the instant between an
export's commit and its delete, and after an export. Every decision it recorded appears
exactly once in ``icehouse_system.audit``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from icehouse.ingest.faults import FAULT_EXIT_CODE
from icehouse.lake import Lake
from icehouse.state.audit import AuditRow, rows_after
from tests.fixtures_server import free_port
from tests.test_cli import ok

SRC = Path(__file__).resolve().parent.parent / "src"
WAIT_S = 120.0


def serve(
    home: Path, log: Path, *options: str, fault: str = ""
) -> tuple[subprocess.Popen[str], str]:
    """``icehouse serve`` as a real process (tokens required) on a free port, answering."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "ICEHOUSE_FAULT": fault}
    server = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "serve", "--home", str(home), "--port", str(port),
         *options],
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
        text=True,
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=5)
            return server, url
        except requests.ConnectionError:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)


def kill(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGKILL)
    server.wait()


def token(url: str, client_id: str, secret: str) -> str:
    answer = requests.post(
        f"{url}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["access_token"]
    return value


def create_namespace(url: str, bearer: str, name: str) -> int:
    """A request an administrator may make and a principal without grants may not."""
    answer = requests.post(
        f"{url}/v1/icehouse/namespaces",
        json={"namespace": [name]},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    return answer.status_code


def pending(home: Path) -> list[AuditRow]:
    with Lake.open(home) as lake:
        return rows_after(lake._engine, 0, limit=10_000)


def exported(home: Path) -> list[tuple[object, ...]]:
    query = "SELECT id, principal, action, resource, allowed FROM icehouse_system.audit ORDER BY id"
    with Lake.open(home) as lake:
        return [tuple(r.values()) for r in lake.sql(query).to_pylist()]


def test_every_decision_is_exported_exactly_once_across_sigkills(tmp_path: Path) -> None:
    home, log = tmp_path / "lake", tmp_path / "serve.log"
    ok("init", "--home", str(home))
    with Lake.open(home) as lake:
        ana = lake.principals.create("ana", admin=True)
        bob = lake.principals.create("bob")

    # 1. Requests, then SIGKILL before any export: their decisions are already recorded.
    server, url = serve(home, log, "--audit-export-every", "1h")
    statuses = [
        create_namespace(url, token(url, ana.client_id, ana.client_secret), "ana_ns"),
        create_namespace(url, token(url, bob.client_id, bob.client_secret), "bob_ns"),
    ]
    kill(server)
    assert statuses == [200, 403]
    recorded = pending(home)
    by_principal = [(r.principal, r.allowed) for r in recorded if r.principal in ("ana", "bob")]
    assert by_principal == [("ana", True), ("bob", False)]

    # 2. The next server's export dies between its commit and its delete.
    server, url = serve(home, log, "--audit-export-every", "0.1s", fault="audit.exported")
    assert server.wait(timeout=WAIT_S) == FAULT_EXIT_CODE, log.read_text()
    assert [r.id for r in pending(home)][: len(recorded)] == [r.id for r in recorded]

    # 3. The next one serves a request, exports, and is killed.
    server, url = serve(home, log, "--audit-export-every", "0.1s")
    assert create_namespace(url, token(url, ana.client_id, ana.client_secret), "later") == 200
    deadline = time.monotonic() + WAIT_S
    while pending(home):  # its export thread takes them
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    kill(server)

    rows = exported(home)
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids))
    assert rows[: len(recorded)] == [
        (r.id, r.principal, r.action, r.resource, r.allowed) for r in recorded
    ]
    ana_creates = [row for row in rows if row[1:3] == ("ana", "namespace.create")]
    assert len(ana_creates) == 2  # one per request: none lost, none doubled


def test_maintain_run_exports_and_a_kill_between_commit_and_delete_doubles_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "lake"
    ok("init", "--home", str(home))
    ok("table", "create", "logs.hits", "--schema", '{"id": "long"}', "--home", str(home))
    recorded = pending(home)
    env = {**os.environ, "PYTHONPATH": str(SRC), "ICEHOUSE_FAULT": "audit.exported"}
    command = [sys.executable, "-m", "icehouse", "maintain", "run", "--home", str(home)]

    crashed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert crashed.returncode == FAULT_EXIT_CODE, crashed.stderr
    ok("maintain", "run", "--home", str(home))  # the crashed export's records: skipped
    again = ok("maintain", "run", "--home", str(home))  # the run before it: exported

    assert "Audit: 1 record(s) exported to icehouse_system.audit" in again.stdout
    rows = exported(home)
    assert [row[0] for row in rows] == sorted({row[0] for row in rows})
    assert rows[: len(recorded)] == [
        (r.id, r.principal, r.action, r.resource, r.allowed) for r in recorded
    ]
