"""Busy-table benchmark: clients committing to one table through the REST catalog at once.

    python benchmarks/busy_table.py                 # 8 clients, 5 s per scenario
    python benchmarks/busy_table.py --clients 4 --seconds 10

Two workloads, each run with the server's own retry of a lost compare-and-swap off
(every loser answered 409) and on (a loser whose requirements still hold on the newer
metadata is staged again and lands), in the same run on fresh lakes:

- properties: each client sets its own table property, asserting only the table's
  identity (as schema and property changes do): no commit conflicts with another, so
  every 409 is one the server could have spared;
- appends: each client appends one row at a time with PyIceberg, retrying 409s itself
  (``commit.retry.num-retries``); two appends to ``main`` do conflict, so the server
  cannot spare these: the figures show what a client pays for them.

Printed: commits that landed, 409 answers, and commits landed per second.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import requests
import uvicorn
from pyiceberg.catalog import load_catalog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.server import create_app  # noqa: E402
from icehouse.tables import multi_commit  # noqa: E402

SCHEMA = {"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "id", "type": "long"}]}
TABLE_URL = "/v1/icehouse/namespaces/bench/tables/hits"


@contextmanager
def served_lake(work: Path) -> Iterator[str]:
    """A fresh lake with ``bench.hits``, served on a free port; yields its URI."""
    Lake.init(work / "lake")
    with Lake.open(work / "lake") as lake:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(lake), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        uri = f"http://127.0.0.1:{port}"
        requests.post(f"{uri}/v1/icehouse/namespaces", json={"namespace": ["bench"]}, timeout=30)
        created = {
            "name": "hits",
            "schema": SCHEMA,
            "properties": {
                "commit.retry.num-retries": "1000",
                "commit.retry.min-wait-ms": "5",
                "commit.retry.max-wait-ms": "200",
            },
        }
        requests.post(f"{uri}/v1/icehouse/namespaces/bench/tables", json=created, timeout=30)
        try:
            yield uri
        finally:
            server.should_exit = True
            thread.join()


def set_properties(uri: str, client: int, until: float) -> tuple[int, int]:
    """(commits landed, 409s) of one client setting its own property until ``until``."""
    table_uuid = requests.get(uri + TABLE_URL, timeout=30).json()["metadata"]["table-uuid"]
    landed = refused = 0
    while time.monotonic() < until:
        change = {
            "requirements": [{"type": "assert-table-uuid", "uuid": table_uuid}],
            "updates": [{"action": "set-properties", "updates": {f"client-{client}": str(landed)}}],
        }
        status = requests.post(uri + TABLE_URL, json=change, timeout=60).status_code
        landed, refused = landed + (status == 200), refused + (status == 409)
    return landed, refused


class _Retries(logging.Handler):
    """Counts PyIceberg's retries of refused commits (it logs each one)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            with self._lock:
                self.count += 1


def append_rows(uri: str, client: int, until: float) -> tuple[int, int]:
    """(appends landed, 0) of one PyIceberg client appending one row at a time: it retries
    its 409s itself, and ``_Retries`` counts them from PyIceberg's log."""
    table = load_catalog(f"c{client}", type="rest", uri=uri).load_table("bench.hits")
    landed = 0
    schema = pa.schema([pa.field("id", pa.int64())])
    while time.monotonic() < until:
        table.append(pa.table({"id": [client * 1_000_000 + landed]}, schema=schema))
        landed += 1
    return landed, 0


def run(
    workload: Callable[[str, int, float], tuple[int, int]], clients: int, seconds: float
) -> tuple[int, int]:
    """Run ``workload`` in ``clients`` threads on a fresh served lake; (landed, 409s)."""
    with (
        tempfile.TemporaryDirectory(prefix="icehouse-busy-") as work,
        served_lake(Path(work)) as uri,
    ):
        results: list[tuple[int, int]] = []
        lock = threading.Lock()
        until = time.monotonic() + seconds

        def one(client: int) -> None:
            outcome = workload(uri, client, until)
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=one, args=(c,)) for c in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    server_retries = multi_commit.SWAP_ATTEMPTS
    rows = []
    for name in ("properties", "appends"):
        for attempts, label in ((1, "off"), (server_retries, "on")):
            multi_commit.SWAP_ATTEMPTS = attempts
            retries = _Retries()
            logging.getLogger("pyiceberg").addHandler(retries)
            try:
                if name == "properties":
                    landed, refused = run(set_properties, args.clients, args.seconds)
                else:
                    landed, _ = run(append_rows, args.clients, args.seconds)
                    refused = retries.count
            finally:
                logging.getLogger("pyiceberg").removeHandler(retries)
            rate = landed / args.seconds
            rows.append([name, label, str(landed), str(refused), f"{rate:.1f}"])
    print(f"{args.clients} clients, {args.seconds:g} s per run, one table")
    table_print(["workload", "server retry", "landed", "409s", "landed/s"], rows)


if __name__ == "__main__":
    main()
