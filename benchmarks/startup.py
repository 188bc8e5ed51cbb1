"""Start-up benchmark: how long a command takes before it does anything.

    python benchmarks/startup.py            # median of 5 runs per command
    python benchmarks/startup.py --runs 9

Every command pays the imports of what it uses; the goals are `icehouse --help` under
0.3 s and `icehouse status` under 0.6 s on a 2-core machine. Printed beside the cost of
starting Python alone and of importing each heavy dependency, measured in the same run,
so that what is icehouse's own time shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402

GOALS = {"icehouse --help": 0.3, "icehouse status": 0.6}


def timed(command: list[str], env: dict[str, str], runs: int) -> float:
    """The median wall time of ``command`` over ``runs`` runs (after one warm-up)."""
    subprocess.run(command, env=env, capture_output=True, check=False)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="icehouse-startup-") as work:
        home = Path(work) / "lake"
        env = {**os.environ, "ICEHOUSE_HOME": str(home)}
        subprocess.run([python, "-m", "icehouse", "init"], env=env, capture_output=True)
        commands = {
            "python (nothing)": [python, "-c", "pass"],
            "import pyarrow": [python, "-c", "import pyarrow"],
            "import duckdb": [python, "-c", "import duckdb"],
            "import pyiceberg.table": [python, "-c", "import pyiceberg.table"],
            "import sqlalchemy": [python, "-c", "import sqlalchemy"],
            "icehouse --help": [python, "-m", "icehouse", "--help"],
            "icehouse status": [python, "-m", "icehouse", "status"],
        }
        print(f"\n## Start-up on {os.cpu_count()} cores, median of {args.runs} runs\n")
        rows = []
        for name, command in commands.items():
            seconds = timed(command, env, args.runs)
            goal = GOALS.get(name)
            verdict = "" if goal is None else ("met" if seconds <= goal else "missed")
            rows.append([name, f"{seconds:.3f}", f"{goal:.1f}" if goal else "", verdict])
        table_print(["command", "wall s", "goal s", ""], rows)


if __name__ == "__main__":
    main()
