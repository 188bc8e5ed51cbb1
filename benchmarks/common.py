"""Helpers shared by the benchmarks: one-core pinning, plain-text tables, an
``icehouse serve`` to measure against, and callers that take turns at the same queries
so that a drift of a shared machine falls on all of them alike."""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

ICEHOUSE = [sys.executable, "-c", "from icehouse.cli.app import main; main()"]
"""The CLI of the icehouse this interpreter imports (no console script needed)."""

Answer = TypeVar("Answer")
"""What one statement returns to the benchmark (a ``pyarrow.Table`` from the query API)."""


def pin_to_one_core() -> None:
    """Measure per-core throughput: the process and its threads share one CPU."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def table_print(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user and system) spent so far by process ``pid`` and every live
    process below it (a server's workers); None where ``/proc`` cannot tell (not Linux).
    On a machine shared with other work, CPU per request holds steadier than requests
    per second, which wait for every other process's turn on the cores."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while looking
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    if pid not in times:
        return None
    tree, total = [pid], 0.0
    while tree:
        current = tree.pop()
        total += times.get(current, 0.0)
        tree += [child for child, parent in parents.items() if parent == current]
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def icehouse_serve(home: Path, log: Path) -> Iterator[tuple[str, int]]:
    """``icehouse serve`` over ``home`` on a free port in a subprocess, logging to
    ``log``, until the block ends: its URL and process id (for its CPU time)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*ICEHOUSE, "serve", "--home", str(home), "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{home} did not serve:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass(frozen=True)
class Compared:
    """One caller's figures for one query beside the baseline caller's."""

    median_s: float
    """The median of its timed rounds, in seconds."""
    ratio: float
    """Its median over the baseline's median."""
    paired: float
    """The median over rounds of its run's ratio to the baseline's run in that round: a
    drift slower than a round slows both runs of the pair and cancels out."""
    cpu_s: float | None
    """The measured servers' CPU seconds per statement, a mean over the rounds (one
    statement is a few 10 ms clock ticks, too coarse for a median); None where the CPU
    time could not be read."""


@dataclass
class Turns(Generic[Answer]):
    """What rounds of taking turns measured, by (query, caller): each timed round's
    seconds in round order (so that round ``i`` of two callers pair up), the servers'
    CPU seconds summed over the timed rounds, and the last answer."""

    runs: int
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[str, str], float] = field(default_factory=dict)
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)

    def take(
        self,
        query: str,
        who: str,
        ask: Callable[[str, str], Answer],
        cpu_seconds: Callable[[], float | None],
        *,
        timed: bool,
    ) -> None:
        """Ask ``query`` as ``who``, keeping its answer, and its time when ``timed``."""
        key = (query, who)
        used = cpu_seconds()
        started = time.perf_counter()
        self.answers[key] = ask(query, who)
        elapsed = time.perf_counter() - started
        after = cpu_seconds()
        if not timed:
            return
        self.seconds.setdefault(key, []).append(elapsed)
        if used is not None and after is not None:
            self.cpu[key] = self.cpu.get(key, 0.0) + after - used

    def compare(self, query: str, who: str, baseline: str) -> Compared:
        """``who``'s figures for ``query`` beside ``baseline``'s (who may be the
        baseline itself: ratios of 1)."""
        mine, theirs = self.seconds[query, who], self.seconds[query, baseline]
        used = self.cpu.get((query, who))
        return Compared(
            median_s=statistics.median(mine),
            ratio=statistics.median(mine) / statistics.median(theirs),
            paired=statistics.median(a / b for a, b in zip(mine, theirs, strict=True)),
            cpu_s=None if used is None else used / self.runs,
        )


def take_turns(
    queries: Sequence[str],
    callers: Sequence[str],
    ask: Callable[[str, str], Answer],
    cpu_seconds: Callable[[], float | None],
    *,
    warmup: int,
    runs: int,
    seed: int,
) -> Turns[Answer]:
    """Ask every query as every caller, round after round: ``warmup`` untimed rounds,
    which warm each caller's path equally, then ``runs`` timed ones. In a round, the
    callers of one query run back to back in an order shuffled per round and query, so
    that a drift of the machine (another process, a frequency change) falls on all of
    them alike rather than on whoever always ran later.

    ``ask(query, who)`` runs one statement and returns its answer; ``cpu_seconds()`` is
    the CPU time the servers measured have used so far (None where it cannot be read).
    """
    turns: Turns[Answer] = Turns(runs)
    order = random.Random(seed)
    for round_number in range(warmup + runs):
        for query in queries:
            shuffled = list(callers)
            order.shuffle(shuffled)
            for who in shuffled:
                turns.take(query, who, ask, cpu_seconds, timed=round_number >= warmup)
    return turns
