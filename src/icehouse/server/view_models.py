"""Request bodies of the REST catalog's view routes (envelopes only: the schema, the
view version, the requirements and updates stay JSON, parsed below the ``Lake``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from icehouse.server.models import Location, TableIdentifierBody


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class CreateViewBody(_Body):
    name: str = Field(min_length=1)
    location: Location = None
    view_schema: dict[str, Any] = Field(alias="schema")
    view_version: dict[str, Any] = Field(alias="view-version")
    properties: dict[str, str] = Field(default_factory=dict)


class CommitViewBody(_Body):
    identifier: TableIdentifierBody | None = None
    requirements: list[dict[str, Any]] = Field(default_factory=list)
    updates: list[dict[str, Any]] = Field(default_factory=list)


class RenameViewBody(_Body):
    source: TableIdentifierBody
    destination: TableIdentifierBody


class RegisterViewBody(_Body):
    name: str = Field(min_length=1)
    metadata_location: str = Field(alias="metadata-location", min_length=1)
