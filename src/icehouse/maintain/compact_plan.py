"""Which files a compaction rewrites, grouped by partition (Iceberg's ``rewrite_data_files``
rules, so that its options mean here what they mean in Spark).

A file is a *candidate* when it is smaller than ``min_file_ratio`` × target or larger than
``max_file_ratio`` × target, has delete files, or was written under an older partition
spec that ``respec`` asks to leave; ``rewrite_all`` makes every file one. Candidates are
grouped by (spec, partition), and a group is rewritten when it has at least
``min_input_files`` files, or more than one file holding over a target's worth of data, or
a file to split or deletes to apply. Groups larger than ``max_group_bytes`` are cut in
several, because a group is read into memory to be sorted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.table import FileScanTask, Table

from icehouse.maintain.choices import Strategy
from icehouse.tables.writer import DEFAULT_TARGET_FILE_BYTES, partition_values


@dataclass(frozen=True)
class CompactOptions:
    strategy: Strategy = "binpack"
    sort: str | None = None
    """Sort order for ``sort`` (``"customer_id, requested_at DESC"``); the table's by default."""
    zorder: str | None = None
    """Columns for ``zorder`` (``"customer_id, requested_at"``)."""
    target_file_bytes: int | None = None
    """``write.target-file-size-bytes`` of the table by default."""
    min_input_files: int = 5
    min_file_ratio: float = 0.75
    max_file_ratio: float = 1.8
    rewrite_all: bool = False
    respec: bool = False
    """Rewrite files of older partition specs into the current spec."""
    max_group_bytes: int = 1024 * 1024 * 1024
    max_concurrent_groups: int = 2
    partial_progress: bool = False
    """Commit each group as it finishes (a failure then loses one group's work)."""


@dataclass
class FileGroup:
    """Files of one partition rewritten together (one proof, one set of output files)."""

    spec_id: int
    partition: dict[str, Any]
    tasks: list[FileScanTask] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len(self.tasks)

    @property
    def bytes(self) -> int:
        return sum(t.file.file_size_in_bytes for t in self.tasks)

    @property
    def rows(self) -> int:
        return sum(t.file.record_count for t in self.tasks)

    @property
    def label(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.partition.items())
        return values or "(unpartitioned)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.label,
            "spec_id": self.spec_id,
            "files": self.files,
            "bytes": self.bytes,
            "rows": self.rows,
        }


def partition_label(table: Table, spec_id: int, partition: Any) -> dict[str, Any]:
    """Partition values as people read them (``ts_day: 2024-06-01``, not days since 1970)."""
    spec = table.metadata.specs()[spec_id]
    schema = table.schema()
    labels = {}
    for position, pf in enumerate(spec.fields):
        source = schema.find_field(pf.source_id)
        labels[pf.name] = pf.transform.to_human_string(
            pf.transform.result_type(source.field_type), partition[position]
        )
    return labels


def plan_groups(
    table: Table,
    options: CompactOptions,
    tasks: Iterable[FileScanTask],
    *,
    include: Callable[[dict[str, Any]], bool] | None = None,
) -> list[FileGroup]:
    """The groups to rewrite among ``tasks``; ``include`` lets the autopilot skip
    partitions that are still being written."""
    target = options.target_file_bytes or int(
        table.metadata.properties.get("write.target-file-size-bytes", DEFAULT_TARGET_FILE_BYTES)
    )
    current_spec = table.spec().spec_id
    by_partition: dict[tuple[int, str], FileGroup] = {}
    candidates: dict[tuple[int, str], list[FileScanTask]] = defaultdict(list)
    labels: dict[tuple[int, Any], dict[str, Any]] = {}
    for task in tasks:
        spec_id = task.file.spec_id
        record = (spec_id, partition_values(task.file.partition))
        label = labels.get(record)
        if label is None:
            label = labels[record] = partition_label(table, spec_id, task.file.partition)
        key = (spec_id, json.dumps(label, sort_keys=True))
        by_partition.setdefault(key, FileGroup(spec_id, label))
        if _is_candidate(task, target, options, old_spec=spec_id != current_spec):
            candidates[key].append(task)
    groups = []
    for key, chosen in candidates.items():
        group = by_partition[key]
        if include is not None and not include(group.partition):
            continue
        if _worth_rewriting(chosen, target, options, old_spec=group.spec_id != current_spec):
            groups.extend(_split(group, chosen, options.max_group_bytes))
    return sorted(groups, key=lambda g: (g.spec_id, g.label))


def _is_candidate(
    task: FileScanTask, target: int, options: CompactOptions, *, old_spec: bool
) -> bool:
    size = task.file.file_size_in_bytes
    return (
        options.rewrite_all
        or bool(task.delete_files)
        or (old_spec and options.respec)
        or size < options.min_file_ratio * target
        or size > options.max_file_ratio * target
    )


def _worth_rewriting(
    tasks: list[FileScanTask], target: int, options: CompactOptions, *, old_spec: bool
) -> bool:
    size = sum(t.file.file_size_in_bytes for t in tasks)
    return (
        len(tasks) >= options.min_input_files
        or (len(tasks) > 1 and size > target)
        or any(t.file.file_size_in_bytes > options.max_file_ratio * target for t in tasks)
        or any(t.delete_files for t in tasks)
        or (options.rewrite_all and bool(tasks))
        or (old_spec and options.respec and bool(tasks))
    )


def _split(group: FileGroup, tasks: list[FileScanTask], max_bytes: int) -> list[FileGroup]:
    parts = [FileGroup(group.spec_id, group.partition)]
    for task in sorted(tasks, key=lambda t: t.file.file_path):
        if parts[-1].tasks and parts[-1].bytes + task.file.file_size_in_bytes > max_bytes:
            parts.append(FileGroup(group.spec_id, group.partition))
        parts[-1].tasks.append(task)
    return parts
