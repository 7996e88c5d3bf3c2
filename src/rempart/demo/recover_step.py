"""Demo, recovery: gated, staged re-opening of the attacked clinic's external accesses, closing, report.

The story goes on in simulated time. Right after the investigation every gate is shut, each for a reason
it states. Monitoring logs keep arriving (generated in the real formats and ingested by the real readers;
the compromised account is disabled and the VPN is closed, so neither appears), the sweep is run again,
people attest and approve, and the accesses re-open one at a time — the 72 h ones only once the sweep
has been clean that long. With the namespace network of the respond step, connectivity is probed before
and after each re-opening. Then the closing notices go out through a loopback SMTP relay, the incident is
closed and the final report PDF is written under ``ctx.workdir``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from rich.table import Table

from rempart.adapters import registry
from rempart.adapters.smtp import RelaySettings, SMTPRelay
from rempart.adapters.smtp_sink import LocalSMTPServer
from rempart.demo import generate
from rempart.demo.accounts import actor, who
from rempart.demo.context import DemoContext
from rempart.demo.respond_step import plan_path
from rempart.detect.incidents import get_incident
from rempart.errors import StateError
from rempart.events.store import EventStore
from rempart.ingest.pipeline import read_paths
from rempart.ingest.report import IngestReport
from rempart.inventory import Resolver
from rempart.investigate import eventdb, indicators, sweep
from rempart.notify import service as notify
from rempart.recover import closing, gates, report, staging
from rempart.recover.policy import RecoveryPolicy, load_policy
from rempart.respond.interface import Adapter
from rempart.respond.plan import load_plan

STAGE = "réouverture"
ON_CALL = "astreinte-dsi"
SENDER = "cellule-crise@secours.horizon-sante.example"


def _monitoring(ctx: DemoContext, start: datetime, hours: int, batch: str) -> int:
    """Ordinary activity of the attacked clinic after containment, ingested into the event store."""
    est = ctx.group.establishment(ctx.attacked)
    out = ctx.workdir / "logs-apres" / batch
    writer = generate._Writer()
    clinic = generate._Clinic(est, out, random.Random(f"{batch}-{ctx.attacked}"), writer)
    intrusion = ctx.facts.get("detect.intrusion")
    disabled = getattr(intrusion, "compromised_user", None)
    clinic.users = [u for u in clinic.users if u != disabled]  # the compromised account is disabled
    for h in range(hours):
        clinic.ordinary_hour(start + timedelta(hours=h))
    for path, items in writer.lines.items():  # the VPN is closed: no tunnel comes up
        writer.lines[path] = [(t, line) for t, line in items if 'subtype="vpn"' not in line]
    writer.flush()
    store = EventStore(ctx.events_db)
    ingest = IngestReport()
    try:
        for table in read_paths([out], Resolver(ctx.group), report=ingest):
            store.append(table)
    finally:
        store.close()
    return ingest.total_events


def _sweep_again(ctx: DemoContext, at: datetime) -> str:
    rssi = who(ctx, "c.martin")
    con = eventdb.connect(ctx.events_db)
    try:
        with ctx.store.session() as s:
            inc = get_incident(s, ctx.incident_id or 0)
            outcome = sweep.run_sweep(
                s, con, ctx.group, inc, indicators.from_alerts(s, con, inc, ctx.group), rssi, now=at
            )
            own = next(r for r in outcome.results if r.establishment == ctx.attacked)
            return (
                f"balayage v{outcome.finding.version} : {own.events} événements de {ctx.attacked}, dernière "
                f"occurrence {own.clean_since:%d/%m %H:%M} UTC, propagation : "
                f"{', '.join(outcome.propagated_to) or 'aucune'}"
            )
    finally:
        con.close()


def _gates_table(ctx: DemoContext, policy: RecoveryPolicy, title: str, at: datetime) -> list[gates.Gate]:
    with ctx.store.session() as s:
        found = gates.evaluate_all(s, get_incident(s, ctx.incident_id or 0), ctx.group, policy, at)
    table = Table(title=title, show_edge=False)
    for col in ("accès", "état", "porte", "contrôles en échec", "approbations"):
        table.add_column(col)
    for g in found:
        failing = ", ".join(c.name.removeprefix("attestation:") for c in g.checks if not c.ok) or "aucun"
        approvals = ", ".join(g.approvers) or "aucune"
        if g.approval_missing:
            approvals += f" (il en manque : {g.rule.approval.approvers - len(g.approvers)})"
        door = "[green]ouvrable[/]" if g.passable else "[red]fermée[/]"
        door = "rouverte" if g.state == gates.REOPENED else door
        table.add_row(
            g.access.id,
            g.state,
            door,
            failing if g.state == gates.CLOSED else "—",
            approvals,
        )
    ctx.console.print(table)
    return found


def _people(ctx: DemoContext) -> tuple[str, str]:
    plan = load_plan(plan_path(ctx), ctx.group).plan
    rssi = next(p.id for p in plan.people if "rssi" in p.roles)
    director = next(p.id for p in plan.people if "clinic_director" in p.roles and p.covers(ctx.attacked))
    return rssi, director


def _attest(ctx: DemoContext, policy: RecoveryPolicy, rssi: str, at: datetime) -> int:
    n = 0
    with ctx.store.session() as s:
        inc = get_incident(s, ctx.incident_id or 0)
        for g in gates.evaluate_all(s, inc, ctx.group, policy, at):
            if g.state != gates.CLOSED:
                continue
            for check in g.rule.attestations:
                who = actor(ctx, rssi if check == "vendor_access_reviewed" else ON_CALL).who
                gates.attest(
                    s, inc, ctx.group, policy, g.access.id, check, who, "fait (démonstration)", now=at
                )
                n += 1
    return n


def _reopen_passable(
    ctx: DemoContext,
    policy: RecoveryPolicy,
    people: tuple[str, str],
    adapters: dict[str, Adapter],
    at: datetime,
) -> list[str]:
    probe: Callable[[str], bool | None] = ctx.facts.get("respond.access_open") or (lambda _a: None)
    done = []
    with ctx.store.session() as s:
        ready = [
            g.access.id
            for g in gates.evaluate_all(s, get_incident(s, ctx.incident_id or 0), ctx.group, policy, at)
            if g.state == gates.CLOSED and g.evidence_ok
        ]
    for i, access in enumerate(ready):
        when = at + timedelta(minutes=15 * i)
        before = probe(access)
        out = None
        for person in people:
            out = staging.reopen(
                ctx.store, ctx.group, policy, ctx.incident_ref or "", access, actor(ctx, person), adapters,
                now=when,
            )
        assert out is not None
        after = probe(access)
        yes = {True: "oui", False: "non"}
        link = (
            ""
            if before is None
            else f" ; joignable de l'extérieur : avant {yes[before]}, après {yes[bool(after)]}"
        )
        for h in out.gate.held_by:
            link += (
                f"\n    [yellow]reste injoignable[/] : la passerelle {h['gateway']} est encore isolée "
                f"par l'étape {h['step']} « {h['title']} » (à lever une fois la machine reconstruite)"
            )
        ctx.console.print(f"  [green]étape {out.stage}[/] : {access} rouvert par {' + '.join(people)}{link}")
        ctx.mark(when, STAGE, f"accès {access} rouvert (étape {out.stage})")
        done.append(access)
    return done


def _closing_notices(ctx: DemoContext, at: datetime) -> int:
    recipients = (ctx.facts.get("notify") or {}).get("closing_recipients") or {}
    out = ctx.workdir / "recover" / "notifications"
    with LocalSMTPServer() as srv:
        relay = SMTPRelay(
            RelaySettings(host=srv.host, port=srv.port, security="none", sender=SENDER, timeout=10)
        )
        rows = notify.send_closing_notices(
            ctx.store,
            ctx.incident_id or 0,
            ctx.group,
            relay,
            recipients,
            who(ctx, "c.martin"),
            out,
            resolved_at=at,
            summary="Accès externes rouverts par étapes après balayage sain et absence d'exfiltration.",
            now=at,
        )
        for r in rows:
            ctx.console.print(f"  {r.obligation}/{r.stage} : {r.status} {r.message_id or r.error or ''}")
        return len(srv.received)


def run(ctx: DemoContext) -> None:
    if ctx.incident_id is None or ctx.run_id is None:
        ctx.console.print("[yellow]Pas d'incident confiné : rien à rouvrir.[/]")
        return
    c = ctx.console
    policy = load_policy()
    adapters = ctx.facts.get("respond.adapters") or registry.build(None)
    people = _people(ctx)
    t0 = ctx.now + timedelta(hours=4)
    _gates_table(ctx, policy, "Portes de réouverture juste après l'investigation", t0)
    try:
        staging.reopen(
            ctx.store, ctx.group, policy, ctx.incident_ref or "", "vpn-nomade", actor(ctx, people[0]),
            adapters, now=t0,
        )
    except StateError as exc:
        c.print(f"[red]Refus expliqué[/] : {exc}")

    day2 = ctx.now + timedelta(hours=50)
    n = _monitoring(ctx, ctx.now, 50, "j1-j2")
    c.print(f"Surveillance continue : {n} événements de {ctx.attacked} ingérés sur 50 h")
    c.print(_sweep_again(ctx, day2))
    c.print(
        f"{_attest(ctx, policy, people[0], day2)} attestations (identifiants renouvelés, correctifs, "
        "accès tiers revus)"
    )
    opened = _reopen_passable(ctx, policy, people, adapters, day2 + timedelta(minutes=30))
    _gates_table(ctx, policy, "Portes après la première vague de réouverture", day2 + timedelta(hours=2))

    day3 = ctx.now + timedelta(hours=76)
    n = _monitoring(ctx, ctx.now + timedelta(hours=50), 26, "j3")
    c.print(f"Surveillance continue : {n} événements de plus ; " + _sweep_again(ctx, day3))
    opened += _reopen_passable(ctx, policy, people, adapters, day3 + timedelta(minutes=30))

    # the NIS2 incident notification (72 h) was filed on the ANSSI portal during the recovery
    for clock in notify.compute_clocks(ctx.store, ctx.incident_id, ctx.group, now=day2):
        if (
            clock.obligation.id == "nis2_anssi"
            and clock.stage.id == "notification"
            and clock.status != "done"
        ):
            notify.record_filing(
                ctx.store,
                ctx.incident_id,
                "nis2_anssi",
                "notification",
                ctx.group,
                channel="portal",
                reference="ANSSI-NOTIF-DEMO",
                author=who(ctx, "c.martin"),
                at=day2 + timedelta(hours=2),
            )
            c.print("Notification d'incident NIS2 (72 h) déposée sur le portail de l'ANSSI (main courante).")
    end = day3 + timedelta(hours=3)
    sent = _closing_notices(ctx, end)
    c.print(f"Avis de clôture envoyés par le relais hors bande : {sent} message(s) reçus")
    tasks = closing.closing_status(ctx.store, ctx.group, policy, ctx.incident_ref or "", end)
    for t in tasks:
        c.print(f"  {'[green]✓[/]' if t.done else '[red]✗[/]'} {t.label} : {t.detail}")
    try:
        rssi = actor(ctx, "c.martin").who
        closing.close(ctx.store, ctx.group, policy, ctx.incident_ref or "", rssi, now=end)
        c.print(f"[green]{ctx.incident_ref} clos.[/]")
        ctx.mark(end, STAGE, f"{ctx.incident_ref} clos")
    except StateError as exc:
        c.print(f"[yellow]Clôture refusée[/] : {exc}")
    pdf = _final_report(ctx, policy, end)
    c.print(f"Rapport final : [bold]{pdf}[/]")
    ctx.facts["recover"] = {"reopened": opened, "report": str(pdf), "closed": all(t.done for t in tasks)}


def _final_report(ctx: DemoContext, policy: RecoveryPolicy, at: datetime) -> Path:
    con = eventdb.connect(ctx.events_db)
    try:
        facts = report.gather(ctx.store, ctx.group, policy, ctx.incident_ref or "", con, now=at)
    finally:
        con.close()
    path = report.write_final_report(facts, ctx.group, ctx.workdir / f"rapport-final-{ctx.incident_ref}.pdf")
    ctx.mark(at, STAGE, f"rapport final {path.name}")
    return path
