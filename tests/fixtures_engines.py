"""Other engines as separate processes, each in a virtualenv of its own, for tests that
point them at a real icehouse server.

DuckDB extensions must match DuckDB's version exactly, and the iceberg extension is
published for fewer DuckDB releases than icehouse may use, so the engine under test runs
in a virtualenv with DuckDB and the extension wheels pinned together
(``DUCKDB_ENGINE_VERSION``). The virtualenv is built once, under ``.cache/engines/``
(ignored by git), and reused by later runs. Test modules bind what they use as module
attributes (``duckdb_engine = fixtures_engines.duckdb_engine``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DUCKDB_ENGINE_VERSION = "1.5.5"
DUCKDB_PACKAGES = [
    f"duckdb=={DUCKDB_ENGINE_VERSION}",
    *(
        f"duckdb-extension-{name}=={DUCKDB_ENGINE_VERSION}"
        for name in ("httpfs", "avro", "iceberg")
    ),
]
ENGINES_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "engines"
DUCKDB_CLIENT = Path(__file__).resolve().parent / "engines" / "duckdb_client.py"


class EngineFailed(AssertionError):
    """The engine process refused a statement or crashed; carries what it printed."""


@dataclass(frozen=True)
class DuckDBEngine:
    python: Path

    def run(self, *statements: str) -> list[list[list[Any]]]:
        """Run ``statements`` in one fresh DuckDB process; the rows of each, in order."""
        done = subprocess.run(
            [str(self.python), str(DUCKDB_CLIENT)],
            input=json.dumps(list(statements)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise EngineFailed(done.stderr.strip())
        rows: list[list[list[Any]]] = json.loads(done.stdout)
        return rows


def _virtualenv(name: str, packages: list[str]) -> Path:
    """The python of a cached virtualenv with ``packages``; built if missing, in a folder
    of its own renamed into place, so that concurrent test runs never see half of one.

    Raises ``RuntimeError`` with pip's output when the packages cannot be installed."""
    target = ENGINES_CACHE / name
    python = target / "bin" / "python"
    if python.exists():
        return python
    ENGINES_CACHE.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{name}.building.", dir=ENGINES_CACHE))
    try:
        venv.EnvBuilder(with_pip=True).create(building)
        pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q"]
        installed = subprocess.run(
            [*pip, "--disable-pip-version-check", *packages],
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(installed.stdout + installed.stderr)
        with contextlib.suppress(OSError):  # another run finished first: use its
            building.rename(target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


@pytest.fixture(scope="session")
def duckdb_engine() -> DuckDBEngine:
    """DuckDB with its iceberg extension, in a virtualenv of its own (built on first use;
    skipped when its wheels cannot be installed, e.g. offline with an empty pip cache)."""
    name = f"duckdb-{DUCKDB_ENGINE_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"
    try:
        python = _virtualenv(name, DUCKDB_PACKAGES)
    except RuntimeError as error:
        pytest.skip(f"cannot install {' '.join(DUCKDB_PACKAGES)}: {error}")
    return DuckDBEngine(python=python)
