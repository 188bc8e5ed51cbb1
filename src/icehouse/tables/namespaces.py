"""Namespaces of the Iceberg catalog: list, create, describe, alter and drop.

icehouse's own commands create a namespace on the fly with a table's first creation;
engines that speak the Iceberg REST protocol manage namespaces themselves, with
properties, and expect the catalog's answers (exists, not empty) as errors.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pyiceberg.catalog.sql import IcebergNamespaceProperties, SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from sqlalchemy.exc import IntegrityError

from icehouse.errors import ConflictingProperties, InvalidInput
from icehouse.tables.catalog_errors import catalog_errors

Namespace = tuple[str, ...]

_PLACEHOLDER = IcebergNamespaceProperties.NAMESPACE_MINIMAL_PROPERTIES
"""The catalog keeps a namespace as rows of its properties, so one without properties
holds this placeholder; it is never shown, and it is put back when the last real
property is removed (else the namespace would vanish)."""


@dataclass(frozen=True)
class PropertiesChange:
    """What an update of a namespace's properties did, key by key."""

    removed: list[str]
    updated: list[str]
    missing: list[str]
    """Keys asked to be removed that were not set."""


def list_namespaces(catalog: SqlCatalog, parent: Namespace = ()) -> list[Namespace]:
    """Raises: NoSuchNamespace (``parent`` does not exist)."""
    with catalog_errors(namespace=parent):
        return sorted(tuple(n) for n in catalog.list_namespaces(parent))


def create_namespace(
    catalog: SqlCatalog, namespace: Namespace, properties: dict[str, str]
) -> dict[str, str]:
    """Returns: the namespace's properties as stored.
    Raises: NamespaceAlreadyExists, InvalidInput (an empty name)."""
    _check(namespace)
    with catalog_errors(namespace=namespace):
        _create(catalog, namespace, properties)
        return _shown(catalog.load_namespace_properties(namespace))


def ensure_namespace(catalog: SqlCatalog, namespace: str | Namespace) -> None:
    """Create ``namespace`` unless it exists, whoever else creates it at the same
    moment (two first tables of a namespace, two audit exporters)."""
    with contextlib.suppress(NamespaceAlreadyExistsError):
        _create(catalog, namespace, {})


def _create(catalog: SqlCatalog, namespace: str | Namespace, properties: dict[str, str]) -> None:
    """The catalog checks that a namespace is new, then inserts its rows: a creator that
    inserted in between makes the insert fail on the key. That namespace exists, so it
    is the answer a later creator gets.

    Raises: NamespaceAlreadyExistsError."""
    try:
        catalog.create_namespace(namespace, properties)
    except IntegrityError:
        if not catalog.namespace_exists(namespace):
            raise
        raise NamespaceAlreadyExistsError(f"Namespace {namespace} already exists") from None


def namespace_properties(catalog: SqlCatalog, namespace: Namespace) -> dict[str, str]:
    """Raises: NoSuchNamespace."""
    _check(namespace)
    with catalog_errors(namespace=namespace):
        return _shown(catalog.load_namespace_properties(namespace))


def namespace_exists(catalog: SqlCatalog, namespace: Namespace) -> bool:
    return bool(namespace) and all(namespace) and catalog.namespace_exists(namespace)


def drop_namespace(catalog: SqlCatalog, namespace: Namespace) -> None:
    """Raises: NoSuchNamespace, NamespaceNotEmpty."""
    _check(namespace)
    with catalog_errors(namespace=namespace):
        catalog.drop_namespace(namespace)


def update_namespace_properties(
    catalog: SqlCatalog, namespace: Namespace, *, removals: set[str], updates: dict[str, str]
) -> PropertiesChange:
    """Raises: NoSuchNamespace, ConflictingProperties (a key both removed and updated)."""
    _check(namespace)
    if overlap := sorted(removals & updates.keys()):
        raise ConflictingProperties(
            f"keys both removed and updated: {', '.join(overlap)}; nothing was changed",
            keys=overlap,
        )
    with catalog_errors(namespace=namespace):
        current = catalog.load_namespace_properties(namespace)
        if not updates and current.keys() <= removals | _PLACEHOLDER.keys():
            removals, updates = removals - _PLACEHOLDER.keys(), dict(_PLACEHOLDER)
        summary = catalog.update_namespace_properties(namespace, removals, updates)
    hidden = set(_PLACEHOLDER)
    return PropertiesChange(
        removed=sorted(set(summary.removed) - hidden),
        updated=sorted(set(summary.updated) - hidden),
        missing=sorted(set(summary.missing) - hidden),
    )


def _shown(properties: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in properties.items() if _PLACEHOLDER.get(k) != v}


def _check(namespace: Namespace) -> None:
    if not namespace or not all(namespace):
        raise InvalidInput(f"a namespace needs a non-empty name at every level, got {namespace!r}")


__all__ = [
    "Namespace",
    "PropertiesChange",
    "create_namespace",
    "drop_namespace",
    "list_namespaces",
    "namespace_exists",
    "namespace_properties",
    "update_namespace_properties",
]
