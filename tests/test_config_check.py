"""``icehouse.toml`` is checked as a whole when a home is opened: every problem names
the key path and its line, suggests the closest valid key or lists the choices, and no
pydantic wording reaches the user."""

from __future__ import annotations

from pathlib import Path

import pytest

from icehouse.errors import InvalidConfig
from icehouse.lake import Lake
from tests.test_cli import run


@pytest.fixture
def config(tmp_path: Path) -> Path:
    home = tmp_path / "lake"
    Lake.init(home)
    return home / "icehouse.toml"


def problems(home: Path) -> str:
    with pytest.raises(InvalidConfig) as caught:
        Lake.open(home)
    message = caught.value.message
    assert "pydantic" not in message and "validation error" not in message
    return message


def line_number(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_a_duration_that_cannot_be_read_fails_on_open_not_when_a_file_arrives(config):
    config.write_text(
        config.read_text().replace('commit_interval = "10s"', 'commit_interval = "ten seconds"')
    )

    message = problems(config.parent)

    line = line_number(config.read_text(), "commit_interval")
    assert f"line {line}: ingest.commit_interval: cannot read duration 'ten seconds'" in message


def test_an_unknown_section_is_an_error_with_the_closest_section(config):
    config.write_text(config.read_text() + '\n[sourcez.x]\nlocation = "a"\n')

    message = problems(config.parent)

    line = line_number(config.read_text(), "[sourcez.x]")
    assert f"line {line}: unknown section [sourcez] (did you mean 'sources'?)" in message


def test_unknown_keys_name_their_path_and_line_and_suggest_the_closest(config):
    config.write_text(
        config.read_text()
        + '\n[sources.shop]\nlocation = "landing"\ntable = "a.b"\nformat = "jsonl"\n'
        + 'globb = "*.gz"\n[sources.shop.columns]\nts = { pathh = "x" }\n'
    )

    message = problems(config.parent)

    text = config.read_text()
    assert (
        f"line {line_number(text, 'globb')}: unknown key sources.shop.globb (did you mean 'glob'?)"
        in message
    )
    assert (
        f"line {line_number(text, 'pathh')}: unknown key sources.shop.columns.ts.pathh "
        "(did you mean 'path'?); valid keys: path, expr, timestamp, default, meta"
    ) in message
    assert message.index("globb") < message.index("pathh")  # in the order of the file


def test_a_choice_out_of_range_lists_the_choices(config):
    config.write_text(
        config.read_text()
        + '\n[sources.shop]\nlocation = "landing"\ntable = "a.b"\nformat = "xml"\n'
    )

    message = problems(config.parent)

    assert (
        "sources.shop.format = 'xml' is not one of 'jsonl', 'csv', 'tsv', 'w3c' or 'parquet'"
        in (message)
    )


def test_the_cli_reports_every_problem_and_exits_1(config):
    config.write_text(
        config.read_text().replace('poll_interval = "1s"', 'poll_interval = "often"')
        + "\n[lake2]\nx = 1\n"
    )

    result = run("status", "--home", str(config.parent))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {config}: 2 problems:")
    assert "ingest.poll_interval: cannot read duration 'often'" in result.stderr
    assert "unknown section [lake2] (did you mean 'lake'?)" in result.stderr
    assert "Traceback" not in result.stderr
