"""The hunt's outputs for investigators: Timesketch timelines (JSONL, CSV) and a Hayabusa-style summary."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.table import Table

from rempart.cli.console import console
from rempart.detect.hunt import HuntResult
from rempart.detect.outputs import summarize, timeline_rows, write_csv, write_jsonl
from rempart.domain.alerts import Alert
from rempart.events import EventStore

TIMESKETCH = ("timesketch-jsonl", "timesketch-csv")
SUMMARY = ("summary", "summary-json")
LEVELS = ("critical", "high", "medium", "low", "informational")


def timeline_for(output: str, result: HuntResult, store: EventStore) -> list[dict[str, Any]] | None:
    """The Timesketch rows, read from the store while it is open (None for the other formats)."""
    if output not in TIMESKETCH:
        return None
    return list(timeline_rows(result.plan, store, result.alerts))


def print_for_investigators(output: str, alerts: list[Alert], timeline: list[dict[str, Any]] | None
                            ) -> bool:
    """Print the output of a Timesketch or summary format; False for the other formats."""
    if output == "timesketch-jsonl":
        write_jsonl(timeline or [], sys.stdout)
    elif output == "timesketch-csv":
        write_csv(timeline or [], sys.stdout)
    elif output == "summary-json":
        sys.stdout.write(json.dumps(summarize(alerts), ensure_ascii=False, indent=2) + "\n")
    elif output == "summary":
        print_summary_tables(summarize(alerts))
    else:
        return False
    return True


def print_summary_tables(summary: dict[str, Any]) -> None:
    span = f", {summary['first_seen'][:19]} → {summary['last_seen'][:19]} UTC" if summary["alerts"] else ""
    console.print(f"[bold]{summary['alerts']:,} alerts[/bold]{span}", highlight=False)
    levels = Table(title="by level", show_edge=False)
    for col in ("level", "alerts", "rules"):
        levels.add_column(col, justify="left" if col == "level" else "right")
    for row in summary["by_level"]:
        levels.add_row(row["level"], f"{row['alerts']:,}", f"{row['rules']:,}")
    console.print(levels)
    hosts = Table(title="by host", show_edge=False)
    for col in ("host", "establishment", *LEVELS, "first seen", "last seen"):
        hosts.add_column(col, justify="right" if col in LEVELS else "left")
    for row in summary["by_host"]:
        hosts.add_row(row["host"], row["establishment"] or "-",
                      *(f"{row['by_level'].get(lv, 0):,}" for lv in LEVELS),
                      row["first_seen"][:19], row["last_seen"][:19])
    console.print(hosts)
    rules = Table(title="by rule", show_edge=False)
    for col in ("rule", "level", "alerts", "hosts", "first seen", "last seen"):
        rules.add_column(col, justify="right" if col in ("alerts", "hosts") else "left")
    for row in summary["by_rule"]:
        rules.add_row(row["title"], row["level"], f"{row['alerts']:,}", f"{row['hosts']:,}",
                      row["first_seen"][:19], row["last_seen"][:19])
    console.print(rules)
