"""The house rules of ``src/icehouse``, checked on the source with ``ast``.

1. Layers. Each top-level part of the package may import only the parts below it:

       errors                          the exception tree: imports nothing of ours
       durations, resilience           shared helpers: errors
       addresses                       whether a host is this machine: nothing of ours
       client/                         the query API's client and wire format: errors
       config_check                    the checks of icehouse.toml: imports nothing of ours
       config                          errors, durations, config_check
       state/                          errors, resilience (outage handling of the database)
       tables/                         errors, state: everything that touches Iceberg
       govern/                         errors, state: principals, tokens, authorisation
       ingest/, maintain/, query/      the shared low layers, config, state, tables,
                                       govern; none of the three imports another
       lake                            all of the above (the facade)
       demo/                           all of the above
       server/                         the REST catalog: the lake (its one door), config,
                                       errors and the query API's wire format (client);
                                       never ingest/, maintain/ or query/ directly
       cli/                            everything; nothing else imports cli or server, except
                                       the package's ``__main__`` (``python -m icehouse``)
                                       and the ``serve`` command (server)

   A module may always import its own part (``maintain.compact`` → ``maintain.proof``).
   The package's ``__init__`` re-exports the public surface (lake, config, errors and
   ingestion's report).

2. Nothing imports ``cli``; only ``cli`` imports ``server`` (the rules above say so).

3. PyIceberg. Outside ``tables/``, a module may import only the public value types listed
   in ``PUBLIC_PYICEBERG``: planning, reading, committing and manifests are ``tables/``'s.

4. Internals of dependencies (names with a leading underscore, DuckDB's
   ``json_serialize_sql``) are used in ``tables/_compat.py`` only, and ``tables/_compat``
   is imported by ``tables/`` only.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "icehouse"

LOW = {"errors", "durations", "resilience", "addresses", "config", "config_check", "state"}
DOMAIN = {"tables", "ingest", "maintain", "query"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "durations": {"errors"},
    "addresses": set(),
    "resilience": {"errors"},
    "config_check": set(),
    "config": {"errors", "durations", "config_check"},
    "state": {"errors", "resilience"},
    "tables": {"errors", "state"},
    "govern": {"errors", "state"},
    "ingest": LOW | {"tables", "govern"},
    "maintain": LOW | {"tables", "govern"},
    "query": LOW | {"tables", "govern"},
    "lake": LOW | DOMAIN | {"govern"},
    "demo": LOW | DOMAIN | {"lake"},
    "client": {"errors"},
    "server": {"errors", "config", "lake", "client"},
    "cli": LOW | DOMAIN | {"govern", "lake", "demo", "server", "client"},
    "__init__": {"config", "errors", "ingest", "lake", "client"},
    "__main__": {"cli"},
}
"""Top-level part → the other parts it may import."""

PUBLIC_PYICEBERG: dict[str, set[str] | None] = {
    "pyiceberg.catalog.sql": {"SqlCatalog"},
    "pyiceberg.expressions": None,
    "pyiceberg.manifest": {"DataFile"},
    "pyiceberg.schema": {"Schema"},
    "pyiceberg.table": {"Table", "FileScanTask"},
    "pyiceberg.table.sorting": {"NullOrder", "SortDirection"},
    "pyiceberg.transforms": None,
    "pyiceberg.types": None,
}
"""PyIceberg module → the public names other parts may use as types and values (None:
any public name of the module). Everything else of PyIceberg stays in ``tables/``."""

COMPAT = "tables/_compat.py"


@dataclass(frozen=True)
class Import:
    module: str
    """The imported module, absolute (``icehouse.tables.scan``, ``pyiceberg.table``)."""
    names: tuple[str, ...]
    """Names taken from it (``from m import a, b``); empty for ``import m``."""
    line: int


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _part(path: Path) -> str:
    """``ingest/batch.py`` → ``ingest``; ``lake.py`` → ``lake``."""
    return _relative(path).split("/")[0].removesuffix(".py")


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["icehouse", *_relative(path).split("/")[:-1]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the module's package
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(Import(base, tuple(a.name for a in node.names), node.lineno))
    return found


def _parts_imported(imported: Import) -> set[str]:
    """The parts of icehouse an import reaches (``from icehouse import resilience``
    reaches ``resilience``)."""
    pieces = imported.module.split(".")
    if pieces[0] != "icehouse":
        return set()
    if len(pieces) > 1:
        return {pieces[1]}
    return {
        name for name in imported.names if (SRC / name).is_dir() or (SRC / f"{name}.py").exists()
    }


def _layer_violations() -> list[str]:
    problems = []
    for path in _modules():
        part = _part(path)
        allowed = ALLOWED.get(part)
        if allowed is None:
            problems.append(f"{_relative(path)}: part {part!r} has no rule in ALLOWED")
            continue
        for imported in _imports(path):
            for target in _parts_imported(imported) - {part} - allowed:
                problems.append(
                    f"{_relative(path)}:{imported.line}: {part} imports {target} "
                    f"({imported.module}); {part} may import only {sorted(allowed)}"
                )
    return problems


def _pyiceberg_violations() -> list[str]:
    problems = []
    for path in _modules():
        if _part(path) == "tables":
            continue
        for imported in _imports(path):
            if imported.module.split(".")[0] != "pyiceberg":
                continue
            public = PUBLIC_PYICEBERG.get(imported.module, set())
            names = imported.names or ("(the module)",)
            for name in names:
                if name.startswith("_") or (public is not None and name not in public):
                    problems.append(
                        f"{_relative(path)}:{imported.line}: {imported.module}.{name} is not "
                        "in PUBLIC_PYICEBERG; use it through icehouse.tables"
                    )
    return problems


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _internals_violations() -> list[str]:
    problems = []
    for path in _modules():
        relative = _relative(path)
        if relative == COMPAT:
            continue
        for imported in _imports(path):
            if imported.module == "icehouse.tables._compat" and _part(path) != "tables":
                problems.append(f"{relative}:{imported.line}: only tables/ uses tables._compat")
            if imported.module.split(".")[0] in ("icehouse", "__future__"):
                continue
            private = [n for n in imported.names if _private(n)]
            private += [p for p in imported.module.split(".") if _private(p)]
            problems.extend(
                f"{relative}:{imported.line}: {imported.module} {name}: a dependency's "
                f"private name; import it in {COMPAT}"
                for name in private
            )
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and "json_serialize_sql(" in str(node.value):
                problems.append(f"{relative}:{node.lineno}: json_serialize_sql belongs in {COMPAT}")
    return problems


@pytest.mark.parametrize("check", [_layer_violations, _pyiceberg_violations, _internals_violations])
def test_the_source_keeps_the_house_rules(check) -> None:  # type: ignore[no-untyped-def]
    problems = check()
    assert not problems, "\n".join(problems)


def test_the_checks_see_a_violation_when_there_is_one(tmp_path: Path) -> None:
    """The walker resolves absolute, package and relative imports (a check that sees
    nothing would pass forever)."""
    path = SRC / "query" / "sql.py"
    parts = set().union(*(_parts_imported(i) for i in _imports(path)))
    assert {"errors", "tables", "query"} <= parts
    autopilot = _imports(SRC / "maintain" / "autopilot.py")
    assert "resilience" in set().union(*(_parts_imported(i) for i in autopilot))
    scan = _imports(SRC / "tables" / "scan.py")
    assert any(i.module == "pyiceberg.manifest" for i in scan)
