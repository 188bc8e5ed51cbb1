"""icehouse: a streaming lakehouse for Python people.

The public surface is the ``Lake`` facade, its configuration types, reports, and the
exception tree; everything else is an implementation module.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version

from icehouse.config import ColumnMapping, IngestConfig, LakeConfig, SourceConfig
from icehouse.errors import (
    BatchFenced,
    CommitConflict,
    CommitRaced,
    CommitUncertain,
    Conflict,
    ConflictingProperties,
    CopiedHome,
    EqualityDeletesUnsupported,
    FilterNotTranslatable,
    HomeNotFound,
    IcehouseError,
    InputFileError,
    InvalidConfig,
    InvalidDuration,
    InvalidInput,
    InvalidMapping,
    InvalidPartitionSpec,
    InvalidSchema,
    InvalidSortOrder,
    LandingNotFound,
    MaintenanceBusy,
    NamespaceAlreadyExists,
    NamespaceNotEmpty,
    NoSuchNamespace,
    NoSuchQuarantineRecord,
    NoSuchSource,
    NoSuchTable,
    NotFound,
    OutsideWarehouse,
    ProofFailed,
    QueryError,
    RewriteConflict,
    ServiceUnavailable,
    SourceAlreadyExists,
    StateDatabaseUnavailable,
    StateError,
    StorageUnavailable,
    TableAlreadyExists,
    UnreadableFile,
    UnsafeMaintenance,
)
from icehouse.ingest.report import IngestReport
from icehouse.lake import InitResult, Lake

try:
    __version__ = _package_version("icehouse")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BatchFenced",
    "ColumnMapping",
    "CommitConflict",
    "CommitRaced",
    "CommitUncertain",
    "Conflict",
    "ConflictingProperties",
    "CopiedHome",
    "EqualityDeletesUnsupported",
    "FilterNotTranslatable",
    "HomeNotFound",
    "IcehouseError",
    "IngestConfig",
    "IngestReport",
    "InitResult",
    "InputFileError",
    "InvalidConfig",
    "InvalidDuration",
    "InvalidInput",
    "InvalidMapping",
    "InvalidPartitionSpec",
    "InvalidSchema",
    "InvalidSortOrder",
    "Lake",
    "LakeConfig",
    "LandingNotFound",
    "MaintenanceBusy",
    "NamespaceAlreadyExists",
    "NamespaceNotEmpty",
    "NoSuchNamespace",
    "NoSuchQuarantineRecord",
    "NoSuchSource",
    "NoSuchTable",
    "NotFound",
    "OutsideWarehouse",
    "ProofFailed",
    "QueryError",
    "RewriteConflict",
    "ServiceUnavailable",
    "SourceAlreadyExists",
    "SourceConfig",
    "StateDatabaseUnavailable",
    "StateError",
    "StorageUnavailable",
    "TableAlreadyExists",
    "UnreadableFile",
    "UnsafeMaintenance",
]
