"""Catalog queries built once per catalog and run with bound values.

Building a SQLAlchemy statement (coercing each column and comparison, then deriving its
cache key) costs several times running it as an indexed lookup on SQLite. The REST
catalog runs a few such lookups on every request (a table's metadata pointer, a
namespace's tables), so each is built the first time a catalog asks for it and kept as
long as that catalog lives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from pyiceberg.catalog.sql import SqlCatalog

T = TypeVar("T")


class PerCatalog(Generic[T]):
    """What ``build`` makes of a catalog, made once per catalog (two catalogs in one
    process, as tests open, never share one: each names its own catalog in its rows)."""

    def __init__(self, build: Callable[[SqlCatalog], T]) -> None:
        self._build = build
        self._built: WeakKeyDictionary[SqlCatalog, T] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, catalog: SqlCatalog) -> T:
        with self._lock:
            built = self._built.get(catalog)
            if built is None:
                built = self._built[catalog] = self._build(catalog)
            return built
