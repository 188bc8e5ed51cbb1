"""Storage event notifications: the S3 event records in the bodies that reach
``POST /api/v1/landed/{source}``.

Three wrappings arrive: S3's own event JSON (``{"Records": [...]}``), the same JSON as
the ``Message`` string of an SNS HTTP(S) notification, and MinIO's webhook body
(``{"EventName": ..., "Key": ..., "Records": [...]}``). Each record names one object
by bucket and key; keys come URL-encoded (spaces as ``+``), as S3 sends them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from icehouse.errors import InvalidNotification

CREATED = "ObjectCreated:"
"""The event names of a new (or overwritten) object: ``ObjectCreated:Put``, ``:Post``,
``:Copy``, ``:CompleteMultipartUpload``; MinIO prefixes them with ``s3:``."""


@dataclass(frozen=True)
class ObjectEvent:
    """One record: what happened (``ObjectCreated:Put``) to which object."""

    name: str
    bucket: str
    key: str

    @property
    def created(self) -> bool:
        return self.name.startswith(CREATED)


@dataclass(frozen=True)
class Notification:
    """A body's records; ``subscribe_url`` when SNS asks to confirm a subscription
    instead (a GET of that URL confirms it)."""

    events: list[ObjectEvent] = field(default_factory=list)
    subscribe_url: str | None = None


def parse(body: bytes, *, source: str) -> Notification:
    """The records of a notification body, in any of the three wrappings.

    Raises: InvalidNotification (not JSON, or not an S3 event: no ``Records`` list, a
    record without its bucket or key)."""
    document = _json(body, source=source, what="the body")
    kind = document.get("Type")
    if kind == "SubscriptionConfirmation":
        url = document.get("SubscribeURL")
        if not isinstance(url, str) or not url:
            raise InvalidNotification(
                "an SNS SubscriptionConfirmation without its SubscribeURL", source=source
            )
        return Notification(subscribe_url=url)
    if kind == "UnsubscribeConfirmation":
        return Notification()
    if kind == "Notification":
        message = document.get("Message")
        if not isinstance(message, str):
            raise InvalidNotification(
                "an SNS Notification whose Message is not a string", source=source
            )
        document = _json(message.encode(), source=source, what="the SNS Message")
    if "Records" not in document:
        if document.get("Event") == "s3:TestEvent":
            return Notification()  # S3 checks a new configuration with one
        raise InvalidNotification(
            "not an S3 event notification: expected a JSON object with a Records list "
            "(S3's event JSON, directly or as an SNS Notification's Message, or MinIO's "
            "webhook body)",
            source=source,
        )
    records = document["Records"]
    if not isinstance(records, list):
        raise InvalidNotification("Records must be a list of S3 event records", source=source)
    return Notification(events=[_event(r, source=source) for r in records])


def _json(text: bytes, *, source: str, what: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidNotification(f"{what} is not JSON: {exc}", source=source) from exc
    if not isinstance(document, dict):
        raise InvalidNotification(f"{what} is not a JSON object", source=source)
    return document


def _event(record: object, *, source: str) -> ObjectEvent:
    name = _at(record, "eventName")
    bucket = _at(_at(_at(record, "s3"), "bucket"), "name")
    key = _at(_at(_at(record, "s3"), "object"), "key")
    if not (isinstance(name, str) and isinstance(bucket, str) and isinstance(key, str)):
        raise InvalidNotification(
            "an S3 event record needs eventName, s3.bucket.name and s3.object.key "
            f"(strings); got {json.dumps(record)[:200]}",
            source=source,
        )
    return ObjectEvent(name=name.removeprefix("s3:"), bucket=bucket, key=unquote_plus(key))


def _at(value: object, name: str) -> object:
    """``value[name]``, or None where ``value`` is not an object holding it."""
    return value.get(name) if isinstance(value, dict) else None
