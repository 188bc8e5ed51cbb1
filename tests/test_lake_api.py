"""The ``Lake`` facade's own surface: how it is opened, and the package's version."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

import icehouse
from icehouse.lake import Lake


def test_version_comes_from_the_package_metadata() -> None:
    assert icehouse.__version__ == version("icehouse")


def test_open_takes_a_str_or_a_path(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    Lake.init(str(home))
    with Lake.open(str(home)) as by_str, Lake.open(home) as by_path:
        assert by_str.home == by_path.home == home


def test_open_without_a_home_finds_it_as_the_cli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ICEHOUSE_HOME", raising=False)
    Lake.init()
    with Lake.open() as lake:
        assert lake.home == tmp_path / "lake"
    elsewhere = tmp_path / "elsewhere"
    Lake.init(elsewhere)
    monkeypatch.setenv("ICEHOUSE_HOME", str(elsewhere))
    with Lake.open() as lake:
        assert lake.home == elsewhere
