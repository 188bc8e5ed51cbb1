"""A real icehouse REST catalog server for tests: uvicorn on 127.0.0.1, a free port,
in a background thread, over a real lake home (``fixtures_lake.lake``).

Test modules bind what they use as module attributes (``served = fixtures_server.served``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.rest import RestCatalog

from icehouse.lake import Lake
from icehouse.server import create_app


@dataclass(frozen=True)
class Served:
    lake: Lake
    uri: str

    def client(self, **properties: Any) -> RestCatalog:
        """A fresh PyIceberg REST client of this server (its own session and config)."""
        catalog = load_catalog("served", type="rest", uri=self.uri, **properties)
        assert isinstance(catalog, RestCatalog)
        return catalog

    def url(self, path: str) -> str:
        return self.uri + path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(lake: Lake) -> Iterator[Served]:
    """The lake served over HTTP until the test ends."""
    with serving(lake) as running:
        yield running


@contextmanager
def serving(
    lake: Lake, *, allow_anonymous: bool = True, audit_export_every: float | None = None
) -> Iterator[Served]:
    """``lake`` served over HTTP until the block ends (by default a request without a
    token acts as the lake's owner, as most tests of the catalog want; the audit trail
    is exported only when ``audit_export_every`` says how often)."""
    config = uvicorn.Config(
        create_app(lake, allow_anonymous=allow_anonymous, audit_export_every=audit_export_every),
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start (see the log above)")
        threading.Event().wait(0.01)
    try:
        yield Served(lake=lake, uri=f"http://127.0.0.1:{config.port}")
    finally:
        server.should_exit = True
        thread.join()
