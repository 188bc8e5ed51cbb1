"""Keep a streaming table's history bounded while it ingests.

PyIceberg's commit cost grows with the number of snapshots (FACTS.md: 57 ms at 10
snapshots, 2.36 s at 1,000), so an ingester that commits every few seconds must expire
its own old snapshots. PyIceberg's ``expire_snapshots`` only edits metadata; the
manifest lists of expired snapshots belong to nobody else, so they are deleted here.
Data files and manifests are left to maintenance (orphan removal), which knows
everything that is still reachable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pyiceberg.table import Table

MAX_SNAPSHOTS_PROPERTY = "icehouse.ingest.max-snapshots"
DEFAULT_MAX_SNAPSHOTS = 100
MAX_AGE_PROPERTY = "history.expire.max-snapshot-age-ms"
MIN_KEEP_PROPERTY = "history.expire.min-snapshots-to-keep"
DEFAULT_MAX_AGE_MS = 5 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TrimResult:
    expired: int
    manifest_lists_deleted: int


def snapshots_to_expire(table: Table, *, now_ms: int | None = None) -> list[int]:
    """Snapshots beyond the count cap or older than the age limit, never the newest
    ``min-snapshots-to-keep`` nor one a branch or tag points at."""
    properties = table.metadata.properties
    max_count = int(properties.get(MAX_SNAPSHOTS_PROPERTY, DEFAULT_MAX_SNAPSHOTS))
    max_age = int(properties.get(MAX_AGE_PROPERTY, DEFAULT_MAX_AGE_MS))
    min_keep = max(1, int(properties.get(MIN_KEEP_PROPERTY, 1)))
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
    newest_first = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    keep = max(min_keep, max_count)
    expire = []
    for position, snapshot in enumerate(newest_first):
        if snapshot.snapshot_id in protected or position < min_keep:
            continue
        if position >= keep or now_ms - snapshot.timestamp_ms > max_age:
            expire.append(snapshot.snapshot_id)
    return expire


def trim_history(table: Table, *, slack: float = 0.1) -> TrimResult:
    """Expire old snapshots once the table exceeds its cap by ``slack`` (so that the
    cost of an expiry commit is paid once per many appends, not on every one)."""
    max_count = int(table.metadata.properties.get(MAX_SNAPSHOTS_PROPERTY, DEFAULT_MAX_SNAPSHOTS))
    over_cap = len(table.metadata.snapshots) > max_count * (1 + slack)
    expire = snapshots_to_expire(table)
    if not expire or (not over_cap and len(expire) < max(1, int(max_count * slack))):
        return TrimResult(0, 0)
    lists = {s.snapshot_id: s.manifest_list for s in table.metadata.snapshots}
    table.maintenance.expire_snapshots().by_ids(expire).commit()
    deleted = 0
    for snapshot_id in expire:
        try:
            table.io.delete(lists[snapshot_id])
            deleted += 1
        except FileNotFoundError:
            pass
    return TrimResult(len(expire), deleted)
