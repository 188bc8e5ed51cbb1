"""icehouse: a streaming lakehouse for Python people.

The public surface is the ``Lake`` facade, its configuration types, reports, the
exception tree, and ``connect`` (SQL against an ``icehouse serve``); everything else is
an implementation module.

Only the exception tree is imported with the package. ``Lake``, the configuration types,
``IngestReport`` and ``__version__`` are imported when first asked for: they bring in
PyIceberg, PyArrow, DuckDB, SQLAlchemy and pydantic (more than a second), which
``icehouse --help`` and a script that only catches ``icehouse.NoSuchTable`` never use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from icehouse.errors import (
    CatalogUnavailable,
    CommitConflict,
    CommitRaced,
    CommitUncertain,
    ConfirmationRequired,
    Conflict,
    ConflictingProperties,
    CopiedHome,
    DataFilterAlreadyExists,
    EqualityDeletesUnsupported,
    FilterNotTranslatable,
    Forbidden,
    GovernanceSyntaxError,
    GrantNotHeld,
    HomeNotFound,
    IcehouseError,
    IdempotencyKeyReused,
    InputFileError,
    InvalidConfig,
    InvalidCredential,
    InvalidDuration,
    InvalidGrant,
    InvalidInput,
    InvalidMapping,
    InvalidNotification,
    InvalidPartitionSpec,
    InvalidSchema,
    InvalidSortOrder,
    InvalidTagValue,
    LandingNotFound,
    LinkNameTaken,
    MaintenanceBusy,
    MountedTableReadOnly,
    MountNameTaken,
    MountReadOnly,
    NamespaceAlreadyExists,
    NamespaceNotEmpty,
    NoSuchDataFilter,
    NoSuchGrant,
    NoSuchLink,
    NoSuchMount,
    NoSuchNamespace,
    NoSuchPrincipal,
    NoSuchQuarantineRecord,
    NoSuchRole,
    NoSuchSource,
    NoSuchTable,
    NoSuchTag,
    NoSuchTenant,
    NoSuchView,
    NotAuthenticated,
    NotFound,
    OutsideWarehouse,
    PrincipalAlreadyExists,
    ProofFailed,
    QueryError,
    RewriteConflict,
    RoleAlreadyExists,
    RoleCycle,
    SealedSecretUnreadable,
    ServerUnavailable,
    ServiceUnavailable,
    SetupFailed,
    SourceAlreadyExists,
    SourceInUse,
    SparkRewriteFailed,
    SparkUnavailable,
    StateDatabaseUnavailable,
    StateError,
    StorageUnavailable,
    TableAlreadyExists,
    TableInUse,
    TagAlreadyExists,
    TenantAlreadyExists,
    TenantNotEmpty,
    UnreadableFile,
    UnsafeMaintenance,
    ViewAlreadyExists,
)

if TYPE_CHECKING:
    from icehouse.client import Connection, connect
    from icehouse.config import ColumnMapping, IngestConfig, LakeConfig, SourceConfig
    from icehouse.ingest.report import IngestReport
    from icehouse.lake import InitResult, Lake

    __version__: str

_LAZY = {
    "Connection": "icehouse.client",
    "connect": "icehouse.client",
    "ColumnMapping": "icehouse.config",
    "IngestConfig": "icehouse.config",
    "LakeConfig": "icehouse.config",
    "SourceConfig": "icehouse.config",
    "IngestReport": "icehouse.ingest.report",
    "InitResult": "icehouse.lake",
    "Lake": "icehouse.lake",
}
"""Public name -> the module that defines it, imported on first use."""


def __getattr__(name: str) -> Any:
    """Import a lazily exported name on first use and keep it as a module global, so that
    later lookups are plain attribute reads."""
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


def _version() -> str:
    """The installed distribution's version (reading it scans the installed packages'
    metadata, hence only when asked)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("icehouse")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


__all__ = [
    "CatalogUnavailable",
    "ColumnMapping",
    "CommitConflict",
    "CommitRaced",
    "CommitUncertain",
    "ConfirmationRequired",
    "Conflict",
    "ConflictingProperties",
    "Connection",
    "CopiedHome",
    "DataFilterAlreadyExists",
    "EqualityDeletesUnsupported",
    "FilterNotTranslatable",
    "Forbidden",
    "GovernanceSyntaxError",
    "GrantNotHeld",
    "HomeNotFound",
    "IcehouseError",
    "IdempotencyKeyReused",
    "IngestConfig",
    "IngestReport",
    "InitResult",
    "InputFileError",
    "InvalidConfig",
    "InvalidCredential",
    "InvalidDuration",
    "InvalidGrant",
    "InvalidInput",
    "InvalidMapping",
    "InvalidNotification",
    "InvalidPartitionSpec",
    "InvalidSchema",
    "InvalidSortOrder",
    "InvalidTagValue",
    "Lake",
    "LakeConfig",
    "LandingNotFound",
    "LinkNameTaken",
    "MaintenanceBusy",
    "MountNameTaken",
    "MountReadOnly",
    "MountedTableReadOnly",
    "NamespaceAlreadyExists",
    "NamespaceNotEmpty",
    "NoSuchDataFilter",
    "NoSuchGrant",
    "NoSuchLink",
    "NoSuchMount",
    "NoSuchNamespace",
    "NoSuchPrincipal",
    "NoSuchQuarantineRecord",
    "NoSuchRole",
    "NoSuchSource",
    "NoSuchTable",
    "NoSuchTag",
    "NoSuchTenant",
    "NoSuchView",
    "NotAuthenticated",
    "NotFound",
    "OutsideWarehouse",
    "PrincipalAlreadyExists",
    "ProofFailed",
    "QueryError",
    "RewriteConflict",
    "RoleAlreadyExists",
    "RoleCycle",
    "SealedSecretUnreadable",
    "ServerUnavailable",
    "ServiceUnavailable",
    "SetupFailed",
    "SourceAlreadyExists",
    "SourceConfig",
    "SourceInUse",
    "SparkRewriteFailed",
    "SparkUnavailable",
    "StateDatabaseUnavailable",
    "StateError",
    "StorageUnavailable",
    "TableAlreadyExists",
    "TableInUse",
    "TagAlreadyExists",
    "TenantAlreadyExists",
    "TenantNotEmpty",
    "UnreadableFile",
    "UnsafeMaintenance",
    "ViewAlreadyExists",
    "connect",
]
