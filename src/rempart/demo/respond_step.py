"""Demo step: the security plan runs on the incident the detect step opened.

With root and nftables, a small network of namespaces stands for the attacked clinic (see
``rempart.adapters.netlab``) and its accesses are really closed at its firewall, shown by real TCP
connections before and after; otherwise every adapter is the dummy and the demo says so. Automatic steps
run at once, the step that needs two approvers is approved by the plan's named people, manual steps are
acknowledged. For the recover step: ``ctx.run_id``, ``ctx.facts["respond.adapters"]`` (pass them to
``rempart.respond.service.reopen_access``) and ``ctx.facts["respond.access_open"]`` (access id → is it
reachable from outside now? None without the namespace network). ``teardown`` removes the namespaces.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from rempart.adapters import netlab, registry
from rempart.adapters.netlab import NetLab
from rempart.demo.accounts import actor
from rempart.demo.context import DemoContext
from rempart.domain.inventory import AccessKind, Establishment, ExternalAccess
from rempart.respond import service
from rempart.respond.interface import Adapter
from rempart.respond.plan import LoadedPlan, load_plan
from rempart.store import incident_log

STAGE = "confinement"


def plan_path(ctx: DemoContext) -> Path:
    beside = ctx.group_path.parent / "plan.yaml"
    return beside if beside.exists() else Path(__file__).resolve().parents[3] / "examples" / "plan.yaml"


def _public(est: Establishment, access: ExternalAccess) -> str | None:
    gw = est.asset(access.gateway)
    nets = [ipaddress.ip_network(n) for n in est.networks]
    for ip in gw.ips if gw else []:
        if not any(ipaddress.ip_address(ip) in n for n in nets):
            return ip
    return None


def _probe_access(ctx: DemoContext, lab: NetLab, access_id: str) -> bool | None:
    est = ctx.group.establishment(ctx.attacked)
    access = next((x for x in est.external_accesses if x.id == access_id), None)
    if access is None:
        return None
    if access.kind is AccessKind.MESSAGING:  # the clinic's mail server sending out
        gw = est.asset(access.gateway)
        return lab.probe("srv", [(gw.ips[0], ctx.attacker_ip, netlab.OUTSIDE_MAIL_PORT)])[0] if gw else None
    dst = _public(est, access)
    port = next((p.port for p in access.ports if p.proto == "tcp"), None)
    if dst is None or port is None:
        return None
    return lab.probe("out", [(ctx.attacker_ip, dst, port)])[0]


def _other_clinic(ctx: DemoContext) -> str:
    pole = ctx.group.pole_of(ctx.attacked)
    others = [e.id for e in pole.establishments if e.id != ctx.attacked] or [
        e.id for e in ctx.group.establishments if e.id != ctx.attacked
    ]
    return others[0]


def _connectivity(ctx: DemoContext, lab: NetLab, title: str) -> None:
    a = ctx.group.establishment(ctx.attacked)
    b = ctx.group.establishment(_other_clinic(ctx))
    table = Table(title=title, show_edge=False)
    table.add_column("flux (connexion TCP réelle)")
    table.add_column("résultat")
    for access in a.external_accesses:
        ok = _probe_access(ctx, lab, access.id)
        if ok is not None:
            table.add_row(
                f"{a.name} : {access.id} ({access.kind})", "[green]ouvert[/]" if ok else "[red]fermé[/]"
            )
    b_vpn = next((x for x in b.external_accesses if x.kind is AccessKind.VPN), None)
    dst = _public(b, b_vpn) if b_vpn else None
    if b_vpn and dst:
        ok = lab.probe("out", [(ctx.attacker_ip, dst, b_vpn.ports[0].port)])[0]
        table.add_row(
            f"{b.name} : {b_vpn.id} (autre clinique)", "[green]ouvert[/]" if ok else "[red]fermé[/]"
        )
    his = [x for x in a.assets if x.role.value == "his_server"]
    if his:
        ok = lab.probe("soc", [(netlab.SOC_IP, his[0].ips[0], 22)])[0]
        table.add_row(f"SOC → {his[0].hostname} (ssh)", "[green]ouvert[/]" if ok else "[red]fermé[/]")
    ctx.console.print(table)


def _adapters(ctx: DemoContext) -> tuple[dict[str, Adapter], NetLab | None]:
    why = netlab.available()
    if why is None:
        try:
            lab = NetLab(ctx.group, ctx.attacked, _other_clinic(ctx), ctx.attacker_ip).up()
        except (OSError, RuntimeError) as exc:  # a sandbox without namespaces: say so, go on
            why = f"namespaces unavailable ({exc})"
        else:
            config = registry.AdaptersConfig.model_validate(
                {"nftables": {"firewalls": lab.firewalls}, "dummy_for": ["ssh", "postfix", "webhook"]}
            )
            ctx.console.print(
                f"Réseau de démonstration : espaces de noms {lab.prefix}-* ; le pare-feu de "
                f"{ctx.attacked} est piloté pour de vrai par nftables (SSH et Postfix : adaptateur "
                "fictif, aucun serveur réel dans la démo)."
            )
            return registry.build(config), lab
    ctx.console.print(
        f"[yellow]Adaptateur fictif (dummy) pour tout : {why}. Rien n'est modifié hors de rempart.[/]"
    )
    return registry.build(None), None


def _approvers(loaded: LoadedPlan, establishment: str, roles: list[str], count: int) -> list[str]:
    """The plan's people who approve in the demo: one per role first, then others holding a role."""
    able = [p for p in loaded.plan.people if set(p.roles) & set(roles) and p.covers(establishment)]
    chosen: list[str] = []
    for role in roles:
        first = next((p.id for p in able if role in p.roles and p.id not in chosen), None)
        if first:
            chosen.append(first)
    chosen += [p.id for p in able if p.id not in chosen]
    return chosen[: max(count, 1)]


def run(ctx: DemoContext) -> None:
    if ctx.incident_id is None:
        ctx.console.print("[yellow]Aucun incident ouvert : pas de confinement.[/]")
        return
    loaded = load_plan(plan_path(ctx), ctx.group)
    adapters, lab = _adapters(ctx)
    ctx.facts["respond.adapters"] = adapters
    ctx.facts["respond.lab"] = lab
    access_open: Callable[[str], bool | None] = (
        (lambda access_id: _probe_access(ctx, lab, access_id)) if lab else (lambda _access_id: None)
    )
    ctx.facts["respond.access_open"] = access_open
    if lab:
        _connectivity(ctx, lab, "Avant le confinement")
    started = datetime.now(UTC)
    report = service.respond(ctx.store, ctx.incident_id, loaded, ctx.group, adapters, "rempart")
    ctx.run_id = report.run_id
    book = next(b for b in loaded.plan.playbooks if b.id == report.playbook)
    for step in report.steps:
        if step.status == "awaiting_approval":
            policy = next(s.approval for s in book.steps if s.id == step.step_id)
            for person in _approvers(loaded, report.establishment, policy.roles, policy.approvers):
                report = service.approve(ctx.store, report.run_id, step.step_id, actor(ctx, person), adapters)
    for step in report.steps:
        if step.status == "awaiting_ack":
            report = service.ack(
                ctx.store, report.run_id, step.step_id, actor(ctx, "astreinte-dsi"), "fait (démonstration)",
                adapters,
            )
    elapsed = (datetime.now(UTC) - started).total_seconds()
    _show(ctx, report, elapsed)
    if lab:
        _connectivity(ctx, lab, "Après le confinement")


def _show(ctx: DemoContext, report: service.RunReport, elapsed: float) -> None:
    with ctx.store.session() as s:
        entries = [e for e in incident_log.entries(s, ctx.incident_id or 0) if e.source == "respond"]
    table = Table(
        title=f"Exécution n° {report.run_id} du plan « {report.playbook} » : {report.status} "
        f"({elapsed:.1f} s)",
        show_edge=False,
    )
    table.add_column("heure (UTC)")
    table.add_column("par")
    table.add_column("action")
    for e in entries:
        table.add_row(e.at.strftime("%H:%M:%S.%f")[:-3], e.author, e.text)
        ctx.mark(e.at, STAGE, e.text)
    ctx.console.print(table)


def teardown(ctx: DemoContext) -> None:
    lab = ctx.facts.get("respond.lab")
    if isinstance(lab, NetLab):
        lab.down()
        ctx.facts["respond.lab"] = None
