"""Who may approve a step, and when a step has the approvals its policy demands.

Refusals are :class:`StateError` with a message saying exactly why, because the person typing
``rempart approve`` during an incident must not have to guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rempart.errors import StateError
from rempart.respond.plan import Approval, Person


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
    policy: Approval, people_snapshot: Sequence[dict[str, Any]], decisions: Sequence[tuple[str, str]]
) -> str:
    """What is still needed, or '' when the policy is satisfied."""
    if policy.automatic:
        return ""
    people = _people(people_snapshot)
    who = approvers(decisions)
    needs: list[str] = []
    if len(who) < policy.approvers:
        needs.append(
            f"{policy.approvers - len(who)} more approver(s) among roles {', '.join(policy.roles)}"
            f" (have {len(who)}: {', '.join(who) or 'none'})"
        )
    if policy.all_roles:
        uncovered = sorted(set(policy.roles) - covered_roles(policy, people, who))
        if uncovered:
            needs.append(f"an approver holding role {', '.join(uncovered)}")
    return "; ".join(needs)


def missing_fr(policy: Approval, people_snapshot: Sequence[dict[str, Any]]) -> str:
    """For the main courante (French): who must approve, before any approval is given."""
    people = _people(people_snapshot)
    names = [p.name for p in people.values() if set(p.roles) & set(policy.roles)]
    each = " (au moins une par rôle)" if policy.all_roles else ""
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
) -> Person:
    """Raise a clear :class:`StateError` unless ``person_id`` may add an approval to this step now."""
    if policy.automatic:
        raise StateError(f"{step_label} runs automatically: it needs no approval")
    people = _people(people_snapshot)
    person = people.get(person_id)
    if person is None:
        raise StateError(
            f"'{person_id}' is not a person of the plan: only people listed under people: may approve",
            hint=f"known: {', '.join(sorted(people))}",
        )
    roles = set(person.roles) & set(policy.roles)
    if not roles:
        raise StateError(
            f"{person_id} holds role {', '.join(person.roles)}; {step_label} needs an approver "
            f"holding one of: {', '.join(policy.roles)}"
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
        uncovered = set(policy.roles) - covered_roles(policy, people, who)
        slots = policy.approvers - len(who)
        if uncovered and slots <= len(uncovered) and not (roles & uncovered):
            raise StateError(
                f"{step_label} still needs role {', '.join(sorted(uncovered))}; {person_id} holds "
                f"{', '.join(sorted(roles))}, which is already covered"
            )
    return person
