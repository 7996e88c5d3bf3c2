"""From an incident and a plan to concrete actions: which playbook applies, on which establishments,
and for each step which targets of the inventory it acts on, with every address and port resolved.

Resolving everything when the run is planned makes a run self-contained: the inventory or the plan may
change during the incident, a resumed run still does exactly what was reviewed and approved.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.alerts import Level
from rempart.domain.inventory import AccessKind, Asset, AssetRole, Establishment, Group
from rempart.errors import StateError
from rempart.respond.interface import Action
from rempart.respond.plan import ActionKind, Plan, Playbook, Step, Trigger
from rempart.store.models.core import IncidentRow

MAIL_OUT_PORTS = (25, 465, 587)  # a compromised mail server must not send
MAIL_IN_PORTS = (25, 465, 587, 143, 993, 110, 995)  # nor receive or serve mailboxes from outside


@dataclass(frozen=True)
class IncidentFacts:
    """What triggers look at, read from the case store."""

    id: int
    ref: str
    establishment: str | None
    level: Level
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    rule_ids: tuple[str, ...]
    hosts: tuple[str, ...]
    exercise: bool = False

    @classmethod
    def from_row(cls, row: IncidentRow) -> IncidentFacts:
        return cls(
            id=row.id,
            ref=row.ref,
            establishment=row.establishment,
            level=Level.parse(row.severity),
            tactics=tuple(row.tactics or ()),
            techniques=tuple(row.techniques or ()),
            rule_ids=tuple(sorted({a.rule_id for a in row.alerts})),
            hosts=tuple(row.hosts or ()),
            exercise=bool(row.exercise),
        )


def _host_roles(facts: IncidentFacts, group: Group) -> set[str]:
    roles: set[str] = set()
    for est in group.establishments:
        for host in facts.hosts:
            asset = est.asset(host)
            if asset is not None:
                roles.add(asset.role.value)
    return roles


def matches(trigger: Trigger, facts: IncidentFacts, group: Group) -> bool:
    checks = [
        facts.level >= Level.parse(trigger.min_level),
        not trigger.tactics or bool(set(trigger.tactics) & set(facts.tactics)),
        not trigger.techniques
        or any(
            t == f or t.startswith(f + ".") or f.startswith(t + ".")
            for t in facts.techniques
            for f in trigger.techniques
        ),
        not trigger.rule_ids or bool(set(trigger.rule_ids) & set(facts.rule_ids)),
        not trigger.asset_roles or bool({r.value for r in trigger.asset_roles} & _host_roles(facts, group)),
        not trigger.establishments or facts.establishment in trigger.establishments,
        trigger.exercise is None or trigger.exercise == facts.exercise,
    ]
    return all(checks)


def choose_playbook(plan: Plan, facts: IncidentFacts, group: Group) -> Playbook:
    """The first playbook whose trigger matches (the plan lists the most specific first)."""
    for book in plan.playbooks:
        if matches(book.trigger, facts, group):
            return book
    raise StateError(
        f"no playbook of the plan matches incident {facts.ref} (level {facts.level}, "
        f"tactics {', '.join(facts.tactics) or 'none'})",
        hint="check the triggers with `rempart plan show`",
    )


def scope_establishments(book: Playbook, facts: IncidentFacts, group: Group) -> list[Establishment]:
    if facts.establishment is None:
        raise StateError(f"incident {facts.ref} is attributed to no establishment: the plan cannot be scoped")
    if book.scope == "group":
        return list(group.establishments)
    if book.scope == "pole":
        return list(group.pole_of(facts.establishment).establishments)
    return [group.establishment(facts.establishment)]


@dataclass
class StepSpec:
    """One step of a run, resolved: what the engine stores and executes."""

    seq: int
    step_id: str
    title: str
    action: str
    adapter: str
    approval: dict[str, Any]
    timeout: float
    attempts: int
    backoff: float
    verify: bool
    reversible: bool
    blocks: bool
    actions: list[Action] = field(default_factory=list)


def _addresses(values: list[str]) -> list[str]:
    # IPv4 and IPv6 alike (validated by the inventory); the firewall adapter writes one rule per family
    return [str(ipaddress.ip_network(v, strict=False)) if "/" in v else v for v in values]


def _selected_assets(step: Step, est: Establishment, facts: IncidentFacts) -> list[Asset]:
    t = step.targets
    wanted_hosts = {h.split(".")[0].lower() for h in t.hosts}
    compromised = {h.split(".")[0].lower() for h in facts.hosts}
    out: list[Asset] = []
    for asset in est.assets:
        if asset.role in t.exclude_roles:
            continue
        by_role = bool(t.roles) and asset.role in t.roles
        by_name = asset.short_name in wanted_hosts
        by_incident = t.compromised and asset.short_name in compromised
        if by_role or by_name or by_incident:
            out.append(asset)
    return out


def _messaging_of(est: Establishment, asset: Asset) -> tuple[str, ...]:
    ids = [
        x.id
        for x in est.external_accesses
        if x.kind is AccessKind.MESSAGING and est.asset(x.gateway) == asset
    ]
    return tuple(ids)


def _firewall(est: Establishment) -> str | None:
    fw = est.assets_with_role(AssetRole.FIREWALL)
    return fw[0].hostname if fw else None


def _asset_action(step: Step, est: Establishment, asset: Asset, key: str, ctx: dict[str, Any]) -> Action:
    kind = step.action
    base = {
        "host": asset.hostname,
        "address": asset.ips[0] if asset.ips else asset.hostname,
        "user": asset.ssh_user,
        "firewall": ctx["firewall"],
    }
    accesses: tuple[str, ...] = ()
    if kind is ActionKind.BLOCK_MAIL:
        params = {
            **base,
            "hosts": _addresses(asset.ips),
            "ports_out": list(MAIL_OUT_PORTS),
            "ports_in": list(MAIL_IN_PORTS),
            "internal": ctx["internal"],
            "allow": ctx["allow"],
        }
        accesses = _messaging_of(est, asset)
    elif kind is ActionKind.ISOLATE_HOST:
        params = {**base, "hosts": _addresses(asset.ips), "allow": ctx["allow"]}
    elif kind is ActionKind.STOP_SERVICE:
        params = {**base, "services": list(step.services or asset.services)}
    elif kind is ActionKind.HOLD_QUEUE:
        params = base
        accesses = _messaging_of(est, asset)
    else:  # shutdown
        params = base
    return Action(kind.value, key, est.id, asset.hostname, params, accesses)


def _render(text: str, values: dict[str, str]) -> str:
    class Keep(dict[str, str]):
        def __missing__(self, name: str) -> str:
            return "{" + name + "}"

    return text.format_map(Keep(values))


def _step_actions(
    step: Step, est: Establishment, facts: IncidentFacts, group: Group, prefix: str
) -> list[Action]:
    ctx = {
        "internal": _addresses(est.networks),
        "allow": _addresses(group.soc.allowlist),
        "firewall": _firewall(est),
    }
    key = f"{prefix}-{step.id}-{est.id}"
    values = {
        "incident": facts.ref,
        "establishment": est.id,
        "establishment_name": est.name,
        "finess": est.finess,
    }
    if step.action is ActionKind.CLOSE_ACCESS:
        out = []
        for x in est.external_accesses:
            if x.kind in step.targets.access_kinds or x.id in step.targets.access_ids:
                gw = est.asset(x.gateway)
                dst = _addresses((gw.ips if gw else []) + est.networks)
                params = {
                    "kind": x.kind.value,
                    "ports": [p.model_dump() for p in x.ports],
                    "dst": dst,
                    "internal": ctx["internal"],
                    "allow": ctx["allow"],
                    "firewall": ctx["firewall"],
                    "gateway": x.gateway,
                }
                out.append(Action(step.action.value, f"{key}-{x.id}", est.id, x.id, params, (x.id,)))
        return out
    if step.action is ActionKind.MANUAL:
        assets = _selected_assets(step, est, facts) if step.targets.selects_assets else []
        targets = [a.hostname for a in assets] or [est.id]
        return [
            Action(
                "manual",
                f"{key}-{t}" if assets else key,
                est.id,
                t,
                {
                    "instruction": _render(step.instruction or "", {**values, "target": t}),
                    "establishment_name": est.name,
                },
            )
            for t in targets
        ]
    if step.action is ActionKind.CALL:
        req = {k: (_render(v, values) if isinstance(v, str) else v) for k, v in step.request.items()}
        return [Action("call", key, est.id, est.id, {"request": req})]
    return [
        _asset_action(step, est, a, f"{key}-{a.short_name}", ctx) for a in _selected_assets(step, est, facts)
    ]


def expand(book: Playbook, facts: IncidentFacts, group: Group, prefix: str) -> list[StepSpec]:
    """Resolve every step of ``book`` on the incident's scope; ``prefix`` makes action keys unique per run."""
    ests = scope_establishments(book, facts, group)
    specs: list[StepSpec] = []
    for seq, step in enumerate(book.steps, start=1):
        actions = [a for est in ests for a in _step_actions(step, est, facts, group, prefix)]
        specs.append(
            StepSpec(
                seq=seq,
                step_id=step.id,
                title=step.title,
                action=step.action.value,
                adapter=step.adapter_name,
                approval=step.approval.model_dump(),
                timeout=step.timeout,
                attempts=step.retry.attempts,
                backoff=step.retry.backoff,
                verify=step.verify,
                reversible=step.rollback,
                blocks=step.blocks,
                actions=actions,
            )
        )
    return specs


def find_incident(session: Session, incident: str | int) -> IncidentRow:
    text = str(incident).strip()
    query = select(IncidentRow).where(IncidentRow.ref == text.upper())
    if text.isdigit():
        query = select(IncidentRow).where(IncidentRow.id == int(text))
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise StateError(
            f"no incident '{incident}' in the case store", hint="give its reference, e.g. INC-0001"
        )
    return row
