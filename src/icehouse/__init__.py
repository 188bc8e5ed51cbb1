"""icehouse: a streaming lakehouse for Python people.

The public surface is the ``Lake`` facade, its configuration types, reports, and the
exception tree; everything else is an implementation module.
"""

from icehouse.config import ColumnMapping, IngestConfig, LakeConfig, SourceConfig
from icehouse.errors import (
    CommitConflict,
    Conflict,
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
    MaintenanceBusy,
    NoSuchNamespace,
    NoSuchQuarantineRecord,
    NoSuchSource,
    NoSuchTable,
    NotFound,
    ProofFailed,
    QueryError,
    RewriteConflict,
    SourceAlreadyExists,
    StateError,
    TableAlreadyExists,
    UnreadableFile,
    UnsafeMaintenance,
)
from icehouse.ingest.report import IngestReport
from icehouse.lake import InitResult, Lake

__all__ = [
    "ColumnMapping",
    "CommitConflict",
    "Conflict",
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
    "MaintenanceBusy",
    "NoSuchNamespace",
    "NoSuchQuarantineRecord",
    "NoSuchSource",
    "NoSuchTable",
    "NotFound",
    "ProofFailed",
    "QueryError",
    "RewriteConflict",
    "SourceAlreadyExists",
    "SourceConfig",
    "StateError",
    "TableAlreadyExists",
    "UnreadableFile",
    "UnsafeMaintenance",
]
