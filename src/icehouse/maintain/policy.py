"""A table's maintenance policy, kept in its own table properties (``icehouse.maintenance.*``)
so that it travels with the table and any engine or catalog client can read or set it.

=============================================  =========  ==================================
property                                       default    meaning
=============================================  =========  ==================================
icehouse.maintenance.enabled                   true       the autopilot looks after the table
icehouse.maintenance.strategy                  auto       binpack, sort, zorder; auto = sort
                                                          when the table has a sort order
icehouse.maintenance.sort                      (table's)  sort order for sort
icehouse.maintenance.zorder                    (none)     columns for zorder
icehouse.maintenance.engine                    icehouse   icehouse, or spark: rewrite with
                                                          Spark's rewrite_data_files
icehouse.maintenance.small-file-trigger        5          compact a partition once it has this
                                                          many fragments (files < target / 8)
icehouse.maintenance.file-count-trigger        20         ...or this many files under 3/4 of
                                                          the target size
icehouse.maintenance.quiet-period              10m        leave a partition alone until no
                                                          commit has added to it for this long
icehouse.maintenance.snapshot-retention        5d         expire older snapshots (else
                                                          history.expire.max-snapshot-age-ms)
icehouse.maintenance.orphan-age                3d         safety age of orphan removal
icehouse.maintenance.orphan-interval           1d         how often to look for orphans
icehouse.maintenance.manifest-count-trigger    50         rewrite manifests beyond this many
=============================================  =========  ==================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from icehouse.durations import parse_duration
from icehouse.errors import InvalidConfig, InvalidDuration

PREFIX = "icehouse.maintenance."


@dataclass(frozen=True)
class MaintenancePolicy:
    enabled: bool = True
    strategy: Literal["auto", "binpack", "sort", "zorder"] = "auto"
    sort: str | None = None
    zorder: str | None = None
    engine: Literal["icehouse", "spark"] = "icehouse"
    small_file_trigger: int = 5
    file_count_trigger: int = 20
    quiet_period: timedelta = timedelta(minutes=10)
    snapshot_retention: timedelta = timedelta(days=5)
    orphan_age: timedelta = timedelta(days=3)
    orphan_interval: timedelta = timedelta(days=1)
    manifest_count_trigger: int = 50

    @classmethod
    def from_properties(cls, properties: dict[str, str], *, table: str) -> MaintenancePolicy:
        """Raises: InvalidConfig naming the property and the value it could not use."""
        values: dict[str, Any] = {}  # field name -> a value of that field's type
        retention_ms = properties.get("history.expire.max-snapshot-age-ms")
        if retention_ms is not None and retention_ms.isdigit():
            values["snapshot_retention"] = timedelta(milliseconds=int(retention_ms))
        for key, raw in properties.items():
            if not key.startswith(PREFIX):
                continue
            name = key.removeprefix(PREFIX).replace("-", "_")
            if name not in cls.__dataclass_fields__:
                raise InvalidConfig(
                    f"unknown maintenance property; known: "
                    f"{', '.join(PREFIX + f.replace('_', '-') for f in cls.__dataclass_fields__)}",
                    where=f"{table} property {key}",
                )
            values[name] = _parse(name, raw, where=f"{table} property {key}={raw!r}")
        return cls(**values)


def _parse(name: str, raw: str, *, where: str) -> object:
    default = MaintenancePolicy.__dataclass_fields__[name].default
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError("expected true or false")
            return raw.lower() == "true"
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, timedelta):
            return parse_duration(raw)
    except (ValueError, InvalidDuration) as exc:
        raise InvalidConfig(str(exc), where=where) from None
    if name == "strategy" and raw not in ("auto", "binpack", "sort", "zorder"):
        raise InvalidConfig("expected auto, binpack, sort or zorder", where=where)
    if name == "engine" and raw not in ("icehouse", "spark"):
        raise InvalidConfig("expected icehouse or spark", where=where)
    return raw
