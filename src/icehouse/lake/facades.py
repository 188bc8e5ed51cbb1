"""The ``Lake``'s groups of operations, as sqlite-utils groups them under ``db.table``:
``lake.tables``, ``lake.sources``, ``lake.quarantine`` and ``lake.maintenance``, each
with short method names. They hand out icehouse types only.

PyIceberg, PyArrow and DuckDB are imported by the methods that use them: opening a lake
for ``icehouse status`` or a quarantine listing needs only the state database.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from icehouse.config import SourceConfig, resolve_path, save_source
from icehouse.durations import parse_duration
from icehouse.errors import (
    Forbidden,
    IcehouseError,
    InvalidInput,
    LandingNotFound,
    NoSuchSource,
    SourceAlreadyExists,
    TableAlreadyExists,
)
from icehouse.ingest import quarantine as quarantine_mod
from icehouse.ingest import status as source_status_mod
from icehouse.lake.governed import governed
from icehouse.maintain.choices import DEFAULT_OLDER_THAN, Strategy
from icehouse.maintain.leases import LeaseInfo
from icehouse.maintain.reports import MaintenanceRun

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import pyarrow as pa
    from pyiceberg.table import Table

    from icehouse.ingest.landed import LandedNotice
    from icehouse.ingest.sample import SampleResult
    from icehouse.lake import Lake, lifecycle
    from icehouse.maintain.autopilot import AutopilotReport
    from icehouse.maintain.compact import CompactResult, GroupResult
    from icehouse.maintain.expire import ExpireResult
    from icehouse.maintain.metadata_cleanup import MetadataCleanupResult
    from icehouse.maintain.orphans import OrphanResult
    from icehouse.maintain.service import Maintenance
    from icehouse.maintain.spark_session import CatalogAccess
    from icehouse.tables import manage
    from icehouse.tables.manifest_rewrite import ManifestRewriteResult


class LakeTables:
    """``lake.tables``: create, describe, alter, list and roll back tables."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("table.create", on="name")
    def create(
        self,
        name: str,
        *,
        schema: str | dict[str, Any] | pa.Schema | None = None,
        like: Path | None = None,
        partition: Sequence[str] = (),
        sort: str | None = None,
        properties: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> manage.TableInfo:
        """Create a table from a schema, or ``like`` a sample file (its inferred schema:
        timestamps with a zone become ``timestamptz``, without one ``timestamp``, dates
        ``date``; CSV numbers ``long`` or ``double`` and ``true``/``false`` ``boolean``;
        a column any sampled value of which does not parse stays as read, text ``string``).

        Args: ``name``, ``namespace.table``; ``schema``, the columns (a ``{"column":
        "type"}`` map, Iceberg JSON, or a pyarrow schema); ``like``, a sample file instead;
        ``partition``, fields such as ``day(ts)``; ``sort``, e.g. ``"id, ts desc"``;
        ``properties``, table properties; ``dry_run``, describe the table without
        creating it.
        Returns: the new table, described (as ``get``; with ``dry_run``, no location).
        Raises: TableAlreadyExists (with ``dry_run`` too), InvalidSchema,
        InvalidPartitionSpec, InvalidSortOrder, InvalidInput (neither or both of
        ``schema`` and ``like``), MountNameTaken (its namespace would be named like a
        mounted catalog)."""
        import pyarrow as pa

        from icehouse.govern.objects import SecurableKind
        from icehouse.ingest.infer import infer_schema
        from icehouse.lake.authz_scope import record_owner
        from icehouse.lake.catalogs import refuse_mount_name
        from icehouse.tables import manage
        from icehouse.tables.catalog import find_table
        from icehouse.tables.grammar import parse_partition_field, parse_schema, parse_sort_order

        if (schema is None) == (like is None):
            raise InvalidInput("give exactly one of a schema or a sample file (like)")
        refuse_mount_name(self._lake, tuple(name.split(".")[:1]))
        if like is not None:
            parsed: Any = infer_schema(like)
        elif isinstance(schema, pa.Schema):
            parsed = schema
        else:
            assert schema is not None  # checked above: exactly one of schema and like
            parsed = parse_schema(schema)
        fields = [parse_partition_field(p) for p in partition]
        order = parse_sort_order(sort) if sort else []
        if dry_run:
            if find_table(self._lake._catalog, name) is not None:
                raise TableAlreadyExists(f"table {name!r} already exists", table=name)
            return manage.plan_table(
                name, parsed, partition=fields, sort=order, properties=properties or {}
            )
        table = manage.create_table(
            self._lake._catalog,
            name,
            parsed,
            partition=fields,
            sort=order,
            properties=properties or {},
        )
        record_owner(self._lake, SecurableKind.TABLE, str(table.metadata.table_uuid))
        return manage.describe_table(name, table)

    @governed("table.describe", on="name")
    def get(self, name: str) -> manage.TableInfo:
        """Describe a table.

        Args: ``name``, ``namespace.table``.
        Returns: its schema, partitioning, sort order, properties, snapshot and size.
        Raises: NoSuchTable."""
        from icehouse.tables import manage

        return manage.describe_table(name, self._load(name))

    @governed("table.list")
    def list(self) -> list[str]:
        """Every table icehouse's commands can name, as ``namespace.table``, sorted. A
        table that the REST catalog created with a dot in its name has no such name
        (``a.b.c`` would be read as table ``b.c``'s namespace ``a`` or as table ``c``
        in ``a.b``): it is served to engines, and left out here.

        Returns: the names."""
        from icehouse.govern.objects import SecurableKind
        from icehouse.lake.authz_scope import visible

        catalog = self._lake._catalog
        names = sorted(
            ".".join(identifier)
            for namespace in catalog.list_namespaces()
            for identifier in catalog.list_tables(namespace)
            if not any("." in part for part in identifier)
        )
        return visible(self._lake, SecurableKind.TABLE, names)

    @governed("table.alter", on="name")
    def alter(
        self,
        name: str,
        *,
        partition: builtins.list[str] | None = None,
        add_columns: builtins.list[tuple[str, str]] | None = None,
        widen: builtins.list[tuple[str, str]] | None = None,
        sort: str | None = None,
        properties: dict[str, str] | None = None,
    ) -> manage.TableInfo:
        """Evolve a table: its partitioning, columns (add, widen), sort order, properties.

        Args: ``name``; ``partition``, the new partition fields; ``add_columns``, (name,
        type) pairs; ``widen``, (column, wider type) pairs; ``sort``; ``properties`` to set.
        Returns: the altered table, described (as ``get``).
        Raises: NoSuchTable, InvalidSchema, InvalidPartitionSpec, InvalidSortOrder."""
        from icehouse.tables import manage
        from icehouse.tables.grammar import parse_partition_field, parse_sort_order

        table = manage.alter_table(
            self._load(name),
            partition=[parse_partition_field(p) for p in partition] if partition else None,
            add_columns=add_columns or [],
            widen=widen or [],
            sort=parse_sort_order(sort) if sort else None,
            properties=properties,
        )
        return manage.describe_table(name, table)

    @governed("table.history", on="name")
    def history(self, name: str) -> builtins.list[manage.SnapshotInfo]:
        """Returns: the table's snapshots, oldest first, marking the current one.

        Raises: NoSuchTable."""
        from icehouse.tables import manage

        return manage.snapshot_history(self._load(name))

    @governed("table.rollback", on="name")
    def rollback(self, name: str, snapshot_id: int) -> None:
        """Make an ancestor snapshot the table's current one again.

        Raises: NoSuchTable, InvalidInput (unknown or non-ancestor snapshot)."""
        from icehouse.tables import manage

        manage.rollback(self._load(name), snapshot_id)

    @governed("table.drop", on="name")
    def drop(self, name: str, *, purge: bool = False) -> lifecycle.TableDropped:
        """Remove a table from the catalog; with ``purge``, delete its files too.

        Without ``purge`` the data and metadata files stay at the table's location (the
        result says where), so that the table can still be registered again. Either way
        the state database forgets the table's content claims and maintenance history;
        the ingestion ledger of its sources stays.

        Args: ``name``, ``namespace.table``; ``purge``, delete every file under the
        table's location (not those under another table's location).
        Returns: where the table was, what the purge deleted, the state rows removed.
        Raises: NoSuchTable; TableInUse (sources in icehouse.toml write to it, named, or
        ingestion has batches open on it); MaintenanceBusy (a maintainer holds the
        table's lease, named); OutsideWarehouse (``purge`` of a table whose files lie
        outside this home's warehouse; nothing is dropped)."""
        from icehouse.lake import lifecycle

        return lifecycle.drop_table(self._lake, name, purge=purge)

    @governed("table.drop", on="name")
    def check_drop(self, name: str, *, purge: bool = False) -> None:
        """Raise what ``drop`` would refuse with, changing nothing: so that a person is
        asked to confirm only a drop that can happen.

        Args: ``name``, ``namespace.table``; ``purge``, as for ``drop``.
        Raises: NoSuchTable, TableInUse, MaintenanceBusy, OutsideWarehouse (as ``drop``)."""
        from icehouse.lake import lifecycle

        lifecycle.check_drop(self._lake, name, purge=purge)

    @governed("table.rename", on="old")
    def rename(self, old: str, new: str) -> lifecycle.TableRenamed:
        """Give a table a new name, in its namespace or another existing one. No file
        moves; the table's batches, content claims and maintenance history follow it.

        Args: ``old`` and ``new``, both ``namespace.table``.
        Returns: both names and the (unchanged) location.
        Raises: NoSuchTable, NoSuchNamespace (``new``'s), TableAlreadyExists (``new``),
        TableInUse (sources write to ``old``: point their ``table =`` at ``new`` first,
        or remove them), MaintenanceBusy."""
        from icehouse.lake import lifecycle

        return lifecycle.rename_table(self._lake, old, new)

    def _load(self, name: str) -> Table:
        from icehouse.tables.catalog import load_table

        return load_table(self._lake._catalog, name)


class LakeSources:
    """``lake.sources``: the landing folders ingestion reads, and their status."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("source.add")
    def add(self, source: SourceConfig) -> SourceConfig:
        """Add a source to ``icehouse.toml``.

        Args: ``source``, its settings.
        Returns: the source as saved.
        Raises: SourceAlreadyExists, NoSuchTable (the target must exist), InvalidMapping
        (a rule the table contradicts, or an unreadable ``${...}``)."""
        from icehouse.ingest.mapping import RowMapper
        from icehouse.tables.catalog import load_table

        lake = self._lake
        if source.name in lake.config.sources:
            raise SourceAlreadyExists(f"source {source.name!r} already exists", source=source.name)
        table = load_table(lake._catalog, source.table)
        RowMapper(source, table.schema())  # refuse a mapping that cannot work
        save_source(lake.home, source.model_dump(exclude_defaults=True) | _required(source))
        lake.reload_config()
        return lake.config.sources[source.name]

    @governed("source.describe", on="name")
    def get(self, name: str) -> SourceConfig:
        """Returns: the source's settings.

        Raises: NoSuchSource."""
        sources = self._lake.config.sources
        try:
            return sources[name]
        except KeyError:
            known = ", ".join(sources) or "none yet"
            raise NoSuchSource(f"no source {name!r} (sources: {known})", source=name) from None

    @governed("source.remove", on="name")
    def remove(self, name: str) -> lifecycle.SourceRemoved:
        """Delete a source's section from ``icehouse.toml``, leaving the rest of the file
        as it was. Its ingestion ledger and quarantine records stay: adding the source
        again takes only the files it has not committed, and ``quarantine list`` still
        shows what it refused.

        Args: ``name``, the source.
        Returns: the source, its table, the file edited and the ledger's file count.
        Raises: NoSuchSource; SourceInUse (a worker has a batch of its files open, named
        by its writer slot and process); InvalidConfig (the section could not be cut
        out cleanly; nothing was written)."""
        from icehouse.lake import lifecycle

        return lifecycle.remove_source(self._lake, name)

    @governed("source.list")
    def list(self) -> list[SourceConfig]:
        """Returns: every source's settings, in ``icehouse.toml``'s order."""
        return list(self._lake.config.sources.values())

    @governed("source.test", on="name")
    def test(self, name: str, sample: Path, *, limit: int = 20) -> SampleResult:
        """Map a sample file as ingestion would, writing nothing.

        Args: ``name``, the source; ``sample``, a file; ``limit``, rows to show.
        Returns: the rows mapped and the rows refused, with why.
        Raises: NoSuchSource, NoSuchTable, LandingNotFound (its landing folder does not
        exist)."""
        from icehouse.ingest.sample import try_sample
        from icehouse.tables.catalog import load_table

        source = self.get(name)
        self.check_landing(source)
        table = load_table(self._lake._catalog, source.table)
        return try_sample(source, table.schema(), sample, limit=limit)

    @governed("source.land", on="name")
    def landed(self, name: str, notification: bytes) -> LandedNotice:
        """Queue the objects an S3 event notification says landed in the source, so
        that workers find them without listing the location (push discovery).

        It needs INSERT on the source's table: what a notifier may cause is ingestion
        into that table, so the principal a bucket's notifications authenticate as is
        given that and nothing more.

        Args: ``name``, the source; ``notification``, the request body as sent: S3's
        event JSON, an SNS notification of it, or MinIO's webhook body.
        Returns: how many files were queued, already known, and ignored; or the URL an
        SNS subscription confirmation asks to be fetched.
        Raises: NoSuchSource; Forbidden (no INSERT on the table); InvalidNotification
        (not an S3 event, a source not on S3, an object outside its location)."""
        from icehouse.govern.authz import Resource, require
        from icehouse.govern.objects import Privilege
        from icehouse.ingest.landed import take_notification
        from icehouse.ingest.ledger.queue import FileQueue
        from icehouse.lake.authz_scope import LakeScope

        lake = self._lake
        source = lake.config.sources.get(name)
        if source is None and lake.principal.admin:
            raise NoSuchSource(f"no source {name!r}", source=name)
        if source is None:  # to anyone else, as a source it may not notify
            raise Forbidden(
                f"principal {lake.principal.name!r} may not source.land on source {name}: "
                "it is not found or not permitted",
                principal=lake.principal.name,
                action="source.land",
                resource=f"source {name}",
            )
        table = Resource("table", source.table)
        require(lake.principal, "source.land", table, Privilege.INSERT, LakeScope(lake))
        queue = FileQueue(lake._engine, clock=lake._clock)
        return take_notification(queue, source, lake.config.storage, notification)

    @governed("source.status")
    def status(self) -> builtins.list[source_status_mod.SourceStatus]:
        """Returns: each source's ingestion status (files waiting, last batch, lag).

        Raises: StateDatabaseUnavailable."""
        lake = self._lake
        return source_status_mod.source_status(lake._engine, lake.config, clock=lake._clock)

    @governed("source.status")
    def workers(self) -> builtins.list[source_status_mod.WorkerLease]:
        """Returns: each ingest writer slot not released, its holder (``host:pid``) and
        when its lease runs out (renewed while its worker runs), newest lease first.

        Raises: StateDatabaseUnavailable."""
        return source_status_mod.worker_leases(self._lake._engine)

    @governed("source.status")
    def missing_landings(
        self, names: builtins.list[str] | None = None
    ) -> builtins.list[SourceConfig]:
        """Returns: the sources (of ``names``, default all) whose landing folder does not
        exist.

        Raises: NoSuchSource."""
        chosen = [self.get(n) for n in names] if names else self.list()
        return [s for s in chosen if s.local_location and not s.local_location.is_dir()]

    @governed("source.status")
    def check_landing(self, source: SourceConfig) -> None:
        """Raises: LandingNotFound when the source's landing folder (a relative location is
        relative to the home) does not exist. Object stores are not checked: a prefix
        exists once something lands under it."""
        home = self._lake.home
        source = source.model_copy(update={"location": resolve_path(home, source.location)})
        folder = source.local_location
        if folder is not None and not folder.is_dir():
            raise LandingNotFound(
                f"source {source.name!r}: landing folder {folder} does not exist (relative "
                f"locations are relative to the lake home, {home}); create it, or fix "
                "the location",
                source=source.name,
                location=str(folder),
            )


class LakeQuarantine:
    """``lake.quarantine``: files and lines ingestion refused, and their replay."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("quarantine.list", on="source")
    def list(
        self,
        *,
        source: str | None = None,
        kind: str | None = None,
        include_replayed: bool = False,
        limit: int = 100,
    ) -> list[quarantine_mod.QuarantineRecord]:
        """Args: ``source`` and ``kind`` (``file`` or ``line``) narrow the list;
        ``include_replayed`` adds records already queued again; ``limit``.
        Returns: the quarantine records, newest first.
        Raises: StateDatabaseUnavailable."""
        return quarantine_mod.list_records(
            self._lake._engine,
            source=source,
            kind=kind,
            include_replayed=include_replayed,
            limit=limit,
        )

    @governed("quarantine.list")
    def summary(self) -> dict[str, dict[str, int]]:
        """Returns: per source, how many records of each kind wait in quarantine."""
        return quarantine_mod.summary(self._lake._engine)

    @governed("quarantine.show", on="record_id")
    def show(self, record_id: int) -> quarantine_mod.QuarantineRecord:
        """Returns: one record, with its reason and content.

        Raises: NoSuchQuarantineRecord."""
        return quarantine_mod.show_record(self._lake._engine, record_id)

    @governed("quarantine.replay", on="source")
    def replay(
        self, *, source: str | None = None, path: str | None = None
    ) -> quarantine_mod.ReplayQueued:
        """Queue quarantined files and lines again (fix the mapping first); the next
        ``ingest`` takes them.

        Args: ``source`` and ``path`` narrow what is queued.
        Returns: how many files and lines were queued.
        Raises: NoSuchSource."""
        lake = self._lake
        if source is not None:
            lake.sources.get(source)
        engine, clock = lake._engine, lake._clock
        return quarantine_mod.ReplayQueued(
            files=quarantine_mod.replay_files(engine, source=source, path=path, clock=clock),
            lines=quarantine_mod.replay_lines(engine, source=source, path=path, clock=clock),
        )


class LakeMaintenance:
    """``lake.maintenance``: compaction, expiry, orphan files, manifests, the autopilot,
    and the record of past runs."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def _service(
        self,
        *,
        spark_master: str | None = None,
        spark_remote: str | None = None,
        catalog_server: Callable[[Lake], AbstractContextManager[CatalogAccess]] | None = None,
    ) -> Maintenance:
        """The maintenance service; ``spark_master`` or ``spark_remote`` (the CLI's
        options) take the place of ``[maintain]``'s for this run, and
        ``catalog_server`` serves Spark this lake's catalog when ``[maintain]`` names
        none."""
        import os
        from functools import partial

        from icehouse.maintain.service import Maintenance
        from icehouse.maintain.spark_session import SparkSettings

        lake = self._lake
        configured = lake.config.maintain
        if spark_master or spark_remote:
            master, remote = spark_master, spark_remote
        else:
            master, remote = configured.spark_master, configured.spark_remote
        spark = SparkSettings(
            master=master,
            remote=remote,
            conf=dict(configured.spark_conf),
            catalog_uri=configured.spark_catalog_uri,
            credential=os.environ.get("ICEHOUSE_SPARK_CREDENTIAL") or configured.spark_credential,
            serve=partial(catalog_server, lake) if catalog_server else None,
        )
        return Maintenance(
            lake._engine,
            lake._catalog,
            warehouse=lake.config.warehouse,
            faults=lake._faults,
            clock=lake._clock,
            manifests=lake._manifests,
            spark=spark,
        )

    @governed("table.compact", on="table")
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
        engine: Literal["icehouse", "spark"] = "icehouse",
        spark_master: str | None = None,
        spark_remote: str | None = None,
        catalog_server: Callable[[Lake], AbstractContextManager[CatalogAccess]] | None = None,
        **options: Any,
    ) -> CompactResult:
        """Rewrite small files per partition.

        Args: ``strategy`` (binpack, sort, zorder) with ``sort`` or ``zorder`` columns;
        ``where``, a filter on the partitions to rewrite; ``dry_run``; ``on_group``, told
        of each group committed; ``engine``, ``spark`` to have Spark's
        ``rewrite_data_files`` rewrite what icehouse planned, on ``spark_master`` or
        ``spark_remote`` (default: ``[maintain]`` of icehouse.toml), reaching the lake
        through ``[maintain] spark-catalog-uri`` or, when it is unset, through the
        catalog ``catalog_server`` serves for the run
        (``icehouse.server.run_catalog.serve_for_run``, as the CLI passes); ``options``, the
        fields of CompactOptions (e.g. ``min_input_files=2``, ``rewrite_all=True``,
        ``partial_progress=True``).
        Returns: the groups rewritten and the files and bytes before and after.
        Raises: NoSuchTable, InvalidInput, FilterNotTranslatable, MaintenanceBusy,
        SparkUnavailable, SparkRewriteFailed."""
        from icehouse.maintain.compact_plan import CompactOptions

        chosen = CompactOptions(strategy=strategy, sort=sort, zorder=zorder, **options)
        service = self._service(
            spark_master=spark_master, spark_remote=spark_remote, catalog_server=catalog_server
        )
        return service.compact(
            table, chosen, where=where, dry_run=dry_run, on_group=on_group, engine=engine
        )

    @governed("table.expire", on="table")
    def expire(
        self,
        table: str,
        *,
        older_than: str | timedelta | None = None,
        retain_last: int | None = None,
        dry_run: bool = False,
    ) -> ExpireResult:
        """Expire old snapshots and delete the files only they referenced.

        Args: ``older_than`` (``"7d"`` or a timedelta) and ``retain_last`` (default: the
        table's policy); ``dry_run``.
        Returns: the snapshots expired and the files deleted.
        Raises: NoSuchTable, InvalidDuration, MaintenanceBusy."""
        age = parse_duration(older_than) if isinstance(older_than, str) else older_than
        return self._service().expire(
            table, older_than=age, retain_last=retain_last, dry_run=dry_run
        )

    @governed("table.clean_metadata", on="table")
    def clean_metadata(self, table: str, *, dry_run: bool = False) -> MetadataCleanupResult:
        """Delete metadata files no longer referenced (beyond the ones kept).

        Returns: the files deleted. Raises: NoSuchTable, MaintenanceBusy."""
        return self._service().clean_metadata(table, dry_run=dry_run)

    @governed("table.remove_orphans", on="table")
    def orphans(
        self,
        table: str,
        *,
        older_than: str | timedelta = DEFAULT_OLDER_THAN,
        dry_run: bool = False,
        force: bool = False,
    ) -> OrphanResult:
        """Delete files in the table's folder that no snapshot references.

        Args: ``older_than``, the safety age (files younger are kept); ``force`` allows
        an age below one hour; ``dry_run``.
        Returns: the orphan files found and deleted.
        Raises: NoSuchTable, UnsafeMaintenance (a safety age below one hour without
        ``force``), MaintenanceBusy."""
        age = parse_duration(older_than) if isinstance(older_than, str) else older_than
        return self._service().orphans(table, older_than=age, dry_run=dry_run, force=force)

    @governed("table.rewrite_manifests", on="table")
    def manifests(self, table: str, *, dry_run: bool = False) -> ManifestRewriteResult:
        """Rewrite the current snapshot's manifests into fewer, partition-clustered ones.

        Returns: the manifests before and after. Raises: NoSuchTable, MaintenanceBusy."""
        return self._service().manifests(table, dry_run=dry_run)

    @governed("lake.maintain")
    def run(
        self,
        tables: list[str] | None = None,
        *,
        dry_run: bool = False,
        follow: bool = False,
        interval: str | timedelta = "60s",
        stop: threading.Event | None = None,
        on_round: Callable[[AutopilotReport], None] | None = None,
        say: Callable[[str], None] | None = None,
        catalog_server: Callable[[Lake], AbstractContextManager[CatalogAccess]] | None = None,
    ) -> AutopilotReport:
        """The autopilot: plan each table's maintenance from its statistics and policy
        (``icehouse.maintenance.*`` properties) and do it; ``follow`` repeats every
        ``interval`` until ``stop`` is set and returns the last round's report, riding
        out outages of the state database and the object store (told to ``say``). Each
        round (but a dry run) then exports the audit trail into ``icehouse_system.audit``.
        A table whose ``icehouse.maintenance.engine`` is ``spark`` is compacted as
        ``compact(engine="spark")`` would, ``catalog_server`` included.

        Returns: the (last) round's report, per table what was done or skipped and why,
        and how many audit records were exported.
        Raises: NoSuchTable, InvalidDuration."""
        from icehouse.maintain.autopilot import Autopilot, AutopilotReport
        from icehouse.maintain.autopilot import follow as follow_rounds

        lake = self._lake
        autopilot = Autopilot(self._service(catalog_server=catalog_server), lake._catalog)
        names: Callable[[], list[str]] = (lambda: tables) if tables else lake.tables.list

        def round_() -> AutopilotReport:
            report = autopilot.run_once(names(), dry_run=dry_run)
            if not dry_run:
                self._export_audit(report)
            return report

        if not follow:
            return round_()
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
            round_,
            interval=seconds,
            stop=stop or threading.Event(),
            on_round=record,
            **({"say": say} if say else {}),
        )
        return last

    def _export_audit(self, report: AutopilotReport) -> None:
        """Export the audit trail after a round; a failure (another exporter busy with
        it) is the round's to report, not to end it: the records wait for the next."""
        from icehouse.maintain.audit_export import AUDIT_TABLE

        try:
            report.audit_exported = self._lake.audit.export().records
        except IcehouseError as exc:
            report.skipped[AUDIT_TABLE] = exc.message

    @governed("table.unlock", on="table")
    def unlock(self, table: str) -> LeaseInfo | None:
        """Break the table's maintenance lease whoever holds it (the holder's runs are
        recorded as interrupted). Only for a holder that is gone for good: a live one
        would go on unguarded.

        Returns: the lease broken, None if there was none.
        Raises: NoSuchTable."""
        from icehouse.tables.catalog import load_table

        load_table(self._lake._catalog, table)
        return self._service().unlock(table)

    @governed("table.maintenance_history", on="table")
    def history(
        self, table: str | None = None, *, limit: int = 50, dry_runs: bool = False
    ) -> list[MaintenanceRun]:
        """Returns: the maintenance runs (of ``table``, default all), newest first; dry
        runs (which changed nothing) only with ``dry_runs``."""
        return self._service().history(table, limit=limit, dry_runs=dry_runs)


def _required(source: SourceConfig) -> dict[str, Any]:
    """The settings a source always writes to icehouse.toml, even when they equal a default."""
    return {
        "name": source.name,
        "location": source.location,
        "table": source.table,
        "format": source.format,
    }
