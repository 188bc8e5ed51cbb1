"""``icehouse serve``: requires bearer tokens unless told to allow anonymous access, and
that only on loopback; once started it prints how to connect, and a client that follows
those words sees the lake."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from pyiceberg.catalog import Catalog, load_catalog

from tests.fixtures_server import free_port
from tests.test_cli import as_json, ok, one_line, run

SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.fixture
def home(tmp_path: Path) -> str:
    path = tmp_path / "lake"
    ok("init", "--home", str(path))
    return str(path)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_serve_refuses_anonymous_access_on_a_host_others_can_reach(home: str, host: str) -> None:
    result = run("serve", "--home", home, "--host", host, "--allow-anonymous")
    assert result.exit_code == 2
    assert f"only on a loopback host (127.0.0.1, ::1 or localhost), not {host!r}" in one_line(
        result.stderr
    )


def start_serve(
    home: str, *options: str, anonymous: bool = True
) -> tuple[subprocess.Popen[str], str]:
    """``icehouse serve`` as a real process on a free port, and its URL."""
    port = free_port()
    allow = ["--allow-anonymous"] if anonymous else []
    server = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "serve", "--home", home, "--port", str(port),
         *allow, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    return server, f"http://127.0.0.1:{port}"


def stop(server: subprocess.Popen[str]) -> str:
    """SIGTERM, as a supervisor stops it; returns what it logged on stderr."""
    server.send_signal(signal.SIGTERM)
    _, stderr = server.communicate()
    assert server.returncode == 0, stderr
    return stderr


def test_serve_prints_how_to_connect_and_serves_until_stopped(home: str) -> None:
    ok("table", "create", "web.hits", "--schema", '{"id": "long"}', "--home", home)
    server, url = start_serve(home)
    try:
        assert server.stdout is not None
        printed = [server.stdout.readline() for _ in range(5)]
        assert printed[0].strip() == (
            f"Serving the Iceberg REST catalog at {url} (anonymous: a request without a "
            "token acts as the administrator)"
        )
        snippet = f'catalog = load_catalog("icehouse", type="rest", uri="{url}")'
        assert snippet in "".join(printed)
        catalog = _connect_when_listening(server, url)
        assert catalog.list_tables("web") == [("web", "hits")]
    finally:
        stderr = stop(server)
    assert "owner GET /v1/{prefix}/namespaces/{namespace}/tables 200" in stderr


def test_serve_format_json_prints_the_client_configuration(home: str) -> None:
    server, url = start_serve(home, "--format", "json")
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline()]
        while lines[-1] not in ("}\n", ""):  # "" if it ended early
            lines.append(server.stdout.readline())
        printed = json.loads("".join(lines))
        assert printed == {
            "url": url,
            "anonymous": True,
            "pyiceberg": {"type": "rest", "uri": url},
        }
        assert _connect_when_listening(server, printed["pyiceberg"]["uri"]).list_namespaces() == []
    finally:
        stop(server)


def test_serve_without_allow_anonymous_requires_a_token_and_a_principal_connects(
    home: str,
) -> None:
    ok("table", "create", "web.hits", "--schema", '{"id": "long"}', "--home", home)
    admin = as_json("principal", "create", "etl", "--admin", "--home", home)
    server, url = start_serve(home, anonymous=False)
    try:
        assert server.stdout is not None
        printed = "".join(server.stdout.readline() for _ in range(7))
        assert printed.startswith(
            f"Serving the Iceberg REST catalog at {url} (bearer tokens required)\n"
        )
        assert "icehouse principal create NAME --admin" in one_line(printed)
        assert 'credential="CLIENT_ID:CLIENT_SECRET",' in printed
        assert f'**{{"oauth2-server-uri": "{url}/v1/oauth/tokens"}})' in printed
        credential = f"{admin['client_id']}:{admin['client_secret']}"
        catalog = _connect_when_listening(
            server, url, credential=credential, **{"oauth2-server-uri": f"{url}/v1/oauth/tokens"}
        )
        assert catalog.list_tables("web") == [("web", "hits")]
        assert requests.get(f"{url}/v1/icehouse/namespaces", timeout=30).status_code == 401
    finally:
        stop(server)


def test_each_request_is_logged_with_its_principal_route_status_and_time(home: str) -> None:
    alice = as_json("principal", "create", "alice", "--admin", "--home", home)
    server, url = start_serve(home, anonymous=False)
    try:
        catalog = _connect_when_listening(
            server,
            url,
            credential=f"{alice['client_id']}:{alice['client_secret']}",
            **{"oauth2-server-uri": f"{url}/v1/oauth/tokens"},
        )
        catalog.list_namespaces()
        assert requests.get(f"{url}/v1/icehouse/namespaces", timeout=30).status_code == 401
    finally:
        stderr = stop(server)
    logged = [line.split(" ", 2)[2] for line in stderr.splitlines()]  # after the time
    assert any(re.fullmatch(r"- POST /v1/oauth/tokens 200 \d+\.\d ms", ln) for ln in logged)
    assert any(re.fullmatch(r"alice GET /v1/config 200 \d+\.\d ms", ln) for ln in logged)
    assert any(
        re.fullmatch(r"alice GET /v1/\{prefix\}/namespaces 200 \d+\.\d ms", ln) for ln in logged
    )
    assert any(re.fullmatch(r"- GET /v1/\{prefix\}/namespaces 401 \d+\.\d ms", ln) for ln in logged)


def _connect_when_listening(server: subprocess.Popen[str], url: str, **properties: str) -> Catalog:
    """The URL is printed before the port is bound: retry until it answers (or the
    server ended)."""
    while True:
        try:
            return load_catalog("icehouse", type="rest", uri=url, **properties)
        except requests.ConnectionError:
            if server.poll() is not None:
                raise AssertionError(f"the server ended: {server.communicate()}") from None
            threading.Event().wait(0.05)


def test_the_cli_starts_without_loading_the_web_stack() -> None:
    """Only ``serve`` needs FastAPI and uvicorn; every other command starts without."""
    probe = "import sys, icehouse.cli.app; print(sorted({'fastapi', 'uvicorn'} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert loaded.stdout.strip() == "[]"


def test_serve_with_two_workers_honours_every_token_in_both_and_stops_them_all(
    home: str,
) -> None:
    """Tokens live in the state database, so a token one worker issued is good in the
    other: 40 tokens, each issued and then used on connections of their own (the kernel
    hands each new connection to either worker), are all honoured."""
    ok("table", "create", "web.hits", "--schema", '{"id": "long"}', "--home", home)
    admin = as_json("principal", "create", "etl", "--admin", "--home", home)
    server, url = start_serve(home, "--workers", "2", anonymous=False)
    try:
        _connect_when_listening(
            server,
            url,
            credential=f"{admin['client_id']}:{admin['client_secret']}",
            **{"oauth2-server-uri": f"{url}/v1/oauth/tokens"},
        )
        workers = _children(server.pid)
        assert len(workers) == 2
        statuses = []
        for _ in range(40):
            issued = requests.post(
                f"{url}/v1/oauth/tokens",
                data={
                    "grant_type": "client_credentials",
                    "client_id": admin["client_id"],
                    "client_secret": admin["client_secret"],
                },
                timeout=30,
            )
            bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
            for _ in range(3):
                listed = requests.get(
                    f"{url}/v1/icehouse/namespaces/web/tables", headers=bearer, timeout=30
                )
                statuses.append(listed.status_code)
                assert listed.json()["identifiers"] == [{"namespace": ["web"], "name": "hits"}]
        assert statuses == [200] * 120
    finally:
        stop(server)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def _children(pid: int) -> list[int]:
    """The worker processes of ``pid`` (uvicorn starts them with multiprocessing's spawn,
    whose command line names it)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found
