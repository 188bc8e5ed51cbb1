"""``icehouse demo``: the whole loop on synthetic CDN logs, in under a minute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from icehouse.cli.common import DocumentFormatOption, HomeOption, errors_to_exit
from icehouse.cli.ingest_cmd import RichIngestProgress, render_report
from icehouse.cli.output import DocumentFormat, Output, size_text
from icehouse.cli.render import render_arrow

if TYPE_CHECKING:
    from icehouse.demo.workload import CompactionShowcase, DemoResult
    from icehouse.query.sql import TablePlan


def demo(
    rows: Annotated[int, typer.Option(help="Good rows to generate.")] = 400_000,
    days: Annotated[int, typer.Option(help="Days of traffic.")] = 14,
    tenants: Annotated[int, typer.Option(help="Tenants (customers).")] = 2_000,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Generate CDN logs from 3 providers, ingest them, query them.

    Uses its own lake home (default ./lake): an empty folder or a previous demo,
    which it replaces.
    """
    from icehouse.config import resolve_home
    from icehouse.demo.generator import GeneratorConfig  # the demo's engines load here
    from icehouse.demo.workload import run_demo

    output = Output(format)
    target = resolve_home(home)
    with errors_to_exit(output), RichIngestProgress(output.err) as progress:
        result = run_demo(
            target,
            config=GeneratorConfig(rows=rows, days=days, tenants=tenants),
            progress=progress,
            step=output.note,
        )
    output.emit(_as_dict(result), lambda c: _render(c, result))


def _as_dict(result: DemoResult) -> dict[str, object]:
    return {
        "home": str(result.home),
        "generated": {
            "files": len(result.logs.files),
            "rows": result.logs.rows,
            "bad_lines": result.logs.bad_lines,
        },
        "ingest": result.report.to_dict(),
        "queries": [{"title": t, "sql": s, "rows": r.to_pylist()} for t, s, r in result.results],
        "quarantine": result.quarantine,
        "compaction": _compaction_dict(result),
        "seconds": round(result.seconds, 2),
    }


def _compaction_dict(result: DemoResult) -> dict[str, object] | None:
    from icehouse.demo.workload import TENANT_WEEK

    showcase = result.compaction
    if showcase is None:
        return None
    return {
        "compaction": showcase.result.to_dict(),
        "tenant_week_query": {
            "sql": TENANT_WEEK,
            "before": [p.to_dict() for p in showcase.before.plans],
            "after": [p.to_dict() for p in showcase.after.plans],
        },
    }


def _render_compaction(console: Console, showcase: CompactionShowcase) -> None:
    summary = showcase.result.to_dict()
    console.print(
        "\n[bold]Compaction[/bold] (sort by customer_id, requested_at; every partition proved)"
    )
    console.print(
        f"  {summary['files_before']} → {summary['files_after']} data files, "
        f"{size_text(summary['bytes_before'])} → {size_text(summary['bytes_after'])}, "
        f"in {showcase.result.seconds:.1f} s"
    )
    before, after = showcase.before.plans[0], showcase.after.plans[0]
    console.print(f"  one tenant's week reads {_reads(before)} before, {_reads(after)} after")


def _reads(plan: TablePlan) -> str:
    return (
        f"{plan.files_planned} files, {plan.row_groups_read} row groups "
        f"({plan.row_groups_skipped} skipped), {size_text(plan.bytes_read or 0)}"
    )


def _render(console: Console, result: DemoResult) -> None:
    from icehouse.demo.workload import TABLE

    render_report(console, result.report)
    for title, sql, table in result.results:
        console.print(f"\n[bold]{title}[/bold]\n[dim]{sql}[/dim]")
        render_arrow(console, table)
    if result.compaction is not None:
        _render_compaction(console, result.compaction)
    console.print("\n[bold]Quarantine[/bold]")
    for source, counts in sorted(result.quarantine.items()):
        console.print(
            f"  {source}: {counts.get('lines', 0)} bad lines, {counts.get('files', 0)} whole files"
        )
    home = result.home
    console.print(f"\nDemo finished in [bold]{result.seconds:.1f} s[/bold]. Try next:")
    for command in (
        f'icehouse sql --home {home} "SELECT country, count(*) FROM {TABLE} GROUP BY 1 ORDER BY 2 DESC LIMIT 5"',
        f"icehouse table show {TABLE} --home {home}",
        f"icehouse quarantine list --home {home}",
        f"icehouse status --home {home}",
        f"icehouse maintain history --home {home}",
        f"icehouse ingest --follow --home {home}   # then drop files into {home}/landing/<provider>/",
    ):
        console.print(f"  {command}")
