"""Helpers shared by the benchmarks: one-core pinning, plain-text tables, and an
``icehouse serve`` to measure against."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ICEHOUSE = [sys.executable, "-c", "from icehouse.cli.app import main; main()"]
"""The CLI of the icehouse this interpreter imports (no console script needed)."""


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
