"""The lake's REST catalog served in this process for one Spark rewrite, so that
``icehouse maintain compact --engine spark`` (and the autopilot on a table whose engine is
Spark) needs no ``icehouse serve`` started by hand.

It listens on 127.0.0.1, on a port the system picks, while the run lasts. Spark signs in
as a principal made for the run: an administrator, since a rewrite commits to the table
as the local administrator running it would, whose secret is known only to this process
and to the Spark driver it hands it to. The principal is deleted when the run ends,
however it ends, and its secret and tokens stop working with it; a process killed
mid-run leaves an unusable principal (``maintain-spark-...``) behind, to be deleted with
``icehouse principal delete``.
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from icehouse.errors import SparkUnavailable

if TYPE_CHECKING:
    from icehouse.lake import Lake

PRINCIPAL_PREFIX = "maintain-spark-"
"""The name of each run's principal starts so, so that one left by a killed run is
recognised in ``icehouse principal list``."""
START_SECONDS = 30.0
"""How long the server may take to start before the run gives up."""


@dataclass(frozen=True)
class RunCatalog:
    """Where Spark finds the catalog served for the run, and the credential it signs in
    with (``CLIENT_ID:CLIENT_SECRET``)."""

    uri: str
    credential: str


@contextmanager
def serve_for_run(lake: Lake) -> Iterator[RunCatalog]:
    """Serve ``lake``'s REST catalog on 127.0.0.1 until the block ends, to a principal
    made for the block.

    Raises:
        Forbidden: the lake's principal may not create principals (only an
            administrator may lend Spark an administrator's rights).
        SparkUnavailable: the server did not start.
    """
    name = PRINCIPAL_PREFIX + secrets.token_hex(6)
    credentials = lake.principals.create(name, admin=True)
    try:
        with _serving(lake) as uri:
            yield RunCatalog(uri, f"{credentials.client_id}:{credentials.client_secret}")
    finally:
        lake.principals.delete(name)


@contextmanager
def _serving(lake: Lake) -> Iterator[str]:
    """uvicorn on a thread, on a socket bound before it starts (no other process can take
    the port in between); stopped, with its connections closed, when the block ends."""
    import uvicorn

    from icehouse.server.app import create_app

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(
        create_app(lake, allow_anonymous=False),
        log_config=None,  # the process's logging stays as it is
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, name="spark-catalog", daemon=True
    )
    thread.start()
    try:
        waited = threading.Event()
        for _ in range(int(START_SECONDS / 0.01)):
            if server.started or not thread.is_alive():
                break
            waited.wait(0.01)
        if not server.started:
            raise SparkUnavailable(
                "local",
                detail=f"the lake's catalog could not be served on 127.0.0.1:{port}",
                fix="See the log above, or serve the lake (`icehouse serve`) and set "
                "[maintain] spark-catalog-uri",
            )
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        listening.close()
