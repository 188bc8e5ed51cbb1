"""Settings: the lake home, ``icehouse.toml`` and ``ICEHOUSE_*`` environment overrides.

What people edit (storage, ingestion defaults, sources and their mappings) lives in
``icehouse.toml`` in the lake home. Runtime state lives in the state database, and
per-table policy in table properties; neither belongs here.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomlkit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from icehouse.config_check import by_line, check_sections, describe, where
from icehouse.durations import parse_duration
from icehouse.errors import HomeNotFound, InvalidConfig, InvalidDuration

CONFIG_FILE = "icehouse.toml"
STATE_FILE = "state.db"
WAREHOUSE_DIR = "warehouse"
DEFAULT_HOME = "lake"
CATALOG_NAME = "icehouse"
"""PyIceberg's SqlCatalog keys tables by catalog name: it must never change."""


def _duration_text(value: str) -> str:
    """A duration setting, checked when the file is read (not when it is first used)."""
    try:
        parse_duration(value)
    except InvalidDuration as exc:
        raise ValueError(exc.message) from None
    return value


class ColumnMapping(BaseModel):
    """How one table column is filled from a source row.

    ``path`` names a source field (dots walk into nested JSON objects) or a helper field
    of the source's ``derive`` table; ``expr`` is a DuckDB SQL expression over the
    already-mapped row (so ``lower(country)`` sees the mapped ``country``) that may also
    name source fields as ``${path}``; a row whose ``expr`` raises is quarantined, never
    filled with NULL. ``timestamp`` says how to read a time: ``rfc3339`` (default for
    text), ``epoch_s``, ``epoch_ms``, ``epoch_us``, ``epoch_ns`` or a strptime format
    such as ``%d/%b/%Y:%H:%M:%S %z``; ``default`` fills a missing value. ``meta`` fills
    the column from the file instead of its records: ``"file"`` is the landed file's
    path relative to the source location (so that a later version of a file can
    replace the rows of the earlier one), ``"line"`` the record's 1-based line number.
    """

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    expr: str | None = None
    timestamp: str | None = None
    default: Any = None
    meta: Literal["file", "line"] | None = None

    @model_validator(mode="after")
    def _meta_stands_alone(self) -> ColumnMapping:
        """A ``meta`` value does not come from a record, so record rules cannot apply."""
        if self.meta is not None and (
            self.path is not None or self.timestamp is not None or self.default is not None
        ):
            raise ValueError("meta cannot be combined with path, timestamp or default")
        return self


class SourceConfig(BaseModel):
    """A landing location whose files feed one table."""

    model_config = ConfigDict(extra="forbid")

    name: str
    location: str
    table: str
    format: Literal["jsonl", "csv", "tsv", "w3c", "parquet"]
    glob: str = "*"
    compression: Literal["auto", "none", "gzip", "zstd"] = "auto"
    delimiter: str | None = None
    header: bool = True
    fields: list[str] = Field(default_factory=list)
    comment: str | None = None
    columns: dict[str, ColumnMapping] = Field(default_factory=dict)
    derive: dict[str, str] = Field(default_factory=dict)
    """Helper fields: name → DuckDB SQL over source fields (``${date} || ' ' || ${time}``).
    Not table columns; a column reads one by ``path`` or as ``${name}`` in its ``expr``."""
    on_success: Literal["keep", "delete", "archive"] = "keep"
    archive: str | None = None
    on_change: Literal["quarantine", "reingest", "skip"] = "quarantine"
    """What to do with a file of a ``keep`` source that comes back under its name with
    content that is neither the same (a re-copy) nor an append of whole lines."""
    bad_line_threshold: float = 0.10
    unknown_fields: Literal["ignore", "evolve"] = "ignore"
    max_line_bytes: int = 1 << 20
    settle: str = "2s"
    listing: Literal["full", "ordered"] = "full"
    """``ordered``: keys sort by landing time (date-prefixed or timestamped names), so a
    poll lists only the keys after the last one seen; ``full`` lists everything."""
    full_listing_every: str = "10m"
    """With ``listing = "ordered"``: how often a poll lists everything anyway, to find
    keys that landed late (sorting before ones already seen) and missed notifications."""
    late_after: str = "1h"
    """How far before what this source already committed a row's event time may fall
    before it counts as late (logs are never perfectly ordered)."""

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand_paths(cls, value: Any) -> Any:
        """``customer_id = "tenant"`` is short for ``customer_id = { path = "tenant" }``."""
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="before")
    @classmethod
    def _reingest_changed_is_on_change(cls, value: Any) -> Any:
        """``reingest_changed = true`` (before ``on_change``) reads as
        ``on_change = "reingest"``, with a warning."""
        if isinstance(value, dict) and "reingest_changed" in value:
            value = dict(value)
            old = value.pop("reingest_changed")
            name = value.get("name", "?")
            columns = value.get("columns") or {}
            has_file_column = any(
                isinstance(rule, dict) and rule.get("meta") == "file" for rule in columns.values()
            )
            if "on_change" not in value:
                # Replacing an earlier version's rows needs to know which rows it gave.
                value["on_change"] = "reingest" if old and has_file_column else "quarantine"
            warnings.warn(
                f"sources.{name}.reingest_changed is replaced by on_change "
                f'(read as on_change = "{value["on_change"]}"); update icehouse.toml',
                FutureWarning,
                stacklevel=2,
            )
        return value

    @model_validator(mode="after")
    def _reingest_needs_a_file_column(self) -> SourceConfig:
        if self.on_change == "reingest" and self.file_column is None:
            raise ValueError(
                'on_change = "reingest" replaces the rows of a file\'s earlier version, so '
                "a column must record which file each row came from: add one filled with "
                '{ meta = "file" } (e.g. source_file = { meta = "file" } under columns)'
            )
        return self

    @property
    def file_column(self) -> str | None:
        """The column that records which landed file each row came from, if any."""
        return next((name for name, rule in self.columns.items() if rule.meta == "file"), None)

    @model_validator(mode="after")
    def _archive_needs_a_folder(self) -> SourceConfig:
        if self.on_success == "archive" and not self.archive:
            raise ValueError('on_success = "archive" needs archive = "<folder>"')
        return self

    _valid_durations = field_validator("settle", "late_after", "full_listing_every")(
        classmethod(lambda cls, v: _duration_text(v))
    )

    @property
    def local_location(self) -> Path | None:
        """The landing folder on this machine (None for an object store)."""
        if "://" in self.location and not self.location.startswith("file://"):
            return None
        return Path(self.location.removeprefix("file://"))

    @property
    def settle_time(self) -> timedelta:
        return parse_duration(self.settle)

    @property
    def late_after_time(self) -> timedelta:
        return parse_duration(self.late_after)

    @property
    def full_listing_time(self) -> timedelta:
        return parse_duration(self.full_listing_every)


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commit_interval: str = "10s"
    batch_rows: int = 2_000_000
    batch_files: int = 500
    poll_interval: str = "1s"
    retention: str = "30d"
    lease: str = "60s"
    memory_mb: int = 256
    """Arrow bytes a batch may hold before writing: 2/3 in the table writer's partition
    buffers, 1/3 staging the file being decoded (so peak RSS stays flat with file size)."""

    _valid_durations = field_validator("commit_interval", "poll_interval", "retention", "lease")(
        classmethod(lambda cls, v: _duration_text(v))
    )

    @property
    def commit_interval_time(self) -> timedelta:
        return parse_duration(self.commit_interval)

    @property
    def poll_interval_time(self) -> timedelta:
        return parse_duration(self.poll_interval)

    @property
    def retention_time(self) -> timedelta:
        return parse_duration(self.retention)

    @property
    def lease_time(self) -> timedelta:
        return parse_duration(self.lease)


class MaintainConfig(BaseModel):
    """``[maintain]``: where ``--engine spark`` (and tables whose
    ``icehouse.maintenance.engine`` is ``spark``) run their rewrites. Spark reaches the
    tables through ``icehouse serve`` at ``spark-catalog-uri``, signed in with
    ``spark-credential`` (``CLIENT_ID:CLIENT_SECRET`` of an admin principal; or the
    ``ICEHOUSE_SPARK_CREDENTIAL`` environment variable, kept out of the file)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    spark_master: str | None = Field(default=None, alias="spark-master")
    """A master URL (``local[2]``, ``spark://host:7077``); ``local[2]`` when neither it nor
    ``spark-remote`` is set."""
    spark_remote: str | None = Field(default=None, alias="spark-remote")
    """A Spark Connect URL (``sc://host:15002``) instead of a master."""
    spark_conf: dict[str, str] = Field(default_factory=dict, alias="spark-conf")
    """Extra Spark settings (``"spark.driver.memory" = "4g"``)."""
    spark_catalog_uri: str | None = Field(default=None, alias="spark-catalog-uri")
    """The URL of ``icehouse serve`` for this lake, as Spark reaches it."""
    spark_credential: str | None = Field(default=None, alias="spark-credential")


class LakeConfig(BaseModel):
    """Everything a Lake needs to open; ``home`` anchors relative paths."""

    model_config = ConfigDict(extra="forbid")

    home: Path
    state_url: str
    warehouse: str
    storage: dict[str, str] = Field(default_factory=dict)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    maintain: MaintainConfig = Field(default_factory=MaintainConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_FILE


def resolve_home(home: str | Path | None) -> Path:
    """``--home``, else ``ICEHOUSE_HOME``, else ``./lake``; never a search of parents."""
    if home is not None:
        return Path(home).expanduser().absolute()
    env = os.environ.get("ICEHOUSE_HOME")
    return Path(env).expanduser().absolute() if env else Path(DEFAULT_HOME).absolute()


def default_config_text(
    *,
    state_url: str | None = None,
    warehouse: str | None = None,
    storage: dict[str, str] | None = None,
) -> str:
    """The commented ``icehouse.toml`` that ``icehouse init`` writes: the embedded default
    (SQLite, a local warehouse) unless ``init`` was given a database, a warehouse or
    ``[storage]`` settings; ``storage`` keys are written quoted, as PyIceberg's flat keys."""
    storage_lines = (
        "".join(f"{_toml_string(key)} = {_toml_string(value)}\n" for key, value in storage.items())
        if storage
        else _STORAGE_EXAMPLE
    )
    return f"""\
# icehouse lake home. Paths are relative to this file's folder.
# Environment overrides: ICEHOUSE_STATE_URL, ICEHOUSE_WAREHOUSE.

[lake]
# One state database: catalog, ingestion ledger and queue, quarantine, history.
# Scale out with e.g. "postgresql+psycopg://user@host/icehouse".
state_url = {_toml_string(state_url or f"sqlite:///{STATE_FILE}")}
# Where table data lives: a folder here, or s3://bucket/prefix (see [storage]).
warehouse = {_toml_string(warehouse or WAREHOUSE_DIR)}

[storage]
{storage_lines}
[ingest]
commit_interval = "10s"   # a batch commits at least this often while files arrive
batch_rows = 2000000      # ...or when it holds this many rows
poll_interval = "1s"      # how often --follow lists the landing locations
retention = "30d"         # how long ledger and quarantine records are kept

# Sources: add with `icehouse source add`, or by hand, e.g.
# [sources.cdn]
# location = "landing/cdn"
# glob = "*.jsonl.gz"
# format = "jsonl"
# table = "logs.requests"
# [sources.cdn.columns]
# requested_at = {{ path = "ts", timestamp = "rfc3339" }}
# customer_id = "tenant"
# country = {{ path = "client.country", expr = "upper(country)" }}
"""


_STORAGE_EXAMPLE = """\
# "s3.endpoint" = "http://127.0.0.1:8333"
# "s3.access-key-id" = "..."
# "s3.secret-access-key" = "..."
# "s3.region" = "us-east-1"
"""


def _toml_string(value: str) -> str:
    """``value`` as a TOML string, quoted and escaped."""
    return tomlkit.string(value).as_string()


def resolve_path(home: Path, value: str) -> str:
    """Relative local paths are relative to the home; URLs are left alone."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else home / path)


def _absolute_sqlite(home: Path, url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(home / url[len(prefix) :])
    return url


def load_config(home: Path) -> LakeConfig:
    """Read ``icehouse.toml`` of an existing home.

    Raises:
        HomeNotFound: no ``icehouse.toml`` in ``home``; the message says how to make one.
        InvalidConfig: the file is not valid TOML or has unknown or ill-typed settings.
    """
    path = home / CONFIG_FILE
    if not path.is_file():
        raise HomeNotFound(
            f"no lake home at {home} (no {CONFIG_FILE}). Create one with "
            f"`icehouse init --home {home}`, or point --home / ICEHOUSE_HOME at an existing one",
            home=str(home),
        )
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(str(exc), where=str(path)) from exc
    problems = check_sections(raw, text=text)
    lake = raw.get("lake", {}) if isinstance(raw.get("lake"), dict) else {}
    state_url = os.environ.get("ICEHOUSE_STATE_URL") or lake.get(
        "state_url", f"sqlite:///{STATE_FILE}"
    )
    warehouse = os.environ.get("ICEHOUSE_WAREHOUSE") or lake.get("warehouse", WAREHOUSE_DIR)
    ingest = _validated(IngestConfig, raw.get("ingest", {}), ("ingest",), text, problems)
    maintain = _validated(MaintainConfig, raw.get("maintain", {}), ("maintain",), text, problems)
    sources: dict[str, SourceConfig] = {}
    for name, spec in (raw.get("sources") or {}).items():
        if not isinstance(spec, dict):
            problems.append(f"{where(text, ('sources',), name)}sources.{name} must be a table")
            continue
        fields = {"name": name, **_absolute_source(home, spec)}
        source = _validated(SourceConfig, fields, ("sources", name), text, problems)
        if source is not None:
            sources[name] = source
    if problems:
        problems = by_line(problems)
        if len(problems) == 1:
            raise InvalidConfig(problems[0], where=str(path))
        listed = "\n".join(f"  {p}" for p in problems)
        raise InvalidConfig(f"{len(problems)} problems:\n{listed}", where=str(path))
    assert ingest is not None and maintain is not None
    return LakeConfig(
        home=home,
        state_url=_absolute_sqlite(home, state_url),
        warehouse=resolve_path(home, warehouse),
        storage=_flatten(raw.get("storage", {})),
        ingest=ingest,
        maintain=maintain,
        sources=sources,
    )


M = TypeVar("M", bound=BaseModel)


def _validated(
    model: type[M], fields: dict[str, Any], prefix: tuple[str, ...], text: str, problems: list[str]
) -> M | None:
    """``model`` built from ``fields``, or None with its problems added to ``problems``."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            built = model(**fields)
        for warning in caught:  # say where a deprecated key is, then warn as it did
            place = where(text, prefix, None)
            warnings.warn(f"{place}{warning.message}", warning.category, stacklevel=3)
        return built
    except ValidationError as exc:
        problems.extend(describe(exc, model=model, prefix=prefix, text=text))
        return None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``s3.endpoint = "..."`` in TOML is a nested table; PyIceberg wants dotted keys."""
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _absolute_source(home: Path, spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    for key in ("location", "archive"):
        if isinstance(spec.get(key), str):
            spec[key] = resolve_path(home, spec[key])
    return spec


def save_source(home: Path, source: dict[str, Any]) -> None:
    """Add a ``[sources.NAME]`` table to ``icehouse.toml``, keeping comments and layout."""
    path = home / CONFIG_FILE
    document = tomlkit.parse(path.read_text())
    sources = document.setdefault("sources", tomlkit.table(is_super_table=True))
    spec = {k: v for k, v in source.items() if k != "name" and v is not None}
    columns = spec.pop("columns", {})
    table = tomlkit.table()
    for key, value in spec.items():
        table[key] = value
    if columns:
        mapping = tomlkit.table()
        for column, rule in columns.items():
            inline = tomlkit.inline_table()
            inline.update({k: v for k, v in rule.items() if v is not None})
            mapping[column] = inline
        table["columns"] = mapping
    sources[source["name"]] = table
    path.write_text(tomlkit.dumps(document))


def remove_source(home: Path, name: str) -> None:
    """Delete source ``name`` from ``icehouse.toml``, leaving every other line as it was.

    The file is cut as text, not rewritten from a parse: the ``[sources.NAME]`` and
    ``[sources.NAME.*]`` sections go with the comment lines directly above their headers,
    and a comment written just above the next section stays with it (tomlkit would keep
    the first and drop the second). A source written another way (inline, dotted keys)
    is removed through tomlkit instead; either way the result must read as the old file
    without that source, else nothing is written.

    Raises:
        InvalidConfig: the edited file would not read back as expected (nothing written).
    """
    path = home / CONFIG_FILE
    text = path.read_text()
    expected = _without_empty_sources(tomllib.loads(text), name)
    for edited in (_cut_sections(text, ("sources", name)), _tomlkit_without(text, name)):
        if edited is not None and _without_empty_sources(tomllib.loads(edited)) == expected:
            path.write_text(edited)
            return
    raise InvalidConfig(
        f"could not remove source {name!r} without changing anything else; delete its "
        "section by hand",
        where=str(path),
    )


def _without_empty_sources(settings: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """``settings`` without source ``name``, and without ``sources`` once it is empty (the
    last source's section may take a bare ``[sources]`` with it, or not)."""
    sources = {k: v for k, v in settings.get("sources", {}).items() if k != name}
    rest = {k: v for k, v in settings.items() if k != "sources"}
    return rest | ({"sources": sources} if sources else {})


def _tomlkit_without(text: str, name: str) -> str:
    document = tomlkit.parse(text)
    sources = document.get("sources")
    if sources is not None and name in sources:
        del sources[name]
    return tomlkit.dumps(document)


def _header_key(line: str) -> tuple[str, ...] | None:
    """The key path of a ``[table]`` or ``[[array]]`` header line, None for other lines."""
    stripped = line.strip()
    if not stripped.startswith("["):
        return None
    array = stripped.startswith("[[")
    try:
        item: Any = tomllib.loads(stripped + ("" if array else "\n"))
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(item, dict | list) and item:
        if isinstance(item, list):
            item = item[0]
            continue
        (key,) = item
        path.append(key)
        item = item[key]
    return tuple(path)


def _cut_sections(text: str, prefix: tuple[str, ...]) -> str | None:
    """``text`` without the sections whose header key starts with ``prefix``; None if
    there are none."""
    lines = text.splitlines(keepends=True)
    headers = [(i, _header_key(line)) for i, line in enumerate(lines)]
    starts = [i for i, key in headers if key is not None]
    doomed = [i for i, key in headers if key is not None and key[: len(prefix)] == prefix]
    if not doomed:
        return None
    drop: set[int] = set()
    for start in doomed:
        end = next((s for s in starts if s > start), len(lines))
        while end > start + 1 and lines[end - 1].lstrip().startswith("#"):
            end -= 1  # the next section's own comment
        first = start
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1  # this section's comment
        drop.update(range(first, end))
    kept = [line for i, line in enumerate(lines) if i not in drop]
    while len(lines) - 1 in drop and kept and not kept[-1].strip():
        kept.pop()  # the file ended with the source: not with the blank lines before it
    return "".join(kept)
