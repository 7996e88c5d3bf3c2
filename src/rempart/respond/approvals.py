"""Who may approve a step, and when a step has the approvals its policy demands.

Refusals are :class:`StateError` with a message saying exactly why, because the person typing
``rempart approve`` during an incident must not have to guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rempart.errors import StateError
from rempart.respond.plan import Approval, Person

PARIS = ZoneInfo("Europe/Paris")


def escalated(policy: Approval, waiting_since: datetime | None, at: datetime) -> bool:
    """Whether the step has waited past ``escalate_after`` minutes for its approvals."""
    if policy.escalate_after is None or waiting_since is None:
        return False
    return at - waiting_since >= timedelta(minutes=policy.escalate_after)


def allowed_roles(policy: Approval, is_escalated: bool) -> list[str]:
    """The roles whose holders may approve: the policy's, and once escalated its ``escalate_to`` too."""
    if not is_escalated:
        return list(policy.roles)
    return [*policy.roles, *(r for r in policy.escalate_to if r not in policy.roles)]


def _standins(policy: Approval, people: dict[str, Person], who: Sequence[str]) -> list[str]:
    """Approvers who hold none of the policy's roles, only an escalation role: each stands in for one."""
    return [
        pid for pid in who
        if pid in people and not set(people[pid].roles) & set(policy.roles)
        and set(people[pid].roles) & set(policy.escalate_to)
    ]


def uncovered_roles(
    policy: Approval, people: dict[str, Person], who: Sequence[str], is_escalated: bool
) -> list[str]:
    """The roles of an ``all_roles`` policy that no approver holds yet, once stand-ins are counted."""
    uncovered = sorted(set(policy.roles) - covered_roles(policy, people, who))
    if is_escalated:
        uncovered = uncovered[len(_standins(policy, people, who)):]
    return uncovered


def _people(snapshot: Sequence[dict[str, Any]]) -> dict[str, Person]:
    return {p["id"]: Person.model_validate(p) for p in snapshot}


def approvers(decisions: Sequence[tuple[str, str]]) -> list[str]:
    """Distinct people who approved, in order (``decisions`` are (person, decision) pairs)."""
    seen: list[str] = []
    for person, decision in decisions:
        if decision == "approve" and person not in seen:
            seen.append(person)
    return seen


def covered_roles(policy: Approval, people: dict[str, Person], who: Sequence[str]) -> set[str]:
    return {r for pid in who if pid in people for r in people[pid].roles if r in policy.roles}


def missing(
    policy: Approval,
    people_snapshot: Sequence[dict[str, Any]],
    decisions: Sequence[tuple[str, str]],
    is_escalated: bool = False,
) -> str:
    """What is still needed, or '' when the policy is satisfied (escalated: see :func:`escalated`)."""
    if policy.automatic:
        return ""
    people = _people(people_snapshot)
    who = approvers(decisions)
    needs: list[str] = []
    if len(who) < policy.approvers:
        needs.append(
            f"{policy.approvers - len(who)} more approver(s) among roles "
            f"{', '.join(allowed_roles(policy, is_escalated))} (have {len(who)}: {', '.join(who) or 'none'})"
        )
    if policy.all_roles:
        uncovered = uncovered_roles(policy, people, who, is_escalated)
        if uncovered:
            standin = f" or {', '.join(policy.escalate_to)}" if is_escalated else ""
            needs.append(f"an approver holding role {', '.join(uncovered)}{standin}")
    if needs and policy.escalate_to and not is_escalated:
        needs.append(
            f"after {policy.escalate_after} min of waiting, {', '.join(policy.escalate_to)} may stand in"
        )
    return "; ".join(needs)


def missing_fr(policy: Approval, people_snapshot: Sequence[dict[str, Any]]) -> str:
    """For the main courante (French): who must approve, before any approval is given."""
    people = _people(people_snapshot)
    names = [p.name for p in people.values() if set(p.roles) & set(policy.roles)]
    each = " (au moins une par rôle)" if policy.all_roles else ""
    if policy.escalate_to:
        each += (f" ; à défaut au bout de {policy.escalate_after} min, le rôle "
                 f"{', '.join(policy.escalate_to)} peut suppléer")
    return (
        f"{policy.approvers} approbation(s) distincte(s) requise(s) parmi les rôles "
        f"{', '.join(policy.roles)}{each} — peuvent approuver : {', '.join(names)}"
    )


def check_approver(
    policy: Approval,
    people_snapshot: Sequence[dict[str, Any]],
    decisions: Sequence[tuple[str, str]],
    person_id: str,
    establishment: str,
    step_label: str,
    waiting_since: datetime | None = None,
    at: datetime | None = None,
) -> Person:
    """Raise a clear :class:`StateError` unless ``person_id`` may add an approval to this step now
    (``waiting_since``/``at``: how long it has waited, for escalation)."""
    if policy.automatic:
        raise StateError(f"{step_label} runs automatically: it needs no approval")
    is_escalated = at is not None and escalated(policy, waiting_since, at)
    people = _people(people_snapshot)
    person = people.get(person_id)
    if person is None:
        raise StateError(
            f"'{person_id}' is not a person of the plan: only people listed under people: may approve",
            hint=f"known: {', '.join(sorted(people))}",
        )
    allowed = allowed_roles(policy, is_escalated)
    roles = set(person.roles) & set(allowed)
    if not roles:
        if set(person.roles) & set(policy.escalate_to) and waiting_since is not None:
            when = (waiting_since + timedelta(minutes=policy.escalate_after or 0)).astimezone(PARIS)
            raise StateError(
                f"{person_id} holds role {', '.join(person.roles)}, which may stand in for the approvers of "
                f"{step_label} only from {when:%H:%M} Paris time ({policy.escalate_after} min after the "
                "request)"
            )
        raise StateError(
            f"{person_id} holds role {', '.join(person.roles)}; {step_label} needs an approver "
            f"holding one of: {', '.join(allowed)}"
        )
    if not person.covers(establishment):
        raise StateError(
            f"{person_id} may approve only for {', '.join(person.establishments)}, "
            f"not for establishment {establishment}"
        )
    who = approvers(decisions)
    if person_id in who:
        raise StateError(
            f"{person_id} has already approved {step_label}; it needs {policy.approvers} "
            "distinct approvers, the same person cannot count twice"
        )
    if policy.all_roles:
        uncovered = set(uncovered_roles(policy, people, who, is_escalated))
        slots = policy.approvers - len(who)
        standin = is_escalated and not roles & set(policy.roles)
        if uncovered and slots <= len(uncovered) and not (roles & uncovered) and not standin:
            raise StateError(
                f"{step_label} still needs role {', '.join(sorted(uncovered))}; {person_id} holds "
                f"{', '.join(sorted(roles))}, which is already covered"
            )
    return person
