"""Demo, detection: generate days of logs with an intrusion, hunt them, open the incident."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.table import Table

from rempart.demo.context import DemoContext
from rempart.demo.generate import generate
from rempart.detect.hunt import hunt
from rempart.detect.incidents import open_incidents
from rempart.domain.alerts import Level
from rempart.errors import StateError
from rempart.events.store import EventStore
from rempart.inventory import Resolver

OUR_RULES = Path(__file__).resolve().parents[3] / "rules"


def run(ctx: DemoContext) -> None:
    c = ctx.console
    logs = generate(ctx.group, ctx.workdir / "logs", ctx.attacked, ctx.attacker_ip, ctx.start)
    ctx.facts["detect.logs"] = ctx.workdir / "logs"
    ctx.facts["detect.intrusion"] = logs.intrusion
    n_est = len(ctx.group.establishments)
    c.print(
        f"Journaux générés : {logs.events:,} événements dans {len(logs.files)} fichiers pour {n_est} "
        f"établissements (Windows/Winlogbeat NDJSON gzip, auth.log, FortiGate), du {ctx.start:%d/%m %H:%M} "
        f"au {ctx.now:%d/%m %H:%M} UTC"
    )
    for when, what in logs.intrusion.steps:
        ctx.mark(when, "attaque", what)

    rule_dirs = [OUR_RULES, *ctx.facts.get("sigma_dirs", [])]
    store = EventStore(ctx.events_db)
    try:
        result = hunt(
            [ctx.workdir / "logs"],
            rule_dirs,
            store=store,
            resolver=Resolver(ctx.group),
            cache_dir=ctx.workdir / "rule-cache",
        )
    finally:
        store.close()
    c.print(
        f"Chasse : {result.events:,} événements, {len(result.plan.rules)} règles compilées "
        f"({len(result.plan.failures)} en échec), {len(result.alerts)} alertes en "
        f"{result.timings.total:.1f} s"
    )
    by_level = Counter(str(a.level) for a in result.alerts)
    c.print("Alertes par niveau : " + ", ".join(f"{lvl} {n}" for lvl, n in sorted(by_level.items())))

    incidents = open_incidents(ctx.store, result.alerts, now=ctx.now, min_level=Level.MEDIUM)
    attacked = [r for r in incidents if r.establishment == ctx.attacked]
    others = [r for r in incidents if r.establishment != ctx.attacked]
    if len(attacked) != 1:
        raise StateError(f"expected one incident for {ctx.attacked}, found {len(attacked)}")
    incident = attacked[0]
    ctx.incident_ref, ctx.incident_id = incident.ref, incident.id
    name = ctx.group.establishment(ctx.attacked).name
    c.print(
        f"[bold red]{incident.ref}[/bold red] ouvert pour [bold]{name}[/bold] : "
        f"sévérité {incident.severity}, {len(incident.alerts)} alertes, hôtes {', '.join(incident.hosts)}"
    )
    c.print(f"Tactiques ATT&CK : {', '.join(incident.tactics)}")
    table = Table(show_edge=False, title="Alertes de l'incident")
    for col in ("heure (UTC)", "niveau", "règle", "hôte"):
        table.add_column(col)
    for a in incident.alerts:
        table.add_row(f"{a.time:%H:%M:%S}", a.level, a.title, a.host or "")
    c.print(table)
    if others:
        c.print(
            f"[yellow]Autres incidents ouverts : {', '.join(f'{r.ref} ({r.establishment})' for r in others)}"
        )
    else:
        c.print("Aucun autre établissement concerné : le reste du groupe continue de fonctionner.")
    ctx.facts["detect.other_incidents"] = [r.ref for r in others]
    ctx.mark(ctx.now, "détection", f"{incident.ref} ouvert pour {name} ({incident.severity})")
