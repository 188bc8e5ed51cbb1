"""``icehouse maintain ...``: compaction, expiry, metadata cleanup, orphan removal,
manifest rewrite, the autopilot, and the history of what each run did."""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console

from icehouse.cli.common import (
    DocumentFormatOption,
    FormatOption,
    HomeOption,
    TableArgument,
    install_stop_handlers,
    open_lake,
    say_to,
)
from icehouse.cli.complete import table_names
from icehouse.cli.grid import Column, Kind, print_grid
from icehouse.cli.output import DocumentFormat, Format, Output, iso, size_text
from icehouse.maintain.choices import Strategy

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from icehouse.lake import Lake
    from icehouse.maintain.autopilot import AutopilotReport
    from icehouse.maintain.compact import CompactResult, GroupResult
    from icehouse.maintain.reports import MaintenanceRun
    from icehouse.server.run_catalog import RunCatalog

app = typer.Typer(
    help="Keep tables fast and small: compact, expire, clean metadata, remove orphans, "
    "rewrite manifests, or let `maintain run` decide from table statistics.",
    no_args_is_help=True,
)

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]


@app.command("compact")
def compact(
    table: TableArgument,
    strategy: Annotated[
        Strategy, typer.Option(help="binpack (merge small files), sort, or zorder.")
    ] = "binpack",
    sort: Annotated[
        str | None,
        typer.Option(help="Sort order for --strategy sort (default: the table's sort order)."),
    ] = None,
    zorder: Annotated[
        str | None,
        typer.Option(help="Columns for --strategy zorder, e.g. 'customer_id, requested_at'."),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            help="Only files that may hold rows matching this, e.g. \"requested_at >= '2024-06-01'\"."
        ),
    ] = None,
    target_file_size: Annotated[
        int | None,
        typer.Option(help="Output file size in bytes (default: write.target-file-size-bytes)."),
    ] = None,
    min_input_files: Annotated[
        int, typer.Option(help="Rewrite a partition once it has this many candidate files.")
    ] = 5,
    min_file_ratio: Annotated[
        float, typer.Option(help="A file below this fraction of the target is a candidate.")
    ] = 0.75,
    max_file_ratio: Annotated[
        float, typer.Option(help="A file above this multiple of the target is split.")
    ] = 1.8,
    rewrite_all: Annotated[bool, typer.Option("--rewrite-all", help="Rewrite every file.")] = False,
    respec: Annotated[
        bool,
        typer.Option("--respec", help="Move files of older partition specs into the current spec."),
    ] = False,
    max_concurrent_groups: Annotated[int, typer.Option(help="Partitions rewritten at once.")] = 2,
    partial_progress: Annotated[
        bool,
        typer.Option("--partial-progress", help="Commit each partition as it finishes."),
    ] = False,
    engine: Annotated[
        Literal["icehouse", "spark"],
        typer.Option(
            help="icehouse (rewrite here), or spark: Spark's rewrite_data_files rewrites "
            "the partitions icehouse planned, through the lake's REST catalog "
            "([maintain] spark-catalog-uri, else served on 127.0.0.1 for the run)."
        ),
    ] = "icehouse",
    spark_master: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Spark master for --engine spark (default: [maintain] spark-master).",
        ),
    ] = None,
    spark_remote: Annotated[
        str | None,
        typer.Option(
            metavar="sc://HOST:PORT",
            help="Spark Connect server for --engine spark (default: [maintain] spark-remote).",
        ),
    ] = None,
    dry_run: DryRunOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Rewrite small files per partition (binpack, sort or zorder), proved before commit.

    Each partition's rewrite checks that its output has the same row count and the same
    per-column checksums as its input before it commits an Iceberg `replace` snapshot.
    Ingestion may keep appending meanwhile; a partition whose input files were deleted or
    rewritten by someone else is skipped and its output deleted. With --engine spark,
    icehouse plans and holds the table's lease, and Spark rewrites and commits."""
    output = Output(format)
    with open_lake(home, output) as lake, _GroupProgress(output) as progress:
        result = lake.maintenance.compact(
            table,
            strategy,
            sort=sort,
            zorder=zorder,
            where=where,
            dry_run=dry_run,
            on_group=progress.finished,
            target_file_bytes=target_file_size,
            min_input_files=min_input_files,
            min_file_ratio=min_file_ratio,
            max_file_ratio=max_file_ratio,
            rewrite_all=rewrite_all,
            respec=respec,
            max_concurrent_groups=max_concurrent_groups,
            partial_progress=partial_progress,
            engine=engine,
            spark_master=spark_master,
            spark_remote=spark_remote,
            catalog_server=serve_catalog,
        )
    from icehouse.maintain.compact import GroupResult  # loaded by the compaction already

    summary = result.to_dict()
    output.emit(
        summary,
        lambda c: render_compaction(
            c, result, min_input_files=min_input_files, rewrite_all=rewrite_all
        ),
        rows=summary["groups"],
        columns=[f.name for f in fields(GroupResult)],
    )
    if any(g.status == "failed" for g in result.groups):
        raise typer.Exit(1)


def serve_catalog(lake: Lake) -> AbstractContextManager[RunCatalog]:
    """The lake's REST catalog served for one Spark rewrite (the web stack is loaded only
    when a rewrite runs on Spark)."""
    from icehouse.server.run_catalog import serve_for_run

    return serve_for_run(lake)


class _GroupProgress:
    def __init__(self, output: Output) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=output.err,
            transient=True,
            disable=output.is_json,
        )
        self._task = self._progress.add_task("rewriting partitions", total=None)
        self._done = 0

    def __enter__(self) -> _GroupProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def finished(self, group: GroupResult) -> None:
        self._done += 1
        self._progress.update(
            self._task, description=f"rewrote {self._done} partition(s); last {group.partition}"
        )


_GROUP_GRID = (
    Column("partition", Kind.WHOLE),
    Column("files", Kind.NUMBER),
    Column("bytes", Kind.NUMBER, optional=1),
    Column("rows", Kind.NUMBER),
    Column("status"),
    Column("seconds", Kind.NUMBER, optional=2),
)


def render_compaction(
    console: Console, result: CompactResult, *, min_input_files: int = 5, rewrite_all: bool = False
) -> None:
    if not result.groups:
        why = (
            "the table has no data files"
            if rewrite_all
            else f"no partition has {min_input_files} or more files to rewrite (files far "
            "from the target size, or unsorted for the sort strategy); --min-input-files "
            "lowers that bar and --rewrite-all rewrites everything"
        )
        console.print(f"{result.table}: nothing to compact: {why}.")
        return
    rows = []
    for g in result.groups:
        after = f" → {g.files_after}" if g.status == "committed" else ""
        size = f"{size_text(g.bytes_before)}" + (f" → {size_text(g.bytes_after)}" if after else "")
        status = g.status + (f": {g.reason}" if g.reason else "")
        rows.append(
            [
                g.partition,
                f"{g.files_before}{after}",
                size,
                f"{g.rows:,}",
                status,
                f"{g.seconds:.2f}",
            ]
        )
    print_grid(console, _GROUP_GRID, rows)
    summary = result.to_dict()
    verb = "would rewrite" if result.dry_run else "rewrote"
    count = len(result.groups) if result.dry_run else len(result.committed)
    console.print(
        f"{result.table}: {verb} {count} partition group(s) with {result.strategy}"
        + (" on Spark" if result.engine == "spark" else "")
        + (
            ""
            if result.dry_run
            else f": {summary['files_before']} → {summary['files_after']} files, "
            f"{size_text(summary['bytes_before'])} → {size_text(summary['bytes_after'])} "
            f"in {result.seconds:.1f} s"
            + (
                " (rows before and after from Spark's commit)"
                if result.engine == "spark"
                else " (every group proved before commit)"
            )
        )
    )


@app.command("expire")
def expire(
    table: TableArgument,
    older_than: Annotated[
        str | None,
        typer.Option(
            help="Expire snapshots older than this (default: history.expire.max-snapshot-age-ms, 5d)."
        ),
    ] = None,
    retain_last: Annotated[
        int | None,
        typer.Option(
            help="Always keep this many newest snapshots (default: history.expire.min-snapshots-to-keep, 1)."
        ),
    ] = None,
    dry_run: DryRunOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Expire old snapshots and delete the files only they reached.

    Data, manifest and manifest-list files that a retained snapshot, branch or tag still
    reaches are kept."""
    output = Output(format)
    with open_lake(home, output) as lake:
        result = lake.maintenance.expire(
            table, older_than=older_than, retain_last=retain_last, dry_run=dry_run
        )
    _emit(output, table, "expire", result.to_dict(), dry_run)


@app.command("clean-metadata")
def clean_metadata(
    table: TableArgument,
    dry_run: DryRunOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Delete old metadata.json files beyond write.metadata.previous-versions-max.

    icehouse's own commits already do this; use it for tables other engines wrote."""
    output = Output(format)
    with open_lake(home, output) as lake:
        result = lake.maintenance.clean_metadata(table, dry_run=dry_run)
    _emit(output, table, "clean-metadata", result.to_dict(), dry_run)


@app.command("orphans")
def orphans(
    table: TableArgument,
    older_than: Annotated[
        str, typer.Option(help="Safety age: only files older than this are deleted.")
    ] = "3d",
    force: Annotated[
        bool, typer.Option("--force", help="Allow a safety age below 1 hour.")
    ] = False,
    dry_run: DryRunOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Delete unreferenced files under the table's location, older than a safety age.

    Files that any snapshot or metadata file references are never deleted.
    A writer may have written a data file it has not committed yet; deleting it would
    leave its commit pointing at a missing file. That is why young files are kept (3
    days by default) and an age below 1 hour needs --force."""
    output = Output(format)
    with open_lake(home, output) as lake:
        result = lake.maintenance.orphans(
            table, older_than=older_than, dry_run=dry_run, force=force
        )
    _emit(output, table, "orphans", result.to_dict(), dry_run)


@app.command("manifests")
def manifests(
    table: TableArgument,
    dry_run: DryRunOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Regroup data-file entries into manifests clustered by partition.

    Manifests are written at commit.manifest.target-size-bytes, so that planning can skip
    whole manifests by their partition ranges."""
    output = Output(format)
    with open_lake(home, output) as lake:
        result = lake.maintenance.manifests(table, dry_run=dry_run)
    _emit(output, table, "manifests", result.to_dict(), dry_run)


@app.command("run")
def run(
    tables: Annotated[
        list[str] | None,
        typer.Argument(
            help="Tables to look after (default: every table).", autocompletion=table_names
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep going: a round every --interval until stopped.")
    ] = False,
    interval: Annotated[str, typer.Option(help="Time between rounds with --follow.")] = "60s",
    dry_run: DryRunOption = False,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """The autopilot: decide from table statistics what each table needs, and do it.

    Compacts partitions with too many fragments once they are quiet, rewrites manifests
    past a count, expires snapshots past retention, sweeps orphans once per interval, as
    each table's icehouse.maintenance.* properties say (see `icehouse table alter
    --property`). Several `maintain run` processes share the work through leases in the
    state database. With --follow, an outage of the state database or the object store
    pauses the autopilot (one line on stderr) and the round starts over when it is
    back. SIGTERM or Ctrl-C stops after the current table."""
    output = Output(format)
    stop = threading.Event()
    install_stop_handlers(stop, output, doing="the current table")

    def show(report: AutopilotReport) -> None:
        if follow:
            output.emit(report.to_dict(), lambda c: render_round(c, report, dry_run))

    with open_lake(home, output, waiting_until=stop if follow else None) as lake:
        report = lake.maintenance.run(
            tables or None,
            dry_run=dry_run,
            follow=follow,
            interval=interval,
            stop=stop,
            on_round=show,
            say=say_to(output),
            catalog_server=serve_catalog,
        )
    if not follow:
        output.emit(report.to_dict(), lambda c: render_round(c, report, dry_run))


_ACTIONS = {
    "compact": "compact",
    "manifests": "rewrite manifests",
    "expire": "expire snapshots",
    "orphans": "remove orphans",
}


def render_round(console: Console, report: AutopilotReport, dry_run: bool) -> None:
    if not report.planned and not report.skipped:
        console.print("Every table is in shape: nothing to do.")
    for action in report.planned:
        if action.action == "wait":
            console.print(f"{action.table}: waiting ({action.reason})")
            continue
        verb = "would" if dry_run else "did"
        console.print(f"{action.table}: {verb} {_ACTIONS[action.action]} ({action.reason})")
    for done in report.done:
        console.print(f"  {done['table']} {done['action']}: {_describe(done) or 'nothing to do'}")
    for table, reason in report.skipped.items():
        console.print(f"{table}: skipped ({reason})")
    if report.audit_exported:
        console.print(f"Audit: {report.audit_exported} record(s) exported to icehouse_system.audit")


@app.command("unlock")
def unlock(
    table: TableArgument,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Break the table's maintenance lease, whoever holds it.

    A lease is renewed while its holder works and runs out within a minute once it
    stops, and one held by a dead process on this host is free at once; use this only
    when the holder is gone for good and you cannot wait. If the holder is in fact still
    running, a second maintainer could then rewrite or delete alongside it. The holder's
    unfinished runs are recorded as interrupted."""
    output = Output(format)
    with open_lake(home, output) as lake:
        broken = lake.maintenance.unlock(table)
    data = {
        "table": table,
        "broken": broken is not None,
        "holder": broken.owner if broken else None,
        "lease_until": broken.until if broken else None,
    }

    def render(console: Console) -> None:
        if broken is None:
            console.print(f"{table}: no maintenance lease was held; nothing to do.")
        else:
            console.print(f"{table}: broke the maintenance lease held by {broken.describe()}.")

    output.emit(data, render)


@app.command("history")
def history(
    table: Annotated[
        str | None, typer.Argument(help="namespace.table (default: all tables)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest runs to show.")] = 50,
    dry_runs: Annotated[
        bool, typer.Option("--dry-runs", help="Show dry runs too (they changed nothing).")
    ] = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """What each maintenance run did (dry runs only with --dry-runs).

    Files and bytes before/after, snapshots expired, orphans freed, manifests
    before/after, duration; --format json gives each run's full report. A run is
    recorded before it changes anything: `running` while it works, then ok, partial
    (some groups did not commit) or failed (with the error, a refused lease included);
    `interrupted` when its process died, with what it had committed by then."""
    output = Output(format)
    with open_lake(home, output) as lake:
        runs = lake.maintenance.history(table, limit=limit, dry_runs=dry_runs)
    data = [r.to_dict() | {"started_at": iso(r.started_at)} for r in runs]

    def render(console: Console) -> None:
        if not runs:
            console.print("No maintenance runs recorded yet.")
            return
        rows = [
            [
                str(run.id),
                (iso(run.started_at) or "")[:19].replace("T", " "),
                run.table,
                run.action + (" (dry run)" if run.dry_run else ""),
                run.status,
                "" if run.seconds is None else f"{run.seconds:.1f}",
                _what_it_did(run),
            ]
            for run in runs
        ]
        print_grid(console, _RUN_GRID, rows)

    output.emit(data, render, columns=_RUN_COLUMNS)


_RUN_GRID = (
    Column("id", Kind.NUMBER),
    Column("started", Kind.WHOLE, optional=2),
    Column("table", Kind.WHOLE),
    Column("action", Kind.WHOLE),
    Column("status", Kind.WHOLE),
    Column("seconds", Kind.NUMBER, optional=1),
    Column("what it did"),
)
_RUN_COLUMNS = (
    "id", "table", "action", "started_at", "seconds", "dry_run", "status", "owner",
    "summary", "committed", "error",
)  # fmt: skip


def _what_it_did(run: MaintenanceRun) -> str:
    """A finished run's headline figures; an unfinished one's commits so far."""
    if run.status in ("running", "interrupted"):
        done = "; ".join(_describe_commit(c) for c in run.committed) or "nothing committed"
        owner = f" (owner {run.owner})" if run.owner else ""
        return f"{done}{owner}" + (f"; {run.error}" if run.error else "")
    return run.error or _describe(run.summary, dry_run=run.dry_run)


def _describe_commit(entry: dict[str, Any]) -> str:
    if "snapshot_id" in entry:
        groups = entry.get("groups")
        return f"committed snapshot {entry['snapshot_id']}" + (
            f" ({len(groups)} group(s))" if groups else ""
        )
    if "expired_snapshot_ids" in entry:
        return (
            f"committed expiry of {len(entry['expired_snapshot_ids'])} snapshot(s), "
            f"deleting {entry['deleting_files']} file(s)"
        )
    if "deleting_orphans" in entry:
        return f"deleting {entry['deleting_orphans']} orphan(s)"
    if "deleting_metadata_files" in entry:
        return f"deleting {entry['deleting_metadata_files']} metadata file(s)"
    return str(entry)


def _describe(summary: dict[str, Any], *, dry_run: bool = False) -> str:
    """The headline figures of a report, whatever the action; a dry run says what it
    would do."""
    would = "would be " if dry_run else ""
    if "strategy" in summary:
        if summary.get("dry_run"):
            return (
                f"would rewrite {summary.get('groups_rewritten', 0)} group(s): "
                f"{summary['files_before']} files, {size_text(summary['bytes_before'])}"
            )
        return (
            f"{summary.get('groups_rewritten', 0)} group(s): files {summary['files_before']} → "
            f"{summary['files_after']}, {size_text(summary['bytes_before'])} → "
            f"{size_text(summary['bytes_after'])}"
            + (" on Spark" if summary.get("engine") == "spark" else "")
        )
    if "expired_snapshot_ids" in summary:
        return (
            f"{len(summary['expired_snapshot_ids'])} snapshot(s) {would}expired, "
            f"{summary['files_deleted']} file(s) {would}deleted "
            f"({size_text(summary['bytes_deleted'])})"
        )
    if "kept_too_young" in summary:
        return (
            f"{summary['files_found']} orphan(s) found ({size_text(summary['bytes_found'])}), "
            f"{summary['files_deleted']} {would}deleted "
            f"({size_text(summary['bytes_freed'])} {would}freed), "
            f"{summary['kept_too_young']} kept as younger than {summary['older_than']}"
        )
    if "manifests_before" in summary:
        if summary.get("changed") is False:
            return f"manifests {summary['manifests_before']}: already clustered, nothing changed"
        verb = "would be rewritten" if dry_run else "rewritten"
        return f"manifests {summary['manifests_before']} → {summary['manifests_after']} ({verb})"
    if "files_kept" in summary:
        return (
            f"{summary['files_deleted']} metadata file(s) {would}deleted "
            f"({size_text(summary['bytes_deleted'])}), {summary['files_kept']} kept"
        )
    return ""


def _emit(output: Output, table: str, action: str, data: dict[str, Any], dry_run: bool) -> None:
    def render(console: Console) -> None:
        prefix = "[dim](dry run)[/dim] " if dry_run else ""
        console.print(
            f"{prefix}{table} {action}: {_describe(data, dry_run=dry_run) or 'nothing to do'}"
        )

    output.emit(data, render)
