"""docs/deploy.md stays true to the code it deploys.

systemd and Kubernetes cannot run here, so what can be checked is checked: every
``icehouse`` command line it shows parses as the CLI parses it (commands and options
exist), every ``icehouse.toml`` it shows opens as a home, its YAML parses, and the
shutdown and health settings agree across systemd, Kubernetes and the worker.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from icehouse.cli.app import app
from icehouse.config import CONFIG_FILE, load_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text()) if lang == language]


def icehouse_commands() -> list[list[str]]:
    """The arguments of each ``$ icehouse ...`` line of the console blocks (continued
    lines joined), without the final ``...`` of a shortened example."""
    commands = []
    for body in blocks("console"):
        for line in body.replace("\\\n", " ").splitlines():
            if line.startswith("$ icehouse "):
                commands.append([a for a in shlex.split(line[2:])[1:] if a != "..."])
    return commands


def parse(args: list[str]) -> Any:
    """The command ``args`` names, after click parsed its options and arguments (a bad
    option or a missing argument raises)."""
    command: Any = typer.main.get_command(app)
    while hasattr(command, "commands"):  # a group: its first argument names the command
        command, args = command.commands[args[0]], args[1:]
    command.make_context(command.name, list(args))
    return command


def kubernetes() -> list[dict[str, Any]]:
    (body,) = blocks("yaml")
    return [d for d in yaml.safe_load_all(body) if d]


def units() -> list[configparser.ConfigParser]:
    parsed = []
    for body in blocks("ini"):
        unit = configparser.ConfigParser(strict=True, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read_string(body)
        parsed.append(unit)
    return parsed


@pytest.mark.parametrize("args", icehouse_commands(), ids=" ".join)
def test_every_icehouse_command_in_the_doc_parses(args: list[str]) -> None:
    assert parse(args).name in args[:2]


def test_the_doc_shows_init_ingest_health_and_serve() -> None:
    shown = {args[0] for args in icehouse_commands()}
    assert {"init", "ingest", "health", "status", "table", "source"} <= shown
    execs = [u["Service"]["ExecStart"] for u in units()]
    assert any(e.endswith("icehouse ingest --follow") for e in execs)
    assert any(" serve " in e for e in execs)


def test_every_icehouse_toml_in_the_doc_opens(tmp_path: Path) -> None:
    shown = blocks("toml") + [
        d["data"][CONFIG_FILE] for d in kubernetes() if d["kind"] == "ConfigMap"
    ]
    assert len(shown) == 2
    for text in shown:
        (tmp_path / CONFIG_FILE).write_text(text)
        config = load_config(tmp_path)
        assert config.state_url.startswith("postgresql+psycopg://")
        assert config.warehouse == "s3://lake/prod"
        assert "s3.secret-access-key" not in config.storage  # secrets come from the environment


def test_the_yaml_parses_and_the_ingest_deployment_matches_the_systemd_unit() -> None:
    documents = {(d["kind"], d["metadata"]["name"]): d for d in kubernetes()}
    ingest = documents[("Deployment", "icehouse-ingest")]["spec"]
    pod = ingest["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["ingest", "--follow"]
    assert container["livenessProbe"]["exec"]["command"] == [
        "icehouse", "health", "--ingest-worker",
    ]  # fmt: skip
    assert "readinessProbe" not in container  # a worker takes no requests
    assert parse(container["livenessProbe"]["exec"]["command"][1:]).name == "health"
    assert {"secretRef": {"name": "icehouse-secrets"}} in container["envFrom"]
    unit = next(u for u in units() if "ingest" in u["Service"]["ExecStart"])["Service"]
    assert unit["KillSignal"] == "SIGTERM"
    assert unit["Restart"] == "on-failure"
    assert int(unit["TimeoutStopSec"]) == pod["terminationGracePeriodSeconds"] == 120
    serve = documents[("Deployment", "icehouse-serve")]["spec"]["template"]["spec"]
    (server,) = serve["containers"]
    assert parse(server["args"]).name == "serve"
    assert server["readinessProbe"]["httpGet"]["path"] == "/healthz"
