"""Two creators of one namespace at once: PyIceberg's SQL catalog checks that a
namespace is new, then inserts its rows, so the second creator's insert fails on the
key. It found two audit exporters racing to create ``icehouse_system``; a REST client
creating a namespace another just created got a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import NamespaceAlreadyExists
from icehouse.tables.namespaces import create_namespace, ensure_namespace


@pytest.fixture
def raced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqlCatalog:
    """A catalog where ``web`` was created by another writer just after this one's
    check: its first existence check answers no, as it would have a moment earlier."""
    catalog = SqlCatalog(
        "lake", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=tmp_path.as_uri()
    )
    catalog.create_namespace("web")
    real = SqlCatalog.namespace_exists
    missed = [True]

    def checked(self: SqlCatalog, namespace: str | tuple[str, ...]) -> bool:
        if missed.pop() if missed else False:
            return False
        return real(self, namespace)

    monkeypatch.setattr(SqlCatalog, "namespace_exists", checked)
    return catalog


def test_ensuring_a_namespace_another_writer_just_created_succeeds(raced: SqlCatalog) -> None:
    ensure_namespace(raced, ("web",))
    assert ("web",) in raced.list_namespaces()


def test_creating_a_namespace_another_writer_just_created_says_it_exists(
    raced: SqlCatalog,
) -> None:
    with pytest.raises(NamespaceAlreadyExists, match="'web' already exists"):
        create_namespace(raced, ("web",), {})
