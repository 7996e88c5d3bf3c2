"""`rempart hunt PATH… --rules DIR…`: read logs, run Sigma rules, open incidents, summarise.

Exit status: 0 when every input was read whole; 1 when records were quarantined or files (or parts of
archives) were skipped — the alerts on what was read are still reported and stored; 2 on a usage error
(unknown option value, rules folder or inventory missing or invalid).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from rempart.cli.auth import acting
from rempart.cli.console import EXIT_USER_ERROR, console, err_console, report_errors
from rempart.cli.hunt_outputs import print_for_investigators, timeline_for
from rempart.cli.options import TimeZone, resolver_for
from rempart.cli.rules_cmd import TuningDir, tuning_from
from rempart.detect.hunt import HuntProgress, HuntResult, hunt
from rempart.detect.incidents import DEFAULT_WINDOW, open_incidents
from rempart.detect.window import event_window
from rempart.domain.alerts import Alert, Level
from rempart.errors import StateError
from rempart.events import EventStore
from rempart.identities import service as identities
from rempart.settings import Settings
from rempart.store.db import Store


class OutputFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    CSV = "csv"
    TIMESKETCH_JSONL = "timesketch-jsonl"
    TIMESKETCH_CSV = "timesketch-csv"
    SUMMARY = "summary"
    SUMMARY_JSON = "summary-json"


def alert_record(a: Alert) -> dict[str, object]:
    return {
        "time": a.time.isoformat(), "level": str(a.level), "rule_id": a.rule_id, "title": a.title,
        "host": a.host, "establishment": a.establishment, "asset": a.asset,
        "tactics": a.tactics, "techniques": a.techniques, "correlation": a.correlation,
        "events": [str(e) for e in a.events], "details": a.details,
    }


def _progress() -> tuple[Progress, HuntProgress]:
    bar = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                   console=err_console, transient=True)
    tasks: dict[str, TaskID] = {}

    def counter(name: str) -> object:
        def update(done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)
        return update

    def bytes_total(total: int) -> None:
        tasks["bytes read"] = bar.add_task("bytes read", total=total)

    def bytes_read(n: int) -> None:
        if "bytes read" in tasks:
            bar.advance(tasks["bytes read"], n)

    return bar, HuntProgress(bytes_total=bytes_total, bytes_read=bytes_read,
                             rules_compiled=counter("rules compiled"),  # type: ignore[arg-type]
                             groups_evaluated=counter("rule groups evaluated"))  # type: ignore[arg-type]


@report_errors
def hunt_command(
    paths: Annotated[list[Path], typer.Argument(help="Log files or folders (EVTX, JSON, syslog…).")],
    rules: Annotated[list[Path], typer.Option("--rules", help="Folder or file of Sigma rules; repeatable.")],
    inventory: Annotated[Path | None, typer.Option(help="group.yaml, to attribute events.")] = None,
    timezone: TimeZone = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="How alerts are printed.")] = (
        OutputFormat.TABLE
    ),
    min_level: Annotated[str, typer.Option(help="informational, low, medium, high or critical.")] = "low",
    events_db: Annotated[str | None, typer.Option(help="DuckDB event store (':memory:' for none).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Case store URL for incidents.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Compiled-rule cache folder.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes that parse the logs (default: one per CPU, up to 4, for 32 MB "
                     "of logs or more; else 1)."),
    ] = None,
    tuning_dir: TuningDir = None,
    since: Annotated[str | None, typer.Option(help="Hunt only events at or after this ISO 8601 time "
                                              "(no zone: UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Hunt only events before this ISO 8601 time "
                                              "(no zone: UTC).")] = None,
    host: Annotated[list[str] | None, typer.Option("--host", help="Hunt only this host's events (its name "
                                                   "or first label, any case); repeatable.")] = None,
) -> None:
    """Hunt PATHS with the Sigma rules of --rules; alerts grouped into incidents in the case store.

    Exit status: 0 every input read; 1 records quarantined or files skipped (what was read is still
    hunted); 2 usage error.
    """
    try:
        level = Level.parse(min_level)
    except ValueError as exc:
        err_console.print(f"[red]error[/red] --min-level: {exc}")
        raise typer.Exit(EXIT_USER_ERROR) from None
    settings = Settings()
    _may_open_incidents(db or settings.case_store_url)
    window = event_window(since, until, host)
    tuning = tuning_from(tuning_dir)
    resolver = resolver_for(inventory, timezone)
    store = EventStore(events_db or settings.event_store_path)
    bar, progress = _progress()
    try:
        with bar:
            result = hunt(paths, rules, store=store, resolver=resolver, min_level=level, progress=progress,
                          cache_dir=cache_dir or settings.home / "rule-cache", workers=workers,
                          tuning=tuning, window=window)
        timeline = timeline_for(output, result, store)
    finally:
        store.close()
    case_store = Store(db or settings.case_store_url)
    try:
        incidents = open_incidents(case_store, result.alerts, DEFAULT_WINDOW)
        refs = [(i.ref, i.establishment) for i in incidents]
    finally:
        case_store.close()
    if not print_for_investigators(output, result.alerts, timeline):
        print_alerts(result.alerts, output)
    out = console if output is OutputFormat.TABLE else err_console
    print_summary(out, result, refs)
    if window:
        out.print(f"[bold]window[/bold]: {window.describe()} — the events outside it were stored, not hunted",
                  highlight=False)
    raise typer.Exit(result.report.exit_code())


def _may_open_incidents(url: str) -> None:
    """Checked before hunting, not after minutes of it. A case store with accounts is the group's: opening
    incidents there needs a logged-in account whose scope is every incident. A store without any account
    (an investigator's own `--db`) is theirs, as before accounts existed."""
    store = Store(url)
    try:
        if not identities.has_accounts(store):
            return
        actor = acting(store)
        if actor.incidents:
            raise StateError(
                f"{actor.account} works only on {', '.join(actor.incidents)}: a hunt opens new incidents",
                hint="hunt into a case store of your own with --db sqlite:///my-hunt.db",
            )
    finally:
        store.close()


def print_alerts(alerts: list[Alert], output: OutputFormat) -> None:
    if output is OutputFormat.JSONL:
        for a in alerts:
            sys.stdout.write(json.dumps(alert_record(a), ensure_ascii=False) + "\n")
        return
    if output is OutputFormat.CSV:
        writer = csv.writer(sys.stdout)
        writer.writerow(["time", "level", "rule_id", "title", "host", "establishment", "tactics", "events"])
        for a in alerts:
            writer.writerow([a.time.isoformat(), str(a.level), a.rule_id, a.title, a.host or "",
                             a.establishment or "", " ".join(a.tactics), " ".join(str(e) for e in a.events)])
        return
    table = Table(title=f"{len(alerts)} alerts", show_edge=False)
    for col in ("time", "level", "rule", "host", "establishment", "events"):
        table.add_column(col)
    for a in alerts[:200]:
        first = str(a.events[0]) if a.events else ""
        more = f" (+{len(a.events) - 1})" if len(a.events) > 1 else ""
        table.add_row(a.time.strftime("%Y-%m-%d %H:%M:%S"), str(a.level), a.title, a.host or "",
                      a.establishment or "-", first + more)
    console.print(table)
    if len(alerts) > 200:
        console.print(f"… {len(alerts) - 200} more (use --format jsonl or csv for all)")


def _counts(title: str, counter: Counter[str]) -> str:
    items = ", ".join(f"{k}: {n:,}" for k, n in counter.most_common(12))
    return f"{title}: {items or 'none'}"


def _again(result: HuntResult) -> str:
    """What the store held already: files hunted before are not stored twice (rempart.events.sources)."""
    src, text = result.sources, ""
    if src.known:
        text += (f"; {len(src.known):,} files already in the store ({src.stored_events:,} events), "
                 "hunted there")
    grown = sum(1 for s in src.new if s.extends is not None)
    if grown:
        text += f"; {grown:,} files grown or read in part before: only their new records stored"
    if src.copies:
        text += f"; {len(src.copies):,} files repeat another file of this hunt: read once"
    return text


def print_summary(out: object, result: HuntResult, incidents: list[tuple[str, str | None]]) -> None:
    from rich.console import Console

    assert isinstance(out, Console)
    plan, report = result.plan, result.report
    out.print(f"\n[bold]events[/bold]: {result.events:,} stored" + _again(result))
    out.print(report.summary(max_items=10), markup=False, soft_wrap=True)
    by_source = Counter({f"{src} ({fmt})": n for (src, fmt), n in result.events_by_source.items()})
    if len(by_source) > 1:
        out.print("  " + _counts("by source", by_source), markup=False, soft_wrap=True)
    problems = [*plan.load_errors, *plan.failures, *plan.runtime_failures]
    out.print(f"[bold]rules[/bold]: {len(plan.base_rules)} rules and {len(plan.correlations)} correlations "
              f"loaded; {len(problems)} failed")
    for p in problems[:10]:
        out.print(f"  {p}", markup=False, soft_wrap=True)
    if len(problems) > 10:
        out.print(f"  … {len(problems) - 10} more (rempart rules check lists them all)")
    if result.tuning is not None:
        print_tuning_summary(out, result)
    alerts = result.alerts
    out.print("[bold]alerts[/bold] " + _counts("by level", Counter(str(a.level) for a in alerts)),
              markup=True)
    out.print("  " + _counts("by tactic", Counter(t for a in alerts for t in a.tactics)), markup=False)
    out.print("  " + _counts("by establishment", Counter(a.establishment or "(outside the inventory)"
                                                          for a in alerts)), markup=False)
    for ref, est in incidents:
        out.print(f"[bold]incident[/bold] {ref} — {est or '(outside the inventory)'}")
    t = result.timings
    out.print(f"time: rules {t.rules:.1f} s, parse {t.parse:.1f} s, store {t.store:.1f} s, "
              f"detect {t.detect:.1f} s")


def print_tuning_summary(out: Console, result: HuntResult) -> None:
    tuning, plan = result.tuning, result.plan
    assert tuning is not None
    changed = sum(1 for r in plan.rules if r.filters)
    problems = plan.tuning_problems
    out.print(f"[bold]tuning[/bold]: {len(tuning.filters)} filters changing {changed} rules, "
              f"{len(tuning.overrides)} overrides ({tuning.folder}); {len(problems)} problems")
    for p in problems[:5]:
        out.print(f"  {p}", markup=False, soft_wrap=True)
    if len(problems) > 5:
        out.print(f"  … {len(problems) - 5} more (rempart rules check --tuning lists them all)")
