"""docs/scale.md works from figures the benchmark measures and settings icehouse reads:
each benchmark command it shows runs a script that exists with options it accepts, each
setting it names is a key of icehouse.toml, and the README and deploy guide link it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icehouse.config import IngestConfig, SourceConfig

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
COMMANDS = re.findall(r"^\$ python (benchmarks/\S+\.py)(.*)$", DOC, re.MULTILINE)
SETTINGS = sorted(set(re.findall(r"`([a-z]+(?:_[a-z]+)*) = \"[^\"`]*\"`", DOC)))
POSTGRESQL_NAMES = {"max_connections", "pg_stat_activity"}
"""Names of PostgreSQL's own that the doc quotes."""
SETTINGS += sorted(set(re.findall(r"`([a-z]+_[a-z_]+)`", DOC)) - set(SETTINGS) - POSTGRESQL_NAMES)


@pytest.mark.parametrize(("script", "arguments"), COMMANDS)
def test_each_benchmark_command_runs_a_script_with_options_it_accepts(
    script: str, arguments: str
) -> None:
    text = (ROOT / script).read_text(encoding="utf-8")
    options = [a for a in arguments.split() if a.startswith("--")]
    assert [o for o in options if f'"{o}"' not in text] == []


def test_the_doc_shows_the_benchmark_commands_and_names_settings() -> None:
    assert len(COMMANDS) >= 2 and "listing" in SETTINGS and "poll_interval" in SETTINGS


@pytest.mark.parametrize("setting", SETTINGS)
def test_each_setting_named_is_a_key_of_icehouse_toml(setting: str) -> None:
    assert setting in SourceConfig.model_fields or setting in IngestConfig.model_fields


@pytest.mark.parametrize("page", ["README.md", "docs/deploy.md"])
def test_the_doc_is_linked(page: str) -> None:
    assert "scale.md)" in (ROOT / page).read_text(encoding="utf-8")
