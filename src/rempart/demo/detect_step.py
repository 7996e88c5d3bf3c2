"""Demo, detection: generate days of logs with an intrusion, ship them live to ``rempart serve`` (in this
process, over HTTP and syslog TCP), and open the incident as the server detects the attack."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from rich.table import Table

from rempart.demo.context import DemoContext
from rempart.demo.generate import generate
from rempart.demo.live import demo_config, run_live
from rempart.detect.incidents import get_incident, open_incidents
from rempart.domain.alerts import Alert, Level
from rempart.errors import StateError

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
    config, tokens = demo_config(ctx.workdir, ctx.group_path, ctx.events_db, rule_dirs,
                                 [e.id for e in ctx.group.establishments])
    alerts: list[Alert] = []
    opened: dict[str, float] = {}  # incident ref → monotonic time it opened
    touched: dict[str, None] = {}

    def on_alerts(batch: list[Alert]) -> None:  # in the server's loop, as each micro-batch is detected
        alerts.extend(batch)
        for row in open_incidents(ctx.store, batch, now=ctx.now, min_level=Level.MEDIUM):
            opened.setdefault(row.ref, time.monotonic())
            touched[row.ref] = None

    with c.status("rempart serve démarre (règles compilées, journal ouvert) et reçoit les journaux…"):
        server, shipped = asyncio.run(run_live(config, tokens, logs.timed, on_alerts, logs.intrusion.start))
    c.print(
        f"Réception en direct ({', '.join(f'{n} {how}' for n, how in server.listening.items())}) : "
        f"{shipped.events:,} événements envoyés en {shipped.seconds:.1f} s ({shipped.http_requests} requêtes "
        f"HTTP NDJSON gzip, {shipped.syslog_messages:,} messages syslog TCP), {server.loop.stats.events:,} "
        f"stockés, {server.loop.stats.batches} micro-lots, {len(server.plan.rules)} règles, "
        f"{len(alerts)} alertes"
    )
    by_level = Counter(str(a.level) for a in alerts)
    c.print("Alertes par niveau : " + ", ".join(f"{lvl} {n}" for lvl, n in sorted(by_level.items())))
    ctx.facts["detect.live"] = {"events": shipped.events, "stored": server.loop.stats.events,
                                "alerts": len(alerts)}

    with ctx.store.session() as session:
        incidents = [get_incident(session, ref) for ref in touched]
        for row in incidents:
            _ = (row.alerts, row.hosts, row.tactics)  # read while the session is open
        session.expunge_all()
    attacked = [r for r in incidents if r.establishment == ctx.attacked]
    others = [r for r in incidents if r.establishment != ctx.attacked]
    if len(attacked) != 1:
        raise StateError(f"expected one incident for {ctx.attacked}, found {len(attacked)}")
    incident = attacked[0]
    ctx.incident_ref, ctx.incident_id = incident.ref, incident.id
    name = ctx.group.establishment(ctx.attacked).name
    after = opened[incident.ref] - shipped.mark_sent if shipped.mark_sent is not None else None
    c.print(
        f"[bold red]{incident.ref}[/bold red] ouvert pour [bold]{name}[/bold] : "
        f"sévérité {incident.severity}, {len(incident.alerts)} alertes, hôtes {', '.join(incident.hosts)}"
        + (f" — {after:.1f} s après l'envoi du premier événement de l'attaque" if after is not None else "")
    )
    ctx.facts["detect.opened_after_s"] = after
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
