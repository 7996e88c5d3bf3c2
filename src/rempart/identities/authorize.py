"""What an authenticated actor may reach: the same checks for the CLI, the console and the API.

Each check raises :class:`~rempart.errors.StateError` naming the account and what it is scoped to, so
that every interface refuses in the same words. Reads take the same scope as changes (establishments,
incidents); an auditor reads everything and changes nothing.
"""

from __future__ import annotations

from rempart.domain.actors import Actor
from rempart.errors import StateError


def check_writes(actor: Actor) -> None:
    """Refuse a read-only account (auditor) anything that changes the case."""
    if actor.read_only:
        raise StateError(
            f"{actor.account} holds only read-only roles ({', '.join(actor.roles)}): "
            "it cannot change anything"
        )


def check_carries_out(actor: Actor) -> None:
    """Refuse an observer (auditor, outside investigator) the hands-on work of the crisis: plan steps,
    downtime kits, paper forms."""
    check_writes(actor)
    if not actor.carries_out_plans:
        raise StateError(
            f"{actor.account} ({', '.join(actor.roles)}) observes the plan: it does not carry out its steps"
        )


def check_scope(actor: Actor, establishment: str) -> None:
    """Refuse an account scoped to other establishments (a clinic's IT staff, its director)."""
    if not actor.covers(establishment):
        raise StateError(
            f"{actor.account} acts only for {', '.join(actor.establishments)}, not for {establishment}"
        )


def check_incident(actor: Actor, ref: str, establishment: str | None) -> None:
    """Refuse an incident outside the account's scope: its incidents, then its establishments (an incident
    outside the inventory belongs to no establishment: only group-wide accounts see it)."""
    if not actor.may_see(ref):
        raise StateError(f"{actor.account} works only on {', '.join(actor.incidents)}, not on {ref}")
    if actor.establishments and (establishment is None or not actor.covers(establishment)):
        raise StateError(
            f"{actor.account} acts only for {', '.join(actor.establishments)}, not for {ref} "
            f"({establishment or 'outside the inventory'})"
        )


def sees_incident(actor: Actor, ref: str, establishment: str | None) -> bool:
    """Whether a listing shows this incident to ``actor``."""
    try:
        check_incident(actor, ref, establishment)
    except StateError:
        return False
    return True


def check_patient_data(actor: Actor, establishment: str, what: str) -> None:
    """Refuse patients' identities and care to roles that do not need them (CNIL: need to know)."""
    check_scope(actor, establishment)
    if not actor.sees_patient_data:
        raise StateError(
            f"{actor.account} ({', '.join(actor.roles) or 'no role'}) may not see patient data: {what} "
            "shows patients' identities and care",
            hint="ask the establishment's IT on call, its director or the RSSI",
        )


def check_group_wide(actor: Actor, what: str) -> None:
    """Refuse an account scoped to some establishments or incidents a view of the whole group."""
    if actor.establishments or actor.incidents:
        scope = ", ".join(actor.establishments + actor.incidents)
        raise StateError(
            f"{actor.account} acts only for {scope}: {what} covers the whole group",
            hint="ask an account of the group's security team (RSSI, auditor)",
        )


def check_admin(actor: Actor) -> None:
    if not actor.admin:
        raise StateError(f"{actor.account} is not an administrator of the accounts")
