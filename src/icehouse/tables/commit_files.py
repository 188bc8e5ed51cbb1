"""Which files a commit's new snapshots name that are not the committed table's own.

A snapshot is a manifest list, naming manifests, naming data and delete files, and any
path can be written into them. An engine that may append to a table of its own could
commit a snapshot naming another table's manifest list or data files (paths it learnt
while it was still granted that table, say): the lake would then read that other
table's rows as this table's, to anyone who may read this one, the query API included,
which reads with the lake's own storage access. So a commit of a principal that does
not administer the lake may name only files its table owns: under the table's location
and under no other table's location nested deeper (``table_locations.py``).

What the commit's parent snapshot already listed was decided when it landed: only the
manifests a new snapshot adds are read, so a commit costs the reads of its own
manifest list and new manifests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.manifest import read_manifest_list

from icehouse.errors import InvalidInput
from icehouse.tables.catalog import load_table
from icehouse.tables.namespaces import Namespace
from icehouse.tables.table_locations import catalog_locations, owners_of


def foreign_file(
    catalog: SqlCatalog,
    namespace: Namespace,
    name: str,
    updates: Iterable[Mapping[str, Any]],
    *,
    warehouse: str,
) -> str | None:
    """The first file that the snapshots ``updates`` add name and table
    ``namespace.name`` does not own (its manifest list, a manifest, a data or delete
    file); None when they name only the table's own (or add no snapshot). A file
    outside ``warehouse`` is no table's (beside it lie raw logs, a producer's files),
    nor is a path with a ``.`` or ``..`` segment, which could climb out of its table.

    Raises: NoSuchTable, InvalidInput (a manifest list or manifest that cannot be read)."""
    added = [u["snapshot"] for u in updates if u.get("action") == "add-snapshot"]
    if not added:
        return None
    table = load_table(catalog, (*namespace, name))
    listed = {s.snapshot_id: s.manifest_list for s in table.metadata.snapshots}
    locations = catalog_locations(catalog)
    inside = _key(warehouse).rstrip("/") + "/"
    for snapshot in added:
        for path in _named(table.io, snapshot, listed):
            key = _key(path)
            if (
                not key.startswith(inside)
                or {".", ".."} & set(key.split("/"))
                or owners_of(locations, key) != [(namespace, name)]
            ):
                return path
    return None


def _named(io: FileIO, snapshot: Mapping[str, Any], listed: dict[int, str]) -> Iterator[str]:
    """The files a new snapshot names beyond what its parent listed."""
    manifest_list = str(snapshot.get("manifest-list", ""))
    yield manifest_list
    parent = listed.get(snapshot.get("parent-snapshot-id") or -1)
    known = {m.manifest_path for m in _manifests(io, parent)} if parent else set()
    for manifest in _manifests(io, manifest_list):
        if manifest.manifest_path in known:
            continue
        yield manifest.manifest_path
        try:
            entries = manifest.fetch_manifest_entry(io, discard_deleted=False)
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"the manifest {manifest.manifest_path} cannot be read: {exc}"
            ) from exc
        for entry in entries:
            yield entry.data_file.file_path


def _manifests(io: FileIO, manifest_list: str) -> list[Any]:
    """Raises: InvalidInput (the manifest list cannot be read)."""
    try:
        return list(read_manifest_list(io.new_input(manifest_list)))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"the manifest list {manifest_list} cannot be read: {exc}") from exc


def _key(path: str) -> str:
    """A file's path as locations are compared: without its scheme."""
    return path.split("://", 1)[-1]
