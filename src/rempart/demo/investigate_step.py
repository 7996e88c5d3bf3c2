"""Demo, investigation: sweep every clinic for the incident's indicators, assess exfiltration against
each host's baseline, export the timeline and lock the evidence with its chain of custody.

For the recover step: ``ctx.facts["investigate"]`` holds the numbers (events swept per clinic, outbound
volume, finding ids) and the paths of the timeline exports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from rich.table import Table
from sqlalchemy.orm import Session

from rempart.demo.accounts import who
from rempart.demo.context import DemoContext
from rempart.detect.incidents import get_incident
from rempart.investigate import eventdb, evidence, exfil, indicators, sweep, timeline
from rempart.store.models.core import IncidentRow

STAGE = "investigation"
ANALYST = "c.martin"
EXPERT = "expert-judiciaire"


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} Mo".replace(",", " ").replace(".", ",")


def run(ctx: DemoContext) -> None:
    if ctx.incident_id is None:
        ctx.console.print("[yellow]Aucun incident : pas d'investigation.[/]")
        return
    c = ctx.console
    analyst = who(ctx, ANALYST)  # logged in before the transaction below
    at = ctx.now + timedelta(hours=3)  # the investigators start a few hours after containment
    con = eventdb.connect(ctx.events_db)
    try:
        with ctx.store.session() as s:
            inc = get_incident(s, ctx.incident_id)
            iocs = indicators.from_alerts(s, con, inc, ctx.group)
            c.print(
                f"Indicateurs extraits des événements des alertes ({len(iocs)}) : "
                + ", ".join(str(i) for i in iocs)
            )
            outcome = sweep.run_sweep(s, con, ctx.group, inc, iocs, analyst, now=at)
            _sweep_table(ctx, outcome)
            a, theft = exfil.run_assessment(s, con, ctx.group, inc, analyst, now=at + timedelta(minutes=20))
            _exfil_table(ctx, a)
            c.print(
                f"[{'red' if theft.positive else 'green'}]Constat vol de données v{theft.version}[/] : "
                f"{theft.summary}"
            )
            entries = timeline.build_timeline(s, con, inc)
            out = ctx.workdir / "investigation"
            out.mkdir(parents=True, exist_ok=True)
            paths = {
                "csv": out / f"chronologie-{inc.ref}.csv",
                "json": out / f"chronologie-{inc.ref}.json",
                "html": out / f"chronologie-{inc.ref}.html",
            }
            timeline.write_csv(entries, paths["csv"])
            timeline.write_json(entries, paths["json"])
            timeline.write_html(entries, inc, paths["html"])
            c.print(
                f"Chronologie : {len(entries)} entrées → {paths['csv'].name}, {paths['json'].name}, "
                f"{paths['html'].name}"
            )
            locked = _lock_evidence(ctx, s, inc, [paths["csv"], paths["json"]], at + timedelta(minutes=40))
            ctx.facts["investigate"] = {
                "events_swept": {r.establishment: r.events for r in outcome.results},
                "propagated_to": outcome.propagated_to,
                "propagation_finding": outcome.finding.id,
                "data_theft_finding": theft.id,
                "data_theft": theft.positive,
                "outbound_bytes": a.window_bytes,
                "hosts_assessed": len(a.hosts),
                "timeline": {k: str(v) for k, v in paths.items()},
                "evidence": locked,
            }
            verdict = (
                "propagation vers " + ", ".join(outcome.propagated_to)
                if outcome.propagated_to
                else ("pas de propagation")
            )
            ctx.mark(at, STAGE, f"balayage IOC de {len(outcome.results)} établissements : {verdict}")
            ctx.mark(
                at + timedelta(minutes=20),
                STAGE,
                f"exfiltration : {'POSITIF' if theft.positive else 'aucune au-delà de la ligne de base'} "
                f"({_mb(a.window_bytes)} sortants, {len(a.hosts)} hôtes)",
            )
            ctx.mark(at + timedelta(minutes=40), STAGE, f"{len(locked)} pièces scellées (SHA-256)")
    finally:
        con.close()


def _sweep_table(ctx: DemoContext, outcome: sweep.SweepOutcome) -> None:
    table = Table(
        title=f"Balayage IOC — {len(outcome.indicators)} indicateurs, tous les établissements",
        show_edge=False,
    )
    for col in ("établissement", "événements balayés", "résultat", "occurrences", "sain depuis (UTC)"):
        table.add_column(col)
    for r in outcome.results:
        label = {
            "hits": "[red]indicateurs trouvés[/]",
            "clean": "[green]sain[/]",
            "no_data": "[yellow]sans journaux[/]",
        }
        since = r.clean_since.strftime("%d/%m %H:%M") if r.clean_since else "—"
        table.add_row(
            r.name,
            f"{r.events:,}".replace(",", " "),
            label[r.status],
            str(sum(h.count for h in r.hits)),
            since,
        )
    ctx.console.print(table)
    f = outcome.finding
    ctx.console.print(
        f"[{'red' if f.positive else 'green'}]Constat propagation v{f.version}[/] : {f.summary}"
    )


def _exfil_table(ctx: DemoContext, a: exfil.Assessment) -> None:
    table = Table(
        title=f"Volumes sortants de {ctx.attacked} du {a.window[0]:%d/%m %H:%M} au "
        f"{a.window[1]:%d/%m %H:%M} UTC (5 premiers hôtes)",
        show_edge=False,
    )
    for col in ("hôte", "sortant (fenêtre)", "pic horaire", "seuil horaire", "référence (h)", "dépassements"):
        table.add_column(col)
    for h in sorted(a.hosts, key=lambda h: -h.window_bytes)[:5]:
        table.add_row(
            h.asset or h.host,
            _mb(h.window_bytes),
            _mb(h.peak_bytes),
            _mb(h.threshold),
            str(h.baseline_hours),
            str(len(h.exceeded)),
        )
    ctx.console.print(table)


def _lock_evidence(
    ctx: DemoContext, s: Session, inc: IncidentRow, exports: list[Path], when: datetime
) -> list[str]:
    """Seal the attacked clinic's raw logs and the timeline exports, hand them to the expert, verify."""
    analyst = who(ctx, ANALYST)
    logs = ctx.workdir / "logs" / ctx.attacked
    files = sorted(p for p in logs.glob("*") if p.is_file())[:4] + exports
    refs = []
    for path in files:
        what = (
            "journal brut de l'établissement attaqué" if path.parent == logs else "export de la chronologie"
        )
        ev = evidence.register(s, inc, path, analyst, what, at=when)
        evidence.handover(s, inc, ev, analyst, EXPERT, "remise à l'expert judiciaire", at=when)
        check = evidence.verify(s, inc, ev, EXPERT, at=when)
        refs.append(ev.ref)
        ctx.console.print(
            f"  {ev.ref} {ev.name} sha256={ev.sha256[:16]}… remis à {EXPERT}, "
            f"vérifié : {'intègre' if check.ok else check.reason}"
        )
    return refs
