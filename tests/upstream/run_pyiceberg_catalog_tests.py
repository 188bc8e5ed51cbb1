"""Run PyIceberg's own catalog integration tests against a live ``icehouse serve``.

    python tests/upstream/run_pyiceberg_catalog_tests.py [-- extra pytest arguments]

Upstream selects a REST catalog under test with ``PYICEBERG_TEST_CATALOG`` (the
``rest_test_catalog`` parameter of ``tests/integration/test_catalog.py``). This script
takes that file and upstream's ``tests/conftest.py`` from the source distribution of the
PyIceberg version installed here (so tests and client agree), unpacks them into a cache
folder outside the repository, starts ``icehouse serve --allow-anonymous`` over a fresh
lake home on a free port, and runs pytest on the ``rest_test_catalog`` cases only, in a
virtualenv that sees this interpreter's packages plus upstream's test-only plugin.
Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

TEST_FILE = "tests/integration/test_catalog.py"
TEST_REQUIREMENTS = ["pytest-lazy-fixtures", "thrift"]
"""What upstream's test modules import beyond icehouse's own dependencies (``thrift``:
the test file imports PyIceberg's Hive catalog)."""
CATALOG_NAME = "icehouse"
PIP = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
ICEHOUSE = [sys.executable, "-c", "from icehouse.cli.app import main; main()"]


class UpstreamUnavailable(RuntimeError):
    """PyIceberg's source distribution or upstream's test plugins could not be installed."""


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "icehouse-upstream"


def upstream_tests(cache: Path, pyiceberg_version: str) -> Path:
    """A folder holding upstream's ``tests/`` and ``pyproject.toml`` (its pytest settings)
    for ``pyiceberg_version``, unpacked from its source distribution on first use."""
    root = cache / f"pyiceberg-{pyiceberg_version}"
    if (root / TEST_FILE).exists():
        return root
    sdist_of = f"pyiceberg=={pyiceberg_version}"
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [*PIP, "download", "--no-deps", "--no-binary", ":all:", "-d", download, sdist_of],
            check=True,
        )
        (sdist,) = Path(download).glob("pyiceberg-*.tar.gz")
        prefix = sdist.name.removesuffix(".tar.gz") + "/"
        with tarfile.open(sdist) as archive:
            wanted = [
                member
                for member in archive.getmembers()
                if member.name.startswith(prefix + "tests/")
                or member.name == prefix + "pyproject.toml"
            ]
            for member in wanted:
                member.name = member.name.removeprefix(prefix)
            archive.extractall(root, members=wanted, filter="data")
    return root


def test_python(cache: Path) -> Path:
    """The python of a virtualenv that sees this interpreter's packages (PyIceberg, pytest,
    moto) and adds ``TEST_REQUIREMENTS``; built on first use, topped up on every run."""
    target = cache / "venv"
    python = target / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(system_site_packages=True, with_pip=True).create(target)
    subprocess.run(
        [str(python), *PIP[1:], "install", *TEST_REQUIREMENTS],
        check=True,
    )
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def icehouse_server(workdir: Path) -> Iterator[str]:
    """``icehouse serve --allow-anonymous`` over a fresh lake home; yields its URI."""
    home = workdir / "lake"
    subprocess.run([*ICEHOUSE, "init", "--home", str(home)], check=True, capture_output=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [*ICEHOUSE, "serve", "--home", str(home), "--port", str(port), "--allow-anonymous"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(uri + "/healthz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "icehouse serve did not start:\n" + (workdir / "serve.log").read_text()
                    ) from None
                time.sleep(0.1)
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    options = parser.parse_args()

    pyiceberg_version = version("pyiceberg")
    try:
        root = upstream_tests(options.cache, pyiceberg_version)
        python = test_python(options.cache)
    except subprocess.CalledProcessError as error:
        raise UpstreamUnavailable(f"installing upstream's tests failed: {error}") from error

    with (
        tempfile.TemporaryDirectory(prefix="icehouse-upstream-") as work,
        icehouse_server(Path(work)) as uri,
    ):
        print(f"PyIceberg {pyiceberg_version}'s {TEST_FILE} against {uri}", flush=True)
        prefix = f"PYICEBERG_CATALOG__{CATALOG_NAME.upper()}__"
        environment = {
            **os.environ,
            "PYICEBERG_TEST_CATALOG": CATALOG_NAME,
            prefix + "TYPE": "rest",
            prefix + "URI": uri,
            "PYTHONPATH": str(root),
        }
        selected = [TEST_FILE, "-k", "rest_test_catalog", "-q", "-p", "no:cacheprovider"]
        tests = subprocess.run(
            [str(python), "-m", "pytest", *selected, "-rfEs", *options.pytest_args],
            cwd=root,
            env=environment,
            check=False,
        )
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
