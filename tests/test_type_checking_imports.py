"""Names imported only for the type checker are never used when the code runs.

Start-up time keeps heavy imports (pyarrow, pyiceberg, duckdb) under ``if TYPE_CHECKING:``
or inside the functions that need them. A name imported only for the type checker and
then used at run time (``pa.types.is_integer(...)``) passes ruff and mypy and fails with
a NameError only when that line runs, as the demo's result table once did.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "icehouse"


def _imported(nodes: list[ast.stmt] | list[ast.AST]) -> set[str]:
    names = set()
    for node in nodes:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import | ast.ImportFrom):
                names |= {(a.asname or a.name).split(".")[0] for a in inner.names}
    return names


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"


def _annotation_nodes(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        annotations: list[ast.expr] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            annotations += [a.annotation for a in every if a.annotation is not None]
            annotations += [node.returns] if node.returns is not None else []
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            found |= {id(inner) for inner in ast.walk(annotation)}
    return found


def runtime_uses_of_type_only_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = [node for node in tree.body if not _is_type_checking_block(node)]
    type_only = _imported([n for n in tree.body if _is_type_checking_block(n)])
    type_only -= _imported([n for n in top if isinstance(n, ast.Import | ast.ImportFrom)])
    annotations = _annotation_nodes(tree)
    found: list[str] = []

    def visit(node: ast.AST, local: set[str]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local = local | _imported([node])
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in type_only - local
            and id(node) not in annotations
        ):
            found.append(f"{path.name}:{node.lineno}: {node.id}")
        for child in ast.iter_child_nodes(node):
            if not _is_type_checking_block(child):
                visit(child, local)

    visit(tree, set())
    return found


def test_the_check_sees_a_type_only_name_used_at_run_time(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    source = (
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import pyarrow as pa\n"
        "def kind(t: pa.DataType) -> bool:\n    return pa.types.is_integer(t)\n"
        "def fine(t: pa.DataType) -> bool:\n    import pyarrow as pa\n"
        "    return pa.types.is_integer(t)\n"
    )
    module.write_text(source, encoding="utf-8")
    assert runtime_uses_of_type_only_names(module) == ["probe.py:6: pa"]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_type_only_import_is_used_at_run_time(path: Path) -> None:
    assert runtime_uses_of_type_only_names(path) == []
