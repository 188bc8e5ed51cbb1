"""The Lake: the one facade that wires config, state database and catalog.

CLI commands, the demo and tests all receive a ``Lake`` and call one method each, so
that authorisation and audit can later be added here, once, rather than in every
command: the facade hands out icehouse types only, so no caller can go around it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from sqlalchemy import Engine

from icehouse.config import (
    CONFIG_FILE,
    LakeConfig,
    SourceConfig,
    default_config_text,
    load_config,
    resolve_home,
    resolve_path,
    save_source,
)
from icehouse.durations import parse_duration
from icehouse.errors import InvalidInput, LandingNotFound, NoSuchSource, SourceAlreadyExists
from icehouse.ingest import quarantine as quarantine_mod
from icehouse.ingest import status as source_status_mod
from icehouse.ingest.faults import Faults, no_faults
from icehouse.ingest.ingester import Ingester
from icehouse.ingest.mapping import RowMapper
from icehouse.ingest.report import IngestProgress, IngestReport
from icehouse.ingest.sample import SampleResult, infer_schema, try_sample
from icehouse.maintain.autopilot import Autopilot, AutopilotReport
from icehouse.maintain.autopilot import follow as follow_rounds
from icehouse.maintain.compact import CompactResult, GroupResult
from icehouse.maintain.compact_plan import CompactOptions, Strategy
from icehouse.maintain.expire import ExpireResult
from icehouse.maintain.leases import LeaseInfo
from icehouse.maintain.metadata_cleanup import MetadataCleanupResult
from icehouse.maintain.orphans import DEFAULT_OLDER_THAN, OrphanResult
from icehouse.maintain.reports import MaintenanceRun
from icehouse.maintain.service import Maintenance
from icehouse.query.sql import QueryResult, QuerySession, run_sql
from icehouse.resilience import keep_running, outages_as_errors
from icehouse.state import home as home_mod
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.database import migrate, open_engine
from icehouse.tables import manage
from icehouse.tables.catalog import load_table, open_catalog, warehouse_uri
from icehouse.tables.deletes import delete_rows
from icehouse.tables.filters import where_expression
from icehouse.tables.grammar import parse_partition_field, parse_schema, parse_sort_order
from icehouse.tables.manifest_rewrite import ManifestRewriteResult


@dataclass(frozen=True)
class InitResult:
    home: Path
    created: bool


class Lake:
    """A lake home opened for work."""

    def __init__(
        self, *, config: LakeConfig, faults: Faults = no_faults, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self._faults = faults
        self._clock = clock
        self._engine: Engine | None = None
        self._catalog: SqlCatalog | None = None
        self._queries = QuerySession()  # this lake's own: no two lakes share caches

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def init(cls, home: str | Path | None = None) -> InitResult:
        """Create a lake home; an existing one is left exactly as it is.

        Args: ``home``, the folder (default: ``ICEHOUSE_HOME``, else ``./lake``).
        Returns: the home's absolute path and whether it was created now.
        Raises: InvalidConfig, StateError, StateDatabaseUnavailable."""
        home = resolve_home(home)
        if (home / CONFIG_FILE).exists():
            return InitResult(home, created=False)
        home.mkdir(parents=True, exist_ok=True)
        (home / CONFIG_FILE).write_text(default_config_text())
        lake = cls.open(home)
        lake.catalog  # noqa: B018 - opening it creates PyIceberg's catalog tables
        lake.close()
        return InitResult(home, created=True)

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        faults: Faults = no_faults,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Lake:
        """Open a lake home for work (close it, or use it as a context manager).

        Args: ``home``, the folder holding ``icehouse.toml`` (default: ``ICEHOUSE_HOME``,
        else ``./lake``, as the CLI finds it); ``faults``, injected failures (tests);
        ``clock``, the time every lease and record is stamped with (tests move it).
        Returns: the open ``Lake``.
        Raises: HomeNotFound, InvalidConfig, StateError, StateDatabaseUnavailable,
        CopiedHome (the state database belongs to another home: see ``adopt``)."""
        lake = cls(config=load_config(resolve_home(home)), faults=faults, clock=clock)
        try:
            with lake.outages_as_errors():
                migrate(lake.engine)
                home_mod.check_home(lake.engine, home=lake.home, warehouse=lake.warehouse)
        except BaseException:
            lake.close()
            raise
        return lake

    def outages_as_errors(self) -> AbstractContextManager[None]:
        """Within it, an outage of the state database or the object store raises
        StateDatabaseUnavailable or StorageUnavailable, naming this lake's database URL
        (password masked) or S3 endpoint; one-shot commands run inside it."""
        storage = self.config.storage.get("s3.endpoint") or self.config.warehouse
        return outages_as_errors(state_url=self.config.state_url, storage=storage)

    @classmethod
    def adopt(cls, home: str | Path | None = None) -> home_mod.HomeIdentity | None:
        """Make the state database this home's own (after changing its warehouse on
        purpose, or to use a copied or moved home); returns the home it belonged to.
        Maintenance still deletes nothing outside this home's warehouse.

        Args: ``home`` as for ``open``.
        Returns: the identity the database held before, None if it held none.
        Raises: HomeNotFound, InvalidConfig, StateError, StateDatabaseUnavailable."""
        lake = cls(config=load_config(resolve_home(home)))
        try:
            migrate(lake.engine)
            return home_mod.adopt_home(lake.engine, home=lake.home, warehouse=lake.warehouse)
        finally:
            lake.close()

    @property
    def warehouse(self) -> str:
        """This home's warehouse as a URI (``file:///...`` or ``s3://...``)."""
        return warehouse_uri(self.config.warehouse)

    @property
    def home(self) -> Path:
        return self.config.home

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_engine(self.config.state_url)
        return self._engine

    @property
    def catalog(self) -> SqlCatalog:
        if self._catalog is None:
            self._catalog = open_catalog(
                self.config.state_url, self.config.warehouse, self.config.storage
            )
        return self._catalog

    def reload_config(self) -> None:
        self.config = load_config(self.config.home)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._catalog is not None:
            self._catalog.engine.dispose()
            self._catalog = None
        self._queries.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tables ---------------------------------------------------------------------------

    def create_table(
        self,
        name: str,
        *,
        schema: str | dict[str, Any] | pa.Schema | None = None,
        like: Path | None = None,
        partition: list[str] = (),  # type: ignore[assignment]
        sort: str | None = None,
        properties: dict[str, str] | None = None,
    ) -> Table:
        """Create a table from a schema, or ``like`` a sample file (its inferred schema).

        Raises: TableAlreadyExists, InvalidSchema, InvalidPartitionSpec, InvalidSortOrder,
        InvalidInput (neither or both of ``schema`` and ``like``).
        """
        if (schema is None) == (like is None):
            raise InvalidInput("give exactly one of a schema or a sample file (like)")
        if like is not None:
            parsed: Any = infer_schema(like)
        else:
            parsed = schema if isinstance(schema, pa.Schema) else parse_schema(schema)
        return manage.create_table(
            self.catalog,
            name,
            parsed,
            partition=[parse_partition_field(p) for p in partition],
            sort=parse_sort_order(sort) if sort else [],
            properties=properties or {},
        )

    def table(self, name: str) -> Table:
        """Raises: NoSuchTable."""
        return load_table(self.catalog, name)

    def list_tables(self) -> list[str]:
        return sorted(
            ".".join(identifier)
            for namespace in self.catalog.list_namespaces()
            for identifier in self.catalog.list_tables(namespace)
        )

    def describe_table(self, name: str) -> manage.TableInfo:
        return manage.describe_table(name, self.table(name))

    def alter_table(
        self,
        name: str,
        *,
        partition: list[str] | None = None,
        add_columns: list[tuple[str, str]] | None = None,
        widen: list[tuple[str, str]] | None = None,
        sort: str | None = None,
        properties: dict[str, str] | None = None,
    ) -> Table:
        return manage.alter_table(
            self.table(name),
            partition=[parse_partition_field(p) for p in partition] if partition else None,
            add_columns=add_columns or [],
            widen=widen or [],
            sort=parse_sort_order(sort) if sort else None,
            properties=properties,
        )

    def table_history(self, name: str) -> list[manage.SnapshotInfo]:
        """Raises: NoSuchTable."""
        return manage.snapshot_history(self.table(name))

    def rollback_table(self, name: str, snapshot_id: int) -> None:
        """Raises: NoSuchTable, InvalidInput (unknown or non-ancestor snapshot)."""
        manage.rollback(self.table(name), snapshot_id)

    # -- sources and ingestion ----------------------------------------------------------

    def add_source(self, source: SourceConfig) -> SourceConfig:
        """Raises: SourceAlreadyExists, NoSuchTable (the target must exist), InvalidMapping
        (a rule the table contradicts, or an unreadable ``${...}``)."""
        if source.name in self.config.sources:
            raise SourceAlreadyExists(f"source {source.name!r} already exists", source=source.name)
        RowMapper(source, self.table(source.table).schema())  # refuse a mapping that cannot work
        save_source(self.home, source.model_dump(exclude_defaults=True) | _required(source))
        self.reload_config()
        return self.config.sources[source.name]

    def ingest(
        self,
        sources: list[str] | None = None,
        *,
        follow: bool = False,
        progress: IngestProgress | None = None,
        stop: threading.Event | None = None,
        say: Callable[[str], None] | None = None,
    ) -> IngestReport:
        """Ingest what has landed (``follow`` keeps watching until ``stop`` is set).

        With ``follow``, an outage of the state database or the object store pauses
        ingestion instead of ending it: the open batch is left to recovery, ``say`` is
        told once when the outage begins and once when it is over, and ingestion goes
        on (``resilience.keep_running``). The report then counts the files of an
        abandoned batch again when they are ingested after the outage."""
        stop = stop or threading.Event()
        ingester = Ingester(
            config=self.config,
            engine=self.engine,
            catalog=self.catalog,
            faults=self._faults,
            progress=progress,
            stop=stop,
            clock=self._clock,
        )
        if not follow:
            return ingester.run(sources)
        report = IngestReport()
        keep_running(
            lambda working: ingester.run(sources, follow=True, report=report, working=working),
            stop=stop,
            **({"say": say} if say else {}),
        )
        return report

    # -- query --------------------------------------------------------------------------

    def sql(self, text: str, *, prune: bool = True) -> pa.Table:
        """Run one SQL statement (DuckDB's dialect; tables named ``namespace.table``; a
        ``DELETE FROM t WHERE ...`` deletes rows and answers ``deleted_rows``).

        Args: ``text``, the statement; ``prune`` (tests): plan with the WHERE pushed down
        (False reads every file, which must give the same rows).
        Returns: the rows as a pyarrow Table.
        Raises: QueryError (DuckDB's message, or an unsupported statement),
        EqualityDeletesUnsupported, NoSuchTable (a DELETE's table)."""
        return run_sql(self.catalog, text, prune=prune, session=self._queries).table

    def explain(self, text: str, *, prune: bool = True) -> QueryResult:
        """Run a query and say what each table had to read.

        Args: ``text``, the query; ``prune`` as for ``sql``.
        Returns: the rows (``.table``) and one plan per table read (``.plans``): files in
        the snapshot, after partition and metrics pruning, bytes planned, planning time,
        row groups read and skipped and bytes read (from the Parquet footers).
        Raises: QueryError, EqualityDeletesUnsupported."""
        return run_sql(self.catalog, text, prune=prune, explain=True, session=self._queries)

    def delete(self, table: str, where: str) -> int:
        """Delete the rows matching ``where`` (e.g. one tenant's data) in one snapshot,
        keeping the ingestion bookkeeping.

        Args: ``table``, ``namespace.table``; ``where``, the filter as SQL (``column <op>
        constant``, ``IN``, ``IS [NOT] NULL``, joined by ``AND``, ``OR``, ``NOT``), read by
        the filter translator, never pasted into SQL.
        Returns: how many rows were deleted.
        Raises: NoSuchTable, FilterNotTranslatable (a term with no exact Iceberg filter,
        named in ``term``), CommitRaced (another commit moved the table first)."""
        iceberg = load_table(self.catalog, table)
        return delete_rows(iceberg, where_expression(where, table, iceberg.schema()))

    # -- maintenance --------------------------------------------------------------------

    @property
    def maintenance(self) -> Maintenance:
        return Maintenance(
            self.engine,
            self.catalog,
            warehouse=self.config.warehouse,
            faults=self._faults,
            clock=self._clock,
        )

    def compact(
        self,
        table: str,
        strategy: Strategy = "binpack",
        *,
        sort: str | None = None,
        zorder: str | None = None,
        where: str | None = None,
        dry_run: bool = False,
        on_group: Callable[[GroupResult], None] | None = None,
        **options: Any,
    ) -> CompactResult:
        """Rewrite small files per partition (``options``: the fields of CompactOptions,
        e.g. ``min_input_files=2``, ``rewrite_all=True``, ``partial_progress=True``).

        Raises: NoSuchTable, InvalidInput, MaintenanceBusy."""
        chosen = CompactOptions(strategy=strategy, sort=sort, zorder=zorder, **options)
        return self.maintenance.compact(
            table, chosen, where=where, dry_run=dry_run, on_group=on_group
        )

    def expire_snapshots(
        self,
        table: str,
        *,
        older_than: str | timedelta | None = None,
        retain_last: int | None = None,
        dry_run: bool = False,
    ) -> ExpireResult:
        age = parse_duration(older_than) if isinstance(older_than, str) else older_than
        return self.maintenance.expire(
            table, older_than=age, retain_last=retain_last, dry_run=dry_run
        )

    def clean_metadata(self, table: str, *, dry_run: bool = False) -> MetadataCleanupResult:
        return self.maintenance.clean_metadata(table, dry_run=dry_run)

    def remove_orphans(
        self,
        table: str,
        *,
        older_than: str | timedelta = DEFAULT_OLDER_THAN,
        dry_run: bool = False,
        force: bool = False,
    ) -> OrphanResult:
        """Raises: UnsafeMaintenance (a safety age below one hour without ``force``)."""
        age = parse_duration(older_than) if isinstance(older_than, str) else older_than
        return self.maintenance.orphans(table, older_than=age, dry_run=dry_run, force=force)

    def rewrite_manifests(self, table: str, *, dry_run: bool = False) -> ManifestRewriteResult:
        return self.maintenance.manifests(table, dry_run=dry_run)

    def maintain(
        self,
        tables: list[str] | None = None,
        *,
        dry_run: bool = False,
        follow: bool = False,
        interval: str | timedelta = "60s",
        stop: threading.Event | None = None,
        on_round: Callable[[AutopilotReport], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> AutopilotReport:
        """The autopilot: plan each table's maintenance from its statistics and policy
        (``icehouse.maintenance.*`` properties) and do it; ``follow`` repeats every
        ``interval`` until ``stop`` is set and returns the last round's report, riding
        out outages of the state database and the object store (told to ``say``)."""
        autopilot = Autopilot(self.maintenance, self.catalog)
        names = (lambda: tables) if tables else self.list_tables
        if not follow:
            return autopilot.run_once(names(), dry_run=dry_run)
        last = AutopilotReport()

        def record(report: AutopilotReport) -> None:
            nonlocal last
            last = report
            if on_round is not None:
                on_round(report)

        seconds = (
            parse_duration(interval) if isinstance(interval, str) else interval
        ).total_seconds()
        follow_rounds(
            autopilot,
            names,
            interval=seconds,
            stop=stop or threading.Event(),
            on_round=record,
            **({"say": say} if say else {}),
        )
        return last

    def unlock(self, table: str) -> LeaseInfo | None:
        """Break the table's maintenance lease whoever holds it (the holder's runs are
        recorded as interrupted); returns the lease broken, None if there was none.
        Only for a holder that is gone for good: a live one would go on unguarded.

        Raises: NoSuchTable."""
        self.table(table)
        return self.maintenance.unlock(table)

    def maintenance_history(
        self, table: str | None = None, *, limit: int = 50
    ) -> list[MaintenanceRun]:
        return self.maintenance.history(table, limit=limit)

    # -- status and quarantine -------------------------------------------------------------

    def status(self) -> list[source_status_mod.SourceStatus]:
        return source_status_mod.source_status(self.engine, self.config, clock=self._clock)

    def quarantine_list(
        self,
        *,
        source: str | None = None,
        kind: str | None = None,
        include_replayed: bool = False,
        limit: int = 100,
    ) -> list[quarantine_mod.QuarantineRecord]:
        return quarantine_mod.list_records(
            self.engine, source=source, kind=kind, include_replayed=include_replayed, limit=limit
        )

    def quarantine_summary(self) -> dict[str, dict[str, int]]:
        return quarantine_mod.summary(self.engine)

    def quarantine_show(self, record_id: int) -> quarantine_mod.QuarantineRecord:
        """Raises: NoSuchQuarantineRecord."""
        return quarantine_mod.show_record(self.engine, record_id)

    def quarantine_replay(
        self, *, source: str | None = None, path: str | None = None
    ) -> quarantine_mod.ReplayQueued:
        """Queue quarantined files and lines again (fix the mapping first); the next
        ``ingest`` takes them."""
        if source is not None:
            self.source(source)
        return quarantine_mod.ReplayQueued(
            files=quarantine_mod.replay_files(
                self.engine, source=source, path=path, clock=self._clock
            ),
            lines=quarantine_mod.replay_lines(
                self.engine, source=source, path=path, clock=self._clock
            ),
        )

    def source(self, name: str) -> SourceConfig:
        """Raises: NoSuchSource."""
        try:
            return self.config.sources[name]
        except KeyError:
            known = ", ".join(self.config.sources) or "none yet"
            raise NoSuchSource(f"no source {name!r} (sources: {known})", source=name) from None

    def test_source(self, name: str, sample: Path, *, limit: int = 20) -> SampleResult:
        """Raises: NoSuchSource, LandingNotFound (its landing folder does not exist)."""
        source = self.source(name)
        self.check_landing(source)
        return try_sample(source, self.table(source.table).schema(), sample, limit=limit)

    def missing_landings(self, names: list[str] | None = None) -> list[SourceConfig]:
        """The sources (of ``names``, default all) whose landing folder does not exist."""
        chosen = [self.source(n) for n in names] if names else list(self.config.sources.values())
        return [s for s in chosen if s.local_location and not s.local_location.is_dir()]

    def check_landing(self, source: SourceConfig) -> None:
        """Raises: LandingNotFound when the source's landing folder (a relative location is
        relative to the home) does not exist. Object stores are not checked: a prefix
        exists once something lands under it."""
        source = source.model_copy(update={"location": resolve_path(self.home, source.location)})
        folder = source.local_location
        if folder is not None and not folder.is_dir():
            raise LandingNotFound(
                f"source {source.name!r}: landing folder {folder} does not exist (relative "
                f"locations are relative to the lake home, {self.home}); create it, or fix "
                "the location",
                source=source.name,
                location=str(folder),
            )


def _required(source: SourceConfig) -> dict[str, Any]:
    """The settings a source always writes to icehouse.toml, even when they equal a default."""
    return {
        "name": source.name,
        "location": source.location,
        "table": source.table,
        "format": source.format,
    }
