"""Request bodies of the REST catalog, validated before any route runs.

They check the envelope (names, types, required fields); the Iceberg payloads inside
(schemas, specs, requirements, updates) stay plain JSON here and are parsed by the
catalog below the ``Lake``, which answers a 400 naming what did not parse.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from icehouse.errors import InvalidInput
from icehouse.server.paths import checked_levels


def _levels(levels: list[str]) -> list[str]:
    """Pydantic turns a ``ValueError`` into the field's 400, naming the field."""
    try:
        checked_levels(levels)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc
    return levels


NamespaceLevels = Annotated[list[str], Field(min_length=1), AfterValidator(_levels)]
"""A namespace in a body: at least one level, none of them empty or blank."""


class RequestBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class CreateNamespaceBody(RequestBody):
    namespace: NamespaceLevels
    properties: dict[str, str] = Field(default_factory=dict)


class UpdateNamespacePropertiesBody(RequestBody):
    removals: list[str] = Field(default_factory=list)
    updates: dict[str, str] = Field(default_factory=dict)


class CreateTableBody(RequestBody):
    name: str = Field(min_length=1)
    location: str | None = None
    table_schema: dict[str, Any] = Field(alias="schema")
    partition_spec: dict[str, Any] | None = Field(default=None, alias="partition-spec")
    write_order: dict[str, Any] | None = Field(default=None, alias="write-order")
    stage_create: bool = Field(default=False, alias="stage-create")
    properties: dict[str, str] = Field(default_factory=dict)


class TableIdentifierBody(RequestBody):
    namespace: NamespaceLevels
    name: str = Field(min_length=1)


class CommitTableBody(RequestBody):
    identifier: TableIdentifierBody | None = None
    requirements: list[dict[str, Any]] = Field(default_factory=list)
    updates: list[dict[str, Any]] = Field(default_factory=list)


class RenameTableBody(RequestBody):
    source: TableIdentifierBody
    destination: TableIdentifierBody


class RegisterTableBody(RequestBody):
    name: str = Field(min_length=1)
    metadata_location: str = Field(alias="metadata-location", min_length=1)
    overwrite: bool = False


class TableChangeBody(CommitTableBody):
    identifier: TableIdentifierBody


class CommitTransactionBody(RequestBody):
    table_changes: list[TableChangeBody] = Field(alias="table-changes", min_length=1)


_NO_NUL = r"^[^\x00]*$"
"""PostgreSQL's text columns hold no NUL character."""


class MetricsReportBody(RequestBody):
    """A scan or commit report; only its type is checked here, the rest is kept as sent."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")
    report_type: str = Field(alias="report-type", min_length=1, max_length=40, pattern=_NO_NUL)
    snapshot_id: int | None = Field(default=None, alias="snapshot-id", ge=-(2**63), le=2**63 - 1)
    """Kept in a 64-bit column, as Iceberg's snapshot ids are."""
    operation: str | None = Field(default=None, max_length=40, pattern=_NO_NUL)
    """A commit report's operation (``append``...), kept in a column of its own."""
