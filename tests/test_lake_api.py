"""The ``Lake`` facade's own surface: how it is opened, and the package's version."""

from __future__ import annotations

import ast
import inspect
import sys
from importlib.metadata import version
from pathlib import Path
from typing import get_type_hints

import pyarrow as pa
import pytest
from pyiceberg.table import Table

import icehouse
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.lake.facades import LakeMaintenance, LakeQuarantine, LakeSources, LakeTables
from icehouse.lake.iceberg import LakeIceberg, LakeNamespaces
from icehouse.tables.catalog import load_table
from tests import fixtures_lake

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events


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


def _append(lake: Lake, ids: list[int], who: str) -> None:
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("who", pa.string())])
    rows = pa.table({"id": ids, "who": [who] * len(ids)}, schema=schema)
    load_table(fixtures_lake.catalog_of(lake), "a.t").append(rows)


def test_two_lakes_in_one_process_never_cross_their_tables(tmp_path: Path) -> None:
    """Two homes, a table of the same name in each with different rows, queried
    alternately (plain, filtered, explained, after a write): each sees only its own."""
    lakes = []
    try:
        for n in range(2):
            Lake.init(tmp_path / f"home{n}")
            lakes.append(Lake.open(tmp_path / f"home{n}"))
            lakes[n].tables.create("a.t", schema={"id": "long!", "who": "string"})
            _append(lakes[n], [n * 10 + 1, n * 10 + 2], str(n))
        for round_ in range(3):
            for n, lake in enumerate(lakes):
                whole = lake.sql("SELECT DISTINCT who FROM a.t")
                assert whole.column("who").to_pylist() == [str(n)]
                ids = lake.sql("SELECT id FROM a.t WHERE id > 0 ORDER BY id").column("id")
                assert {i // 10 for i in ids.to_pylist()} == {n}
                explained = lake.explain("SELECT * FROM a.t WHERE id = 1")
                assert explained.table.num_rows == (1 if n == 0 else 0)
            _append(lakes[round_ % 2], [round_ % 2 * 10 + 3 + round_], str(round_ % 2))
        assert [lake.sql("SELECT count(*) AS n FROM a.t")["n"][0].as_py() for lake in lakes] == [
            4,
            3,
        ]
    finally:
        for lake in lakes:
            lake.close()


def _public_methods(cls: type) -> list[tuple[str, object]]:
    return [
        (name, member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (inspect.isfunction(member) or inspect.ismethod(member))
    ]


def _annotation_names(cls: type) -> dict[str, object]:
    """The names ``cls``'s module imports for annotations only (under ``if TYPE_CHECKING:``,
    so that opening a lake loads no PyIceberg), imported here so that its hints resolve."""
    module = sys.modules[cls.__module__]
    names: dict[str, object] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            exec(compile(ast.Module(body=node.body, type_ignores=[]), "<hints>", "exec"), names)
    return {**names, **vars(module)}


def test_the_lake_hands_out_no_pyiceberg_sqlalchemy_or_duckdb_objects() -> None:
    """One door: what ``Lake`` and its groups return, and every attribute they offer, is
    of icehouse's own (or plain pyarrow and Python) types; each public method says what
    it does in a docstring."""
    groups = [
        Lake,
        LakeTables,
        LakeSources,
        LakeQuarantine,
        LakeMaintenance,
        LakeNamespaces,
        LakeIceberg,
    ]
    for cls in groups:
        for name, method in _public_methods(cls):
            hints = get_type_hints(method, globalns=_annotation_names(cls))
            returned = str(hints.get("return"))
            assert not any(p in returned for p in ("pyiceberg", "sqlalchemy", "duckdb")), (
                f"{cls.__name__}.{name} returns {returned}"
            )
            assert inspect.getdoc(method), f"{cls.__name__}.{name} has no docstring"
    assert not hasattr(Lake, "catalog") and not hasattr(Lake, "engine")
    assert not hasattr(Lake, "table") and not hasattr(Lake, "query")


def test_a_view_as_a_principal_sees_the_configuration_the_lake_reloaded(
    lake: Lake, events: Table, tmp_path: Path
) -> None:
    """The lake keeps one view per principal; a reload of ``icehouse.toml`` is not hidden
    behind the view made before it."""
    ana = Principal(name="ana", admin=True)
    assert lake.as_principal(ana).sources.list() == []
    landing = tmp_path / "landing"
    landing.mkdir()

    fixtures_lake.add_source(lake, "web", landing)

    assert [source.name for source in lake.as_principal(ana).sources.list()] == ["web"]
