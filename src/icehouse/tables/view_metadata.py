"""Iceberg view metadata as values: a new view's first metadata, and the REST protocol's
view requirements and updates applied to it as pure functions.

PyIceberg 0.12 has the view metadata models (``pyiceberg.view.metadata``) but no code
that builds or changes them, so the rules of the Iceberg view spec live here: schema
and version ids the server assigns (``-1`` in an update means "the one added just
before"), and a version-log entry each time the current version changes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticValidationError
from pyiceberg.schema import Schema
from pyiceberg.view.metadata import ViewHistoryEntry, ViewMetadata, ViewVersion

from icehouse.errors import CommitRaced, InvalidInput
from icehouse.tables.locations import checked_location

M = TypeVar("M", Schema, ViewVersion)

LAST_ADDED = -1
"""An id in an update that refers to the schema or version added earlier in the same
commit."""


def new_view_metadata(
    *, schema: dict[str, Any], version: dict[str, Any], location: str, properties: dict[str, str]
) -> ViewMetadata:
    """The metadata of a view created with one schema (id 0) and one version (id 1):
    the server assigns ids, the request's are the client's guesses.

    Raises: InvalidInput (a schema or version that does not parse)."""
    first = _parsed(Schema, schema).model_copy(update={"schema_id": 0})
    parsed = _parsed(ViewVersion, version)
    current = parsed.model_copy(update={"version_id": 1, "schema_id": first.schema_id})
    return ViewMetadata(
        view_uuid=str(uuid.uuid4()),
        format_version=1,
        location=location.rstrip("/"),
        schemas=[first],
        current_version_id=current.version_id,
        versions=[current],
        version_log=[ViewHistoryEntry(timestamp_ms=current.timestamp_ms, version_id=1)],
        properties=properties,
    )


def check_requirements(
    metadata: ViewMetadata, requirements: list[dict[str, Any]], *, view: str
) -> None:
    """Raises: CommitRaced (a requirement does not hold: the view changed, nothing
    landed), InvalidInput (a requirement this server does not know)."""
    for requirement in requirements:
        kind = requirement.get("type")
        if kind != "assert-view-uuid":
            raise InvalidInput(f"{view}: unknown view requirement {kind!r}")
        if requirement.get("uuid") != metadata.view_uuid:
            raise CommitRaced(
                f"{view}: requirement failed: expected view uuid {requirement.get('uuid')}, "
                f"found {metadata.view_uuid}; reload the view and retry",
                table=view,
            )


@dataclass
class _Commit:
    """The metadata being built by one commit, and what ``-1`` refers to in it."""

    metadata: ViewMetadata
    last_schema: int | None = None
    last_version: int | None = None


def apply_updates(
    metadata: ViewMetadata, updates: list[dict[str, Any]], *, view: str
) -> ViewMetadata:
    """``metadata`` with ``updates`` applied in order.

    Raises: InvalidInput (an update that does not parse, is unknown, or refers to a
    schema or version the view does not have)."""
    commit = _Commit(metadata)
    for update in updates:
        action = str(update.get("action"))
        apply = _ACTIONS.get(action)
        if apply is None:
            raise InvalidInput(f"{view}: unknown view update {action!r}")
        try:
            apply(commit, update)
        except KeyError as exc:
            raise InvalidInput(f"{view}: update {action!r} lacks {exc}") from exc
        except (TypeError, ValueError) as exc:  # _Refused, or a value of the wrong type
            raise InvalidInput(f"{view}: update {action!r}: {exc}") from exc
    return commit.metadata


class _Refused(ValueError):
    """An update that cannot apply to this view (turned into InvalidInput above)."""


def _assign_uuid(commit: _Commit, update: dict[str, Any]) -> None:
    commit.metadata = commit.metadata.model_copy(update={"view_uuid": str(update["uuid"])})


def _upgrade_format_version(commit: _Commit, update: dict[str, Any]) -> None:
    if update["format-version"] != 1:
        raise _Refused(f"view format-version {update['format-version']} is not supported (1 is)")


def _add_schema(commit: _Commit, update: dict[str, Any]) -> None:
    schema = _parsed(Schema, update["schema"])
    for known in commit.metadata.schemas:
        if known.fields == schema.fields and known.identifier_field_ids == (
            schema.identifier_field_ids
        ):
            commit.last_schema = known.schema_id
            return
    fresh = max(s.schema_id for s in commit.metadata.schemas) + 1
    commit.metadata = commit.metadata.model_copy(
        update={
            "schemas": [*commit.metadata.schemas, schema.model_copy(update={"schema_id": fresh})]
        }
    )
    commit.last_schema = fresh


def _set_location(commit: _Commit, update: dict[str, Any]) -> None:
    location = str(update["location"])
    checked_location(location)
    location = location.rstrip("/")
    commit.metadata = commit.metadata.model_copy(update={"location": location})


def _set_properties(commit: _Commit, update: dict[str, Any]) -> None:
    """Values must be strings: ``model_copy`` does not validate what it is given."""
    updates = update["updates"]
    if not isinstance(updates, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in updates.items()
    ):
        raise _Refused(f"updates must map strings to strings, got {updates!r}")
    properties = {**commit.metadata.properties, **updates}
    commit.metadata = commit.metadata.model_copy(update={"properties": properties})


def _remove_properties(commit: _Commit, update: dict[str, Any]) -> None:
    removals = set(update["removals"])
    properties = {k: v for k, v in commit.metadata.properties.items() if k not in removals}
    commit.metadata = commit.metadata.model_copy(update={"properties": properties})


def _add_view_version(commit: _Commit, update: dict[str, Any]) -> None:
    version = _parsed(ViewVersion, update["view-version"])
    schema_id = version.schema_id
    if schema_id == LAST_ADDED:
        if commit.last_schema is None:
            raise _Refused("schema-id -1 but no schema was added before it")
        schema_id = commit.last_schema
    if schema_id not in {s.schema_id for s in commit.metadata.schemas}:
        raise _Refused(f"schema {schema_id} does not exist")
    fresh = max(v.version_id for v in commit.metadata.versions) + 1
    added = version.model_copy(update={"version_id": fresh, "schema_id": schema_id})
    commit.metadata = commit.metadata.model_copy(
        update={"versions": [*commit.metadata.versions, added]}
    )
    commit.last_version = fresh


def _set_current_view_version(commit: _Commit, update: dict[str, Any]) -> None:
    version_id = int(update["view-version-id"])
    if version_id == LAST_ADDED:
        if commit.last_version is None:
            raise _Refused("view-version-id -1 but no version was added before it")
        version_id = commit.last_version
    version = next((v for v in commit.metadata.versions if v.version_id == version_id), None)
    if version is None:
        raise _Refused(f"view version {version_id} does not exist")
    if version_id == commit.metadata.current_version_id:
        return
    entry = ViewHistoryEntry(timestamp_ms=int(time.time() * 1000), version_id=version_id)
    commit.metadata = commit.metadata.model_copy(
        update={
            "current_version_id": version_id,
            "version_log": [*commit.metadata.version_log, entry],
        }
    )


_ACTIONS: dict[str, Callable[[_Commit, dict[str, Any]], None]] = {
    "assign-uuid": _assign_uuid,
    "upgrade-format-version": _upgrade_format_version,
    "add-schema": _add_schema,
    "set-location": _set_location,
    "set-properties": _set_properties,
    "remove-properties": _remove_properties,
    "add-view-version": _add_view_version,
    "set-current-view-version": _set_current_view_version,
}


def _parsed(model: type[M], payload: Any) -> M:
    """PyIceberg's validators raise ``TypeError`` for a value of the wrong type (a
    field's ``write-default`` that does not fit its type), unwrapped by pydantic."""
    try:
        return model.model_validate(payload)
    except (PydanticValidationError, TypeError) as exc:
        raise InvalidInput(f"not a valid {model.__name__}: {exc}") from exc


__all__ = ["LAST_ADDED", "apply_updates", "check_requirements", "new_view_metadata"]
