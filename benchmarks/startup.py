"""Start-up benchmark: how long a command takes before it does anything.

    python benchmarks/startup.py                     # median of 5 runs per command
    python benchmarks/startup.py --runs 9
    python benchmarks/startup.py --before HEAD~3     # also an older revision, same run

Every command pays the imports of what it uses; the goals are `icehouse --help` under
0.3 s and `icehouse status` under 0.6 s on a 2-core machine. Printed beside the cost of
starting Python alone and of importing each heavy dependency, measured in the same run,
so that what is icehouse's own time shows. Wall time (what the goals are about) grows
with the machine's load; the CPU time (user + system) of the process and the import time
(`python -X importtime`, the sum of the top-level imports' cumulative times) are the
steadier figures. ``--before REV`` measures that git revision's ``src/`` (checked out
into a temporary folder) on the same home, taking turns with the current one.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402

GOALS = {"icehouse --help": 0.3, "icehouse status": 0.6}


def run_seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """How long ``command`` takes, start to exit, and the CPU time (user + system) it
    used: on a machine busy with other work the first grows, the second hardly moves."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def import_seconds(command: list[str], env: dict[str, str]) -> float:
    """The time ``command`` spends importing: the sum of the cumulative times that
    ``-X importtime`` reports for its top-level imports (those not nested in another)."""
    python, *rest = command
    done = subprocess.run(
        [python, "-X", "importtime", *rest], env=env, capture_output=True, text=True, check=False
    )
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _own, cumulative, name = line.removeprefix("import time:").split("|")
        if name.startswith(" ") and not name.startswith("  ") and cumulative.strip().isdigit():
            total += int(cumulative)
    return total / 1e6


def source_of(revision: str, into: Path) -> Path:
    """The ``src/`` folder of a git revision, written under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", revision, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure(
    commands: dict[str, list[str]], envs: dict[str, dict[str, str]], runs: int
) -> dict[tuple[str, str], tuple[float, ...]]:
    """Per (revision, command): the medians over ``runs`` runs, after one warm-up, of the
    wall time, the CPU time and the import time. The revisions take turns command by
    command, so that a change in the machine's load falls on both alike."""
    samples: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for run in range(runs + 1):
        for name, command in commands.items():
            for label, env in envs.items():
                figures = (*run_seconds(command, env), import_seconds(command, env))
                if run:  # the first run warms the file cache
                    samples.setdefault((label, name), []).append(figures)
    return {
        key: tuple(statistics.median(column) for column in zip(*runs_, strict=True))
        for key, runs_ in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", metavar="REV", help="also measure this git revision")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="icehouse-startup-") as work:
        home = Path(work) / "lake"
        trees = {"now": SRC}
        if args.before:
            trees = {"before": source_of(args.before, Path(work) / "before"), **trees}
        envs = {
            label: {**os.environ, "ICEHOUSE_HOME": str(home), "PYTHONPATH": str(tree)}
            for label, tree in trees.items()
        }
        subprocess.run(
            [python, "-m", "icehouse", "init"], env=envs["now"], capture_output=True, check=True
        )
        commands = {
            "python (nothing)": [python, "-c", "pass"],
            "import pyarrow": [python, "-c", "import pyarrow"],
            "import duckdb": [python, "-c", "import duckdb"],
            "import pyiceberg.table": [python, "-c", "import pyiceberg.table"],
            "import sqlalchemy": [python, "-c", "import sqlalchemy"],
            "import icehouse": [python, "-c", "import icehouse"],
            "icehouse --help": [python, "-m", "icehouse", "--help"],
            "icehouse table --help": [python, "-m", "icehouse", "table", "--help"],
            "icehouse status": [python, "-m", "icehouse", "status"],
        }
        print(f"\n## Start-up on {os.cpu_count()} cores, median of {args.runs} runs\n")
        results = measure(commands, envs, args.runs)
        header = ["command"]
        for label in envs:
            header += [f"{label}: wall s", "cpu s", "imports s"]
        rows = []
        for name in commands:
            row = [name]
            for label in envs:
                row += [f"{figure:.3f}" for figure in results[label, name]]
            goal = GOALS.get(name)
            met = goal is not None and results["now", name][0] <= goal
            verdict = "" if goal is None else ("met" if met else "missed")
            rows.append([*row, f"{goal:.1f}" if goal else "", verdict])
        table_print([*header, "goal s (wall)", "now"], rows)


if __name__ == "__main__":
    main()
