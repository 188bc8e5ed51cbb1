"""Federation benchmark: a producer's table read through a central server's mount,
beside the same reads on the producer directly, in one run.

    python benchmarks/mesh.py                           # 1 M rows, 5 rounds, 2 s per load
    python benchmarks/mesh.py --rows 200000 --runs 3 --clients 1 10
    python benchmarks/mesh.py --sections load --seconds 5 --governed

Two real ``icehouse serve`` processes on loopback, each with a home of its own: the
producer serves ``demo.requests`` (``--rows`` rows over 14 days, built once under
``--data`` as ``benchmarks/queries.py`` builds it), and the central server mounts the
producer (``icehouse catalog mount mesh --type rest``) with an administrator's
credential of the producer, so the table reads there as ``mesh.demo.requests``.

``queries``: Q1–Q5 of the CDN workload (``icehouse.demo.queries``) through the query API
(``icehouse.connect``), on the producer as its administrator (the baseline) and on the
central server as its administrator; with ``--governed`` also as a central principal with
a plain ``GRANT SELECT`` on the mounted table, and as one whose data filter has a row
filter every row passes and excludes a column the queries do not read. The paths take
turns (``take_turns`` in ``benchmarks/common.py``, as ``benchmarks/governed.py`` does):
each round runs every query once on each path, back to back, in an order shuffled per
round and query (``--seed``), so that a drift of the machine (another process, a
frequency change) falls on every path alike rather than on whichever ran later;
``--warmup`` rounds, untimed, warm each path's caches equally. Reported per query and
path: the median of ``--runs`` rounds, the ratio of the medians, the paired ratio (the
median over rounds of each round's ratio to that round's producer run, which cancels
drift slower than a round), the CPU per statement of both servers (a mean over the
rounds, since one statement is a few clock ticks), and whether the rows are the
producer's. Goal, on the paired ratio, per path: through the mount <= 1.15x.

``load``: ``loadTable`` of the table at each ``--clients`` count (threads, each with its
own HTTP session and token), on the producer's own prefix and on the central server's
mount prefix (``/v1/mesh/...``; ``--governed`` adds the SELECT-grant principal; the
filtered one is refused loadTable by design): req/s, p50, p99. Goal: through the mount
at 10 clients >= 200 req/s with p99 < 50 ms.

Every line also shows the CPU time the server processes spent per request (user +
system, from ``/proc/PID/stat``; a request through the mount costs the central server
and the producer it asks): on a machine whose cores are shared, wall-clock throughput
moves with the neighbours' load, CPU per request much less. Nothing is
written outside ``--data`` and a temporary folder for the central home.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pyarrow as pa  # noqa: E402
import requests  # noqa: E402

import icehouse  # noqa: E402
from common import ICEHOUSE, Turns, icehouse_serve, table_print, take_turns  # noqa: E402
from icehouse.demo.queries import workload  # noqa: E402
from icehouse.demo.workload import TABLE  # noqa: E402
from queries import START, build_table, same_answer  # noqa: E402
from rest import Measured, expect, measure  # noqa: E402

MOUNT = "mesh"
QUERIES_GOAL = 1.15
LOAD_CLIENTS_GOAL, LOAD_RATE_GOAL, LOAD_P99_GOAL_MS = 10, 200.0, 50.0
PRODUCER, CENTRAL, GOVERNED = "producer", "central mount (admin)", "central mount (SELECT grant)"
FILTERED = "central mount (row filter + excluded column)"
EVERY_ROW, EXCLUDED = "customer_id >= 0", "provider"
"""The filtered principal's data filter: a real predicate every row of the demo passes,
and a column none of Q1–Q5 reads, so its answers are the producer's."""
SECTIONS = ("queries", "load")


@dataclass
class Served:
    """An ``icehouse serve`` process: its URL, its pid (for CPU time), and credentials."""

    url: str
    pid: int
    credentials: dict[str, str]
    """Who -> ``CLIENT_ID:SECRET``."""

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cli(*args: str) -> str:
    """Run ``icehouse ARGS`` and return what it printed."""
    done = subprocess.run([*ICEHOUSE, *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"icehouse {' '.join(args[:2])} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def new_principal(home: Path, name: str, *admin: str) -> str:
    """A principal made anew in ``home`` (an earlier run's is replaced): its credential."""
    listed = json.loads(cli("principal", "list", "--format", "json", "--home", str(home)))
    if any(p["name"] == name for p in listed):
        cli("principal", "delete", name, "--yes", "--home", str(home))
    made = json.loads(
        cli("principal", "create", name, *admin, "--format", "json", "--home", str(home))
    )
    return f"{made['client_id']}:{made['client_secret']}"


@contextmanager
def serving(home: Path, log: Path, credentials: dict[str, str]) -> Iterator[Served]:
    """``icehouse serve`` over ``home`` on a free port (tokens required), until the
    block ends."""
    with icehouse_serve(home, log) as (url, pid):
        yield Served(url, pid, credentials)


@contextmanager
def mesh(args: argparse.Namespace) -> Iterator[tuple[Served, Served]]:
    """The producer (its table built once under ``--data``) and a fresh central server
    that mounts it, both serving."""
    producer_home = args.data / f"producer-{args.rows}"
    args.data.mkdir(parents=True, exist_ok=True)
    build_table(producer_home, args.rows, args.seed)
    mounting = new_principal(producer_home, "bench_central", "--admin")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mesh-bench-")))
        producer = stack.enter_context(
            serving(producer_home, work / "producer.log", {PRODUCER: mounting})
        )
        central_home = work / "central"
        cli("init", "--home", str(central_home))
        cli("catalog", "mount", MOUNT, "--type", "rest", "--uri", producer.url,
            "--credential", mounting, "--home", str(central_home))  # fmt: skip
        credentials = {CENTRAL: new_principal(central_home, "bench_admin", "--admin")}
        if args.governed:
            credentials[GOVERNED] = new_principal(central_home, "bench_plain")
            cli("sql", f"GRANT SELECT ON TABLE {MOUNT}.{TABLE} TO PRINCIPAL bench_plain",
                "--home", str(central_home))  # fmt: skip
            credentials[FILTERED] = new_principal(central_home, "bench_filtered")
            for sql in (
                f"CREATE DATA FILTER bench_every_row ON {MOUNT}.{TABLE} WHERE {EVERY_ROW} "
                f"EXCLUDING COLUMNS ({EXCLUDED})",
                "GRANT SELECT ON DATA FILTER bench_every_row TO PRINCIPAL bench_filtered",
            ):
                cli("sql", sql, "--home", str(central_home))
        central = stack.enter_context(serving(central_home, work / "central.log", credentials))
        yield producer, central


def paths(producer: Served, central: Served) -> list[tuple[str, Served]]:
    """Each line measured, and the server that answers it (the producer's first)."""
    return [(PRODUCER, producer)] + [(who, central) for who in central.credentials]


# -- queries: Q1–Q5 through the query API ---------------------------------------------------


def queries(args: argparse.Namespace, producer: Served, central: Served) -> None:
    """Q1–Q5 on the producer and through the mount, taking turns (see the docstring)."""
    lines = paths(producer, central)
    statements = {query.name: query.sql for query in workload(START)}
    connections = {who: icehouse.connect(s.url, s.credentials[who]) for who, s in lines}

    def ask(name: str, who: str) -> pa.Table:
        sql = statements[name]
        return connections[who].sql(sql if who == PRODUCER else mounted_sql(sql))

    try:
        turns = take_turns(
            list(statements),
            list(connections),
            ask,
            partial(cpu_of, producer, central),
            warmup=args.warmup,
            runs=args.runs,
            seed=args.seed,
        )
    finally:
        for connection in connections.values():
            connection.close()
    report_queries(list(statements), turns, list(connections))


def report_queries(names: list[str], turns: Turns[pa.Table], lines: list[str]) -> None:
    """One row per query and path: the median, the ratio of its median to the
    producer's, the paired ratio (the median of the per-round ratios, which the goal is
    judged on), both servers' CPU per statement (a mean over the rounds) and whether the
    rows are the producer's; then each path's worst paired ratio against the goal."""
    rows, worst = [], dict.fromkeys((who for who in lines if who != PRODUCER), 0.0)
    for name in names:
        for who in lines:
            line = turns.compare(name, who, PRODUCER)
            if who != PRODUCER:
                worst[who] = max(worst[who], line.paired)
            same = same_answer(
                settled(turns.answers[name, who]), settled(turns.answers[name, PRODUCER])
            )
            rows.append([
                name, who, f"{line.median_s * 1000:,.1f}", f"{line.ratio:.2f}x",
                f"{line.paired:.2f}x", "n/a" if line.cpu_s is None else f"{line.cpu_s * 1000:,.1f}",
                "yes" if same else "NO",
            ])  # fmt: skip
    header = ["query", "path", f"median ms ({turns.runs} rounds)", "vs producer", "paired"]
    table_print([*header, "CPU ms (both servers)", "same rows"], rows)
    print()
    for who, ratio in worst.items():
        verdict = "within" if ratio <= QUERIES_GOAL else "OVER"
        print(f"{who}: worst paired ratio {ratio:.2f}x ({verdict} the {QUERIES_GOAL:.2f}x goal)")
    print("vs producer: the ratio of the medians, paired: the median of the per-round ratios")


def cpu_of(*servers: Served) -> float:
    """The CPU time the servers have used so far, together: a query through the mount
    costs the central server, and the producer the loads it answers."""
    return sum(server.cpu_seconds() for server in servers)


def mounted_sql(sql: str) -> str:
    """A workload query reading the mounted table instead of the producer's own name."""
    return sql.replace(TABLE, f"{MOUNT}.{TABLE}")


def settled(table: pa.Table) -> pa.Table:
    """The answer without Q4's ``top_country``: ``arg_max`` breaks a tie between
    countries by scan order, so two runs of one query differ there."""
    return table.drop_columns([c for c in ("top_country",) if c in table.column_names])


# -- load: loadTable at 1, 10 and 50 clients -------------------------------------------------


def token(server: Served, credential: str) -> str:
    client_id, secret = credential.split(":", 1)
    answer = requests.post(
        f"{server.url}/v1/oauth/tokens",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    value: str = expect(answer, 200).json()["access_token"]
    return value


def table_url(server: Served, who: str) -> str:
    namespace, name = TABLE.split(".")
    prefix = MOUNT if who != PRODUCER else own_prefix(server)
    return f"{server.url}/v1/{prefix}/namespaces/{namespace}/tables/{name}"


def own_prefix(server: Served) -> str:
    headers = {"Authorization": f"Bearer {token(server, server.credentials[PRODUCER])}"}
    config = requests.get(f"{server.url}/v1/config", headers=headers, timeout=30)
    prefix: str = expect(config, 200).json()["overrides"]["prefix"]
    return prefix


def loader(server: Served, who: str, url: str, _: int) -> Callable[[], None]:
    """One client's repeated ``loadTable`` (its session and token made here, untimed)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token(server, server.credentials[who])}"
    expect(session.get(url), 200)

    def load() -> None:
        try:
            expect(session.get(url), 200)
        except requests.ConnectionError:  # closed by the server while the others set up
            expect(session.get(url), 200)

    return load


def load(args: argparse.Namespace, producer: Served, central: Served) -> None:
    """loadTable on the producer and through the mount (see the docstring)."""
    rows = []
    for count in args.clients:
        for who, server in paths(producer, central):
            if who == FILTERED:  # refused by design: an engine handed it would read every row
                continue
            url = table_url(server, who)
            before = producer.cpu_seconds(), central.cpu_seconds()
            done: Measured = measure(count, args.seconds, partial(loader, server, who, url))
            after = producer.cpu_seconds(), central.cpu_seconds()
            per = [
                (a - b) * 1000 / max(done.requests, 1) for a, b in zip(after, before, strict=True)
            ]
            rows.append([
                str(count), who, f"{done.per_second:,.0f}", f"{done.p50_ms:.1f}",
                f"{done.p99_ms:.1f}", f"{per[1]:.2f}", f"{per[0]:.2f}", verdict(who, count, done),
            ])  # fmt: skip
            print(f"  {who} x{count}: {done.per_second:,.0f}/s", file=sys.stderr, flush=True)
    header = ["clients", "path", "req/s", "p50 ms", "p99 ms", "CPU ms/req: central", "producer"]
    header.append("goal")
    table_print(header, rows)


def verdict(who: str, clients: int, done: Measured) -> str:
    if who == PRODUCER or clients != LOAD_CLIENTS_GOAL:
        return ""
    if done.per_second < LOAD_RATE_GOAL:
        return f"< {LOAD_RATE_GOAL:.0f}/s"
    return "ok" if done.p99_ms < LOAD_P99_GOAL_MS else f"p99 >= {LOAD_P99_GOAL_MS:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="SECTION",
        help=f"of: {', '.join(SECTIONS)} (default: both)",
    )  # fmt: skip
    parser.add_argument("--rows", type=int, default=1_000_000, help="the producer's table")
    parser.add_argument("--runs", type=int, default=5, help="queries: timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="queries: untimed rounds before them")
    parser.add_argument("--seconds", type=float, default=2.0, help="load: per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50], help="load")
    parser.add_argument(
        "--governed", action="store_true",
        help="also measure central principals with a plain SELECT grant and with a data filter",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=13, help="the table's rows; queries: the turns' order"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("/tmp/icehouse-bench-mesh"),
        help="where the producer's home is built once and kept",
    )
    args = parser.parse_args()
    with mesh(args) as (producer, central):
        for name in args.sections:
            print(f"\n== {name} ==\n", flush=True)
            {"queries": queries, "load": load}[name](args, producer, central)


if __name__ == "__main__":
    main()
