"""Investigation commands: timeline, sweep, exfil, findings, evidence add/show/verify/handover.
Thin: parse, call ``rempart.investigate``, render."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.table import Table

from rempart.cli.auth import acting_on, reading_incident
from rempart.cli.console import console, report_errors
from rempart.cli.options import Inventory, open_case_store
from rempart.detect.incidents import get_incident
from rempart.errors import InputError, Location
from rempart.inventory import load_group
from rempart.investigate import eventdb, evidence, exfil, findings, indicators, sweep, timeline
from rempart.settings import Settings
from rempart.store.models.investigate import EvidenceRow

evidence_app = typer.Typer(
    help="Evidence locker: files with SHA-256 and chain of custody.", no_args_is_help=True
)




@contextmanager
def _events() -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(Settings().event_store_path)
    if not path.is_file():
        raise InputError("no event store here", Location(path), hint="ingest logs first (`rempart ingest`)")
    con = eventdb.connect(path)
    try:
        yield con
    finally:
        con.close()


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    HTML = "html"
    PDF = "pdf"


@report_errors
def timeline_cmd(
    incident: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.CSV,
) -> None:
    """Export the incident's timeline (events, alerts, plan actions, notes, findings)."""
    store = open_case_store()
    reading_incident(store, incident)
    with store.session() as s, _events() as con:
        inc = get_incident(s, incident)
        entries = timeline.build_timeline(s, con, inc)
        if fmt is Format.CSV:
            timeline.write_csv(entries, out)
        elif fmt is Format.JSON:
            timeline.write_json(entries, out)
        elif fmt is Format.PDF:
            timeline.write_pdf(entries, inc, out)
        else:
            timeline.write_html(entries, inc, out)
    lanes = {lane: sum(1 for e in entries if e.lane == lane) for lane in timeline.LANES}
    console.print(
        f"[green]ok[/green] {out}: {len(entries)} entries " + ", ".join(f"{k} {v}" for k, v in lanes.items())
    )


@report_errors
def sweep_cmd(
    incident: str,
    inventory: Inventory,
    iocs: Annotated[
        list[Path] | None, typer.Option("--iocs", help="STIX 2.1 bundle, MISP JSON or CSV")
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="an indicator value not to sweep for (e.g. an account since disabled)"),
    ] = None,
) -> None:
    """Sweep every establishment's events for the incident's indicators (and imported ones)."""
    group = load_group(inventory)
    imported = [i for f in iocs or [] for i in indicators.load_file(f)]
    store = open_case_store()
    user = acting_on(store, incident)
    with store.session() as s, _events() as con:
        inc = get_incident(s, incident)
        found = indicators.dedupe(indicators.from_alerts(s, con, inc, group) + imported)
        skipped = {v.strip().lower() for v in ignore or []}
        unknown = skipped - {i.value for i in found}
        if unknown:
            raise InputError(
                f"--ignore {', '.join(sorted(unknown))}: not among the indicators",
                hint="indicators: " + ", ".join(str(i) for i in found),
            )
        found = [i for i in found if i.value not in skipped]
        if skipped:
            console.print(f"not swept for (--ignore): {', '.join(sorted(skipped))}")
        outcome = sweep.run_sweep(s, con, group, inc, found, user, ignored=sorted(skipped))
        table = Table(title=f"IOC sweep — {inc.ref} — {len(found)} indicators", show_edge=False)
        for col in ("establishment", "events", "result", "hits", "clean since"):
            table.add_column(col)
        for r in outcome.results:
            hits = ", ".join(f"{h.indicator} ×{h.count}" for h in r.hits)[:80]
            colour = {"hits": "red", "clean": "green", "no_data": "yellow"}[r.status]
            since = r.clean_since.strftime("%Y-%m-%d %H:%M") if r.clean_since else "—"
            table.add_row(r.name, str(r.events), f"[{colour}]{r.status}[/{colour}]", hits, since)
        console.print(table)
        console.print(f"finding propagation v{outcome.finding.version}: {outcome.finding.summary}")


@report_errors
def exfil_cmd(
    incident: str,
    inventory: Inventory,
    all_establishments: Annotated[bool, typer.Option("--all", help="assess every establishment")] = False,
    baseline_days: int = 7,
    k: float = 4.0,
    floor_mb: float = 50.0,
) -> None:
    """Outbound volume per host and destination against each host's baseline; records a finding."""
    group = load_group(inventory)
    cfg = exfil.ExfilSettings(baseline_days=baseline_days, k=k, floor_bytes=int(floor_mb * 1e6))
    scope = [e.id for e in group.establishments] if all_establishments else None
    store = open_case_store()
    user = acting_on(store, incident)
    with store.session() as s, _events() as con:
        a, finding = exfil.run_assessment(s, con, group, get_incident(s, incident), user, scope, cfg)
        table = Table(title="outbound volume (top hosts)", show_edge=False)
        for col in ("host", "asset", "window MB", "peak MB/h", "threshold MB/h", "exceeded h"):
            table.add_column(col)
        for h in sorted(a.hosts, key=lambda h: -h.window_bytes)[:15]:
            table.add_row(
                h.host,
                h.asset or "",
                f"{h.window_bytes / 1e6:.1f}",
                f"{h.peak_bytes / 1e6:.1f}",
                f"{h.threshold / 1e6:.1f}",
                str(len(h.exceeded)),
            )
        console.print(table)
        colour = "red" if finding.positive else "green"
        console.print(f"[{colour}]finding data_theft v{finding.version}[/{colour}]: {finding.summary}")


@report_errors
def findings_cmd(incident: str) -> None:
    """Every finding of the incident, every version."""
    store = open_case_store()
    reading_incident(store, incident)
    with store.session() as s:
        inc = get_incident(s, incident)
        for kind in findings.FindingKind:
            for f in findings.history(s, inc.id, kind):
                mark = "POSITIVE" if f.positive else "negative"
                sup = f" (supersedes #{f.supersedes_id})" if f.supersedes_id else ""
                console.print(
                    f"#{f.id} {kind} v{f.version} {mark}{sup} {f.created_at:%Y-%m-%d %H:%M} {f.author}"
                )
                console.print(f"   {f.summary}")


def _of(incident_id: int, ev: EvidenceRow) -> EvidenceRow:
    """The piece named, refused when it belongs to another incident (the scope check was on INCIDENT)."""
    if ev.incident_id != incident_id:
        raise InputError(
            f"{ev.ref} is not evidence of this incident", hint="see `rempart evidence show INCIDENT`"
        )
    return ev


@evidence_app.command("add")
@report_errors
def evidence_add(incident: str, file: Path, description: str = "") -> None:
    """Register FILE under INCIDENT with its SHA-256; you (the logged-in account) become its custodian."""
    store = open_case_store()
    user = acting_on(store, incident)
    with store.session() as s:
        ev = evidence.register(s, get_incident(s, incident), file, user, description)
        console.print(
            f"[green]{ev.ref}[/green] {ev.name} sha256={ev.sha256} size={ev.size} custodian={ev.custodian}"
        )


@evidence_app.command("show")
@report_errors
def evidence_show(incident: str, ref: Annotated[str | None, typer.Argument()] = None) -> None:
    """List the incident's evidence, or one piece with its chain of custody."""
    store = open_case_store()
    reading_incident(store, incident)
    with store.session() as s:
        inc = get_incident(s, incident)
        for ev in [_of(inc.id, evidence.get(s, ref))] if ref else evidence.listing(s, inc.id):
            console.print(f"[bold]{ev.ref}[/bold] {ev.name} sha256={ev.sha256} held by {ev.custodian}")
            if ref:
                for c in ev.custody:
                    to = f" → {c.recipient}" if c.recipient else ""
                    console.print(f"  {c.at:%Y-%m-%d %H:%M:%S} {c.action} by {c.actor}{to} {c.note}")


@evidence_app.command("verify")
@report_errors
def evidence_verify(incident: str, ref: Annotated[str | None, typer.Argument()] = None) -> None:
    """Hash the files again; exit 1 when one changed or is missing."""
    bad = 0
    store = open_case_store()
    user = reading_incident(store, incident).who  # an auditor may check the locker: it changes nothing
    with store.session() as s:
        inc = get_incident(s, incident)
        for ev in [_of(inc.id, evidence.get(s, ref))] if ref else evidence.listing(s, inc.id):
            v = evidence.verify(s, inc, ev, user)
            bad += not v.ok
            console.print(f"{'[green]ok[/green]' if v.ok else '[red]ALTERED[/red]'} {v.evidence}: {v.reason}")
    if bad:
        raise typer.Exit(1)


@evidence_app.command("handover")
@report_errors
def evidence_handover(
    incident: str, ref: str, to: Annotated[str, typer.Option("--to")], note: str = ""
) -> None:
    """Hand a piece of evidence to someone (you must be its custodian)."""
    store = open_case_store()
    user = acting_on(store, incident)
    with store.session() as s:
        inc = get_incident(s, incident)
        evidence.handover(s, inc, evidence.get(s, ref), user, to, note)
        console.print(f"{ref} now held by {to}")


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline_cmd)
    app.command("sweep")(sweep_cmd)
    app.command("exfil")(exfil_cmd)
    app.command("findings")(findings_cmd)
    app.add_typer(evidence_app, name="evidence")
