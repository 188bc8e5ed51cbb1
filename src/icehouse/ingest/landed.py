"""Push discovery: the objects an S3 event notification names go into the file queue
without listing the landing location.

Each created object is looked up (one HEAD request) through the filesystem the listing
uses, so a notified file gets the size and modification time, hence the ledger identity,
that a listing gives it: a file both notified and listed is queued once, and a
notification of an object deleted since is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow.fs as pafs

from icehouse.config import SourceConfig
from icehouse.errors import InvalidNotification
from icehouse.ingest.landing import LandedFile, is_candidate, open_location, relative_path
from icehouse.ingest.ledger.queue import FileQueue
from icehouse.ingest.notifications import ObjectEvent, parse


@dataclass(frozen=True)
class LandedNotice:
    """What one notification did: files queued, files the ledger already had, and
    records ignored (other events, names the source's glob leaves out, objects gone);
    ``subscribe_url`` when it was SNS asking to confirm a subscription."""

    queued: int = 0
    known: int = 0
    ignored: int = 0
    subscribe_url: str | None = None


def take_notification(
    queue: FileQueue, source: SourceConfig, storage: Mapping[str, str], body: bytes
) -> LandedNotice:
    """Queue the source's new objects a notification body names.

    The whole body is refused, queuing nothing, when one record names an object outside
    the source's location: a misrouted subscription is told at once, not half taken.

    Raises: InvalidNotification (a body that is not an S3 event notification, a source
    that does not land on S3, an object outside its location)."""
    notification = parse(body, source=source.name)
    if notification.subscribe_url is not None:
        return LandedNotice(subscribe_url=notification.subscribe_url)
    if not source.location.startswith(("s3://", "s3a://")):
        raise InvalidNotification(
            f"source {source.name!r} lands in {source.location}, not on S3: notifications "
            "are for S3 locations (a local folder is listed)",
            source=source.name,
        )
    filesystem, base = open_location(source.location, dict(storage))
    created = [e for e in notification.events if e.created]
    paths = [_path_in(base, source, event) for event in created]
    wanted = [p for p in paths if is_candidate(relative_path(base, p), source.glob)]
    found = [
        LandedFile(path=info.path, size=info.size or 0, mtime=info.mtime.timestamp())
        for info in (filesystem.get_file_info(wanted) if wanted else [])
        if info.type == pafs.FileType.File and info.mtime is not None
    ]
    queued = queue.register_notified(source.name, found)
    return LandedNotice(
        queued=queued,
        known=len(found) - queued,
        ignored=len(notification.events) - len(found),
    )


def _path_in(base: str, source: SourceConfig, event: ObjectEvent) -> str:
    """The object's path as the listing names it (``bucket/key``).

    Raises: InvalidNotification (outside the source's location)."""
    path = f"{event.bucket}/{event.key}"
    if not path.startswith(base + "/"):
        raise InvalidNotification(
            f"object s3://{path} is outside source {source.name!r}'s location "
            f"{source.location}: is the notification sent to the right source?",
            source=source.name,
        )
    return path
