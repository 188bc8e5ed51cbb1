"""Authorisation benchmark: what a REST request pays to be authenticated and authorised.

    python benchmarks/rest_auth.py                 # 2,000 rounds, SQLite state database
    ICEHOUSE_STATE_URL=postgresql+psycopg://... python benchmarks/rest_auth.py

Each request's bearer token is looked up in the state database (joined to its
principal, so that a revoked token or a deleted principal stops at once), the lake is
viewed as that principal, and every ``Lake`` method it calls asks ``authorize`` first.
The goal: all of that under 1 ms per request. Printed beside a governed method's own
check, measured against the same method undecorated, in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402
from icehouse.govern.authz import Resource, authorize  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.lake.governed import governed  # noqa: E402

GOAL_MS = 1.0


class Probe:
    """A group of the lake, as ``@governed`` sees one, whose method does nothing: so
    that what is timed is the check alone."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def bare(self, namespace: tuple[str, ...], name: str) -> None:
        """The method undecorated."""

    @governed("table.describe", on=("namespace", "name"))
    def checked(self, namespace: tuple[str, ...], name: str) -> None:
        """The same method, governed as the lake's table methods are."""


def per_call_us(work: Callable[[], object], rounds: int) -> float:
    """Microseconds per call of ``work``, the best of three runs of ``rounds`` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def measure(lake: Lake, rounds: int) -> list[tuple[str, float]]:
    ops = lake.principals.create("ops", admin=True)
    token = lake.principals.issue_token(ops.client_id, ops.client_secret).access_token
    principal = lake.principals.authenticate(token)
    probe = Probe(lake.as_principal(principal))
    resource = Resource("table", "web.hits")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("authorize()", lambda: authorize(principal, "table.describe", resource)),
        ("token check (state database)", lambda: lake.principals.authenticate(token)),
        ("lake.as_principal()", lambda: lake.as_principal(principal)),
        ("a method, undecorated", lambda: probe.bare(("web",), "hits")),
        ("the same method, @governed", lambda: probe.checked(("web",), "hits")),
    ]
    return [(name, per_call_us(work, rounds)) for name, work in steps]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="icehouse-auth-") as work:
        home = Path(work) / "lake"
        Lake.init(home)
        with Lake.open(home) as lake:
            rows = measure(lake, args.rounds)
    timings = dict(rows)
    check = timings["the same method, @governed"] - timings["a method, undecorated"]
    request = timings["token check (state database)"] + timings["lake.as_principal()"] + check
    table_print(["step", "µs per call"], [[name, f"{us:,.1f}"] for name, us in rows])
    verdict = "under" if request / 1000 < GOAL_MS else "OVER"
    print(
        f"\nper request: token check + view + one governed call = {request:,.0f} µs "
        f"({verdict} the {GOAL_MS:g} ms goal); each further governed call adds {check:,.1f} µs"
    )


if __name__ == "__main__":
    main()
