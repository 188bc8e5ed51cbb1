"""Request bodies of the REST catalog's view routes (envelopes only: the schema, the
view version, the requirements and updates stay JSON, parsed below the ``Lake``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from icehouse.server.models import CommitTableBody, RenameTableBody, RequestBody


class CreateViewBody(RequestBody):
    name: str = Field(min_length=1)
    location: str | None = None
    view_schema: dict[str, Any] = Field(alias="schema")
    view_version: dict[str, Any] = Field(alias="view-version")
    properties: dict[str, str] = Field(default_factory=dict)


CommitViewBody = CommitTableBody
"""The spec's ``CommitViewRequest`` has a table commit's envelope."""

RenameViewBody = RenameTableBody
"""A view is renamed with a table rename's body (``RenameTableRequest``)."""


class RegisterViewBody(RequestBody):
    name: str = Field(min_length=1)
    metadata_location: str = Field(alias="metadata-location", min_length=1)
