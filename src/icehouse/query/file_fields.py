"""The Iceberg field ids a data file's Parquet footer carries, cached per path.

A sandbox that may read a table's data files natively could also read one whole with
``read_parquet('<file>')`` (unrestricted access allows that). Icehouse's writer puts
only the table's columns in a file, but any engine may commit to the table, and a file
from another writer may carry columns beyond the table's schema (PyIceberg reads by
field id and ignores them). Files are read natively only when every column of every
file is a field of the table's schema, by field id; a column without one, or with an id
the schema lacks, sends the table to a path that reads no file directly.

Data files are immutable (a rewrite writes a new path), so a footer is read once per
path, and the cache is bounded (least recently used dropped first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.schema import Schema

FIELD_ID = b"PARQUET:field_id"

FILES_CACHED = 50_000
"""Footers' field ids kept (a path and a few integers each: a few MB at most)."""


def _field_ids(fields: Sequence[pa.Field]) -> frozenset[int] | None:
    """Every field id under ``fields`` (nested ones too); None when one has none."""
    ids: set[int] = set()
    for field in fields:
        metadata = field.metadata or {}
        if FIELD_ID not in metadata:
            return None
        ids.add(int(metadata[FIELD_ID]))
        children = [field.type.field(i) for i in range(field.type.num_fields)]
        nested = _field_ids(children)
        if nested is None:
            return None
        ids |= nested
    return frozenset(ids)


class FileFields:
    """Field ids of data files by local path (None: a column without a field id)."""

    def __init__(self, capacity: int = FILES_CACHED) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, frozenset[int] | None] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, path: str) -> frozenset[int] | None:
        """The field ids of the local Parquet file ``path``'s columns (read from its
        footer once)."""
        with self._lock:
            if path in self._ids:
                self._ids.move_to_end(path)
                return self._ids[path]
        schema = pq.read_schema(path)
        ids = _field_ids(list(schema))
        with self._lock:
            self._ids[path] = ids
            while len(self._ids) > self.capacity:
                self._ids.popitem(last=False)
        return ids

    def within(self, paths: Sequence[str], schema: Schema) -> bool:
        """Whether every column of every file of ``paths`` is a field of ``schema``."""
        known = schema.field_ids  # nested fields' too
        for path in paths:
            ids = self.of(path)
            if ids is None or not ids <= known:
                return False
        return True
