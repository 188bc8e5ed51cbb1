"""The suite runs on two pytest-xdist workers unless told otherwise, and still runs
serially with ``-n 0`` or without xdist at all (``-p no:xdist``).

Each case runs a real ``python -m pytest`` on a small probe suite whose conftest takes
the hook from ``tests/conftest.py``; every probe test writes down the worker it ran in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _worker_slice, new_database_name

ROOT = Path(__file__).resolve().parents[1]
PROBE_TESTS = 6
"""Tests per probe module: enough that a per-test distribution would split a module."""
SLOW_PROBE_TESTS = 2
"""Tests of the probe module marked slow: fewer than the others, as in the suite (xdist
on its own takes the modules with more tests first)."""
ALL_PROBE_TESTS = 2 * PROBE_TESTS + SLOW_PROBE_TESTS


def probe_module(tests: int, *, slow: bool) -> str:
    """A probe module of ``tests`` tests, each writing down where and when it ran."""
    return "\n".join(
        [
            "import os, pathlib",
            "import pytest",
            *(["pytestmark = pytest.mark.slow"] if slow else []),
            f"@pytest.mark.parametrize('n', range({tests}))",
            "def test_probe(n, request):",
            "    worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')",
            "    seen = pathlib.Path(os.environ['PROBE_SEEN'])",
            "    (seen / f'{request.module.__name__}-{n}').write_text(worker)",
            "    with (seen.parent / f'order-{worker}').open('a') as order:",
            "        order.write(request.module.__name__ + '\\n')",
            "",
        ]
    )


def run_probe(
    tmp_path: Path, *options: str, xdist: bool = True
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``python -m pytest -q OPTIONS`` on three probe modules (the last one, alphabetically
    and by its number of tests, marked slow), with pytest-xdist and no other
    plugin (``xdist=False``: none at all; the others only slow the start); the folder
    where each probe test left a file ``MODULE-N`` holding its worker's name (``main``
    when serial); beside it, ``order-WORKER`` lists the modules of each test the worker
    ran, in the order it ran them."""
    suite, seen = tmp_path / "probe", tmp_path / "seen"
    suite.mkdir()
    seen.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\nmarkers = slow: a long test\n")
    (suite / "conftest.py").write_text(
        "from tests.conftest import pytest_cmdline_main, pytest_collection_modifyitems  # noqa\n"
    )
    for module, tests, slow in [
        ("test_one", PROBE_TESTS, False),
        ("test_two", PROBE_TESTS, False),
        ("test_zzz_slow", SLOW_PROBE_TESTS, True),
    ]:
        (suite / f"{module}.py").write_text(probe_module(tests, slow=slow))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PROBE_"))}
    env |= {
        "PROBE_SEEN": str(seen),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    plugins = ["-p", "xdist.plugin"] if xdist else []
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, *options],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return done, seen


def workers_by_module(seen: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for mark in seen.iterdir():
        module = mark.name.rsplit("-", 1)[0]
        found.setdefault(module, set()).add(mark.read_text())
    return found


def test_a_plain_run_takes_two_workers_a_module_stays_on_one_and_slow_modules_go_first(
    tmp_path: Path,
) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist (in [dev]) runs the suite in parallel")
    done, seen = run_probe(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{ALL_PROBE_TESTS} passed" in done.stdout
    modules = workers_by_module(seen)
    assert sorted(modules) == ["test_one", "test_two", "test_zzz_slow"]
    assert all(len(workers) == 1 for workers in modules.values()), modules
    assert set().union(*modules.values()) <= {"gw0", "gw1"}
    firsts = [order.read_text().splitlines()[0] for order in sorted(tmp_path.glob("order-gw*"))]
    assert "test_zzz_slow" in firsts, firsts


def test_minus_n_0_runs_serially(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist (in [dev]) runs the suite in parallel")
    done, seen = run_probe(tmp_path, "-n", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{ALL_PROBE_TESTS} passed" in done.stdout
    assert workers_by_module(seen) == {
        "test_one": {"main"},
        "test_two": {"main"},
        "test_zzz_slow": {"main"},
    }


def test_a_run_that_names_its_tests_runs_serially_unless_asked_for_workers(
    tmp_path: Path,
) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist (in [dev]) runs the suite in parallel")
    (tmp_path / "named").mkdir()
    (tmp_path / "asked").mkdir()
    done, seen = run_probe(tmp_path / "named", "test_one.py", "test_two.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert workers_by_module(seen) == {"test_one": {"main"}, "test_two": {"main"}}

    done, seen = run_probe(tmp_path / "asked", "-n", "2", "test_one.py", "test_two.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set().union(*workers_by_module(seen).values()) <= {"gw0", "gw1"}


def test_without_xdist_the_suite_runs_serially(tmp_path: Path) -> None:
    done, seen = run_probe(tmp_path, "-p", "no:xdist", xdist=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{ALL_PROBE_TESTS} passed" in done.stdout
    assert workers_by_module(seen) == {
        "test_one": {"main"},
        "test_two": {"main"},
        "test_zzz_slow": {"main"},
    }


def test_workers_take_disjoint_shares_of_a_port_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shares = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(set(_worker_slice(20_000, 22_768)))
    assert shares[0] and shares[1]
    assert not shares[0] & shares[1]
    assert shares[0] | shares[1] <= set(range(20_000, 22_768))


def test_a_test_database_is_named_after_its_run_and_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    first, second = new_database_name("icehouse_test"), new_database_name("icehouse_test")
    assert first.startswith("icehouse_test_gw1_")
    assert first != second
    assert len(new_database_name("x" * 80).encode()) <= 63
