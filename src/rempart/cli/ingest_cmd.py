"""`rempart ingest PATH…`: read logs, show what was read, quarantined and not attributed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from rempart.cli.console import console, report_errors
from rempart.cli.options import TimeZone, resolver_for
from rempart.ingest import IngestReport, iter_files, read_paths


@report_errors
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Log files or folders (.evtx, JSON, syslog, archives…).")
    ],
    inventory: Annotated[Path | None, typer.Option(help="group.yaml, to attribute events.")] = None,
    timezone: TimeZone = None,
    year: Annotated[
        int | None, typer.Option(help="Year of year-less syslog dates (default: file's).")
    ] = None,
    show: Annotated[int, typer.Option(help="How many quarantined records to list.")] = 20,
) -> None:
    """Read PATHS as rempart would for a hunt; exit 1 when records or files were skipped."""
    resolver = resolver_for(inventory, timezone)
    report = IngestReport()
    total = sum(p.stat().st_size for p in iter_files(paths) if p.exists())
    columns = (TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("read", total=total)
        for _ in read_paths(
            paths,
            resolver,
            report=report,
            reference_year=year,
            on_progress=lambda n: progress.advance(task, n),
        ):
            pass
    console.print(report.summary(max_items=show), soft_wrap=True, markup=False)
    raise typer.Exit(report.exit_code())
