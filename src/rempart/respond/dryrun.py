"""Dry run: exactly which commands or calls a plan would make for an incident, in order; nothing runs."""

from __future__ import annotations

from dataclasses import dataclass

from rempart.domain.inventory import Group
from rempart.respond.engine import actions_of, adapter_for
from rempart.respond.interface import Adapters, Operation
from rempart.respond.plan import Approval, LoadedPlan
from rempart.respond.selection import IncidentFacts, choose_playbook, expand, find_incident
from rempart.store.db import Store
from rempart.store.models.respond import PlanStepRow


@dataclass
class DryStep:
    seq: int
    step_id: str
    title: str
    adapter: str
    approval: str
    targets: list[str]
    operations: list[Operation]
    rollback: list[Operation]


@dataclass
class DryRun:
    incident_ref: str
    playbook: str
    title: str
    establishments: list[str]
    steps: list[DryStep]


def describe_approval(policy: Approval) -> str:
    if policy.automatic:
        return "automatic"
    both = " (each role)" if policy.all_roles else ""
    return f"{policy.approvers} distinct approvers among {', '.join(policy.roles)}{both}"


def dry_run(
    store: Store, incident: str | int, loaded: LoadedPlan, group: Group, adapters: Adapters
) -> DryRun:
    """Exactly which commands or calls the plan would make for this incident, in order; nothing runs."""
    with store.session() as s:
        inc = find_incident(s, incident)
        facts = IncidentFacts.from_row(inc)
    book = choose_playbook(loaded.plan, facts, group)
    steps = []
    ests: list[str] = []
    for sp in expand(book, facts, group, "dry"):
        row = PlanStepRow(adapter=sp.adapter, seq=sp.seq, step_id=sp.step_id)
        adapter = adapter_for(adapters, row)
        row.actions = [a.to_dict() for a in sp.actions]
        acts = actions_of(row)
        ests += [a.establishment for a in acts if a.establishment not in ests]
        steps.append(
            DryStep(
                sp.seq,
                sp.step_id,
                sp.title,
                sp.adapter,
                describe_approval(Approval.model_validate(sp.approval)),
                [a.target for a in acts],
                adapter.plan("apply", acts) if acts else [],
                adapter.plan("rollback", acts) if acts and sp.reversible else [],
            )
        )
    return DryRun(facts.ref, book.id, book.title, ests, steps)
