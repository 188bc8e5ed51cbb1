"""Open the PyIceberg catalog that lives in the state database.

Tables are registered in PyIceberg's SqlCatalog tables inside the one state database,
under the fixed catalog name ``icehouse`` (SqlCatalog keys rows by catalog name, so a
different name would silently show an empty catalog). Other engines open the same rows:
Spark through its JDBC catalog, anything through icehouse's REST server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from icehouse.errors import InvalidInput, NoSuchTable

CATALOG_NAME = "icehouse"

# Defaults for every table icehouse creates (issue #2): zstd Parquet, 128 MiB files,
# bounded metadata history and manifests merged on append, so that a table that takes
# a commit every few seconds does not grow its metadata without end.
TABLE_DEFAULTS: dict[str, str] = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "50",
}


def warehouse_uri(warehouse: str) -> str:
    """PyIceberg wants a URI; a local folder becomes ``file:///...``."""
    if "://" in warehouse:
        return warehouse
    return Path(warehouse).absolute().as_uri()


def open_catalog(state_url: str, warehouse: str, storage: dict[str, str]) -> SqlCatalog:
    properties: dict[str, Any] = {"uri": state_url, "warehouse": warehouse_uri(warehouse)}
    properties.update(storage)
    if warehouse.startswith("file:") or "://" not in warehouse:
        Path(warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(CATALOG_NAME, **properties)


def split_name(name: str) -> tuple[str, str]:
    """``db.table`` → (``db``, ``table``).

    Raises:
        InvalidInput: not of the form ``namespace.table``.
    """
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidInput(
            f"table names are written namespace.table (e.g. logs.requests), got {name!r}"
        )
    return parts[0], parts[1]


def load_table(catalog: SqlCatalog, name: str) -> Table:
    """Raises: NoSuchTable, with the tables that do exist in the namespace."""
    namespace, _ = split_name(name)
    try:
        return catalog.load_table(name)
    except NoSuchTableError:
        try:
            known = [".".join(t) for t in catalog.list_tables(namespace)]
        except Exception:  # the namespace itself may be missing
            known = []
        hint = f"; tables in {namespace!r}: {', '.join(known)}" if known else ""
        raise NoSuchTable(
            f"no table {name!r}{hint}. Create it with `icehouse table create {name} ...`",
            table=name,
        ) from None
