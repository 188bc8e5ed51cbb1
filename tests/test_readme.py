"""The README's Python snippets run as printed, against the demo's lake in ``./lake``.

A new user copies them after `icehouse demo`; a snippet that rots is a broken promise,
so every ```python block of README.md is executed here, in order, in one namespace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    return PYTHON_BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_the_python_api_with_pandas_and_polars() -> None:
    text = "\n".join(python_blocks())
    assert "Lake.open()" in text
    assert ".to_pandas()" in text and "pl.from_arrow(" in text
    assert "pip install -e '.[pandas,polars]'" in README.read_text(encoding="utf-8")


def test_every_python_snippet_runs_against_the_demo_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pandas", reason="the [pandas] extra (in [dev]) runs this snippet")
    pytest.importorskip("polars", reason="the [polars] extra (in [dev]) runs this snippet")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ICEHOUSE_HOME", raising=False)
    demo = CliRunner().invoke(app, ["demo", "--rows", "5000", "--days", "2", "--format", "json"])
    assert demo.exit_code == 0, demo.output
    capsys.readouterr()

    namespace: dict[str, object] = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)

    top = namespace["top"]
    assert top.column_names == ["customer_id", "requests"]  # type: ignore[attr-defined]
    assert top.num_rows == 5  # type: ignore[attr-defined]
    printed = capsys.readouterr().out
    first_customer = top.column("customer_id")[0].as_py()  # type: ignore[attr-defined]
    assert printed.count(str(first_customer)) >= 2  # once by pandas, once by polars
    assert "shape: (5, 2)" in printed  # polars' frame header
