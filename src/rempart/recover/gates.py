"""Re-opening gates: one per external access of the contained establishment.

A gate is passable when the access's containment is in place, every evidence check passes (the IOC
sweep has been clean for the configured time, no positive data-theft finding), every attestation the
policy asks is given, and the approvers the policy requires (people of the plan, by role) have approved.
Every check that fails says what was found and what to do; approvals are accepted only once the
evidence is complete, so that an approver signs off a complete file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.inventory import ExternalAccess, Group
from rempart.errors import InputError, StateError
from rempart.investigate import findings
from rempart.recover.policy import RecoveryPolicy, Rule
from rempart.respond import approvals
from rempart.respond.states import MAY_BE_IN_PLACE, StepStatus
from rempart.store import incident_log, journal
from rempart.store.models.core import IncidentRow
from rempart.store.models.recover import AttestationRow, ReopenApprovalRow
from rempart.store.models.respond import PlanRunRow

CLOSED, REOPENED, NOT_CONTAINED = "closed", "reopened", "not_contained"


@dataclass(frozen=True)
class Check:
    name: str  # sweep_clean, no_data_theft, attestation:<id>
    ok: bool
    detail: str  # what was found, with its numbers
    todo: str = ""  # what to do when it fails

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "todo": self.todo}


@dataclass
class Gate:
    incident_ref: str
    establishment: str
    access: ExternalAccess
    rule: Rule
    state: str  # closed (containment in place), reopened, not_contained
    run_id: int | None
    checks: list[Check] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    approval_missing: str = ""
    notes: list[str] = field(default_factory=list)  # what else keeps the access unreachable (not a refusal)
    held_by: list[dict[str, Any]] = field(default_factory=list)  # the same, as data: gateway, step, title

    @property
    def evidence_ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def passable(self) -> bool:
        return self.state == CLOSED and self.evidence_ok and not self.approval_missing

    def refusals(self) -> list[str]:
        """Why the gate is shut, one line per reason: which check, why, what to do."""
        out = []
        if self.state == REOPENED:
            out.append(f"containment: access '{self.access.id}' is already re-opened")
        elif self.state == NOT_CONTAINED:
            out.append(
                f"containment: no plan run closed access '{self.access.id}': there is nothing to re-open"
            )
        for c in self.checks:
            if not c.ok:
                out.append(f"{c.name}: {c.detail} — {c.todo}" if c.todo else f"{c.name}: {c.detail}")
        if self.approval_missing:
            out.append(
                f"approvals: still needed {self.approval_missing} — each approver runs "
                f"`rempart reopen {self.incident_ref} {self.access.id}`"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "access": self.access.id,
            "kind": str(self.access.kind),
            "state": self.state,
            "checks": [c.to_dict() for c in self.checks],
            "approvers": self.approvers,
            "approval_missing": self.approval_missing,
            "passable": self.passable,
            "notes": self.notes,
            "held_by": self.held_by,
        }


class GateClosed(StateError):
    """Raised when an operation needs a gate that is not passable; carries the gate and its reasons."""

    def __init__(self, gate: Gate, action: str) -> None:
        reasons = gate.refusals()
        super().__init__(
            f"{action} refused for access '{gate.access.id}' of {gate.establishment}:\n  - "
            + "\n  - ".join(reasons)
        )
        self.gate = gate


# ---------------------------------------------------------------------------------------------------------
def latest_run(session: Session, incident_id: int) -> PlanRunRow | None:
    return session.execute(
        select(PlanRunRow)
        .where(PlanRunRow.incident_id == incident_id)
        .order_by(PlanRunRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def access_state(run: PlanRunRow | None, access_id: str) -> str:
    """closed while some action containing the access is in place and not rolled back."""
    if run is None:
        return NOT_CONTAINED
    touched = False
    for step in run.steps:
        acts = [a for a in step.actions if access_id in (a.get("accesses") or ())]
        if not acts:
            continue
        touched = True
        in_place = StepStatus(step.status) in MAY_BE_IN_PLACE
        if in_place and any(a["key"] not in set(step.rolled_back_targets) for a in acts):
            return CLOSED
    return REOPENED if touched else NOT_CONTAINED


def held_gateway(run: PlanRunRow | None, access: ExternalAccess) -> list[dict[str, Any]]:
    """Other containment still in place on the access's gateway host: re-opening the access alone will not
    make it reachable (e.g. the VPN gateway was isolated as a compromised host)."""
    held_by: list[dict[str, Any]] = []
    gateway = access.gateway.split(".")[0].lower()
    for step in run.steps if run else []:
        if StepStatus(step.status) not in MAY_BE_IN_PLACE:
            continue
        held = [
            a
            for a in step.actions
            if a["target"].split(".")[0].lower() == gateway
            and access.id not in (a.get("accesses") or ())
            and a["key"] not in set(step.rolled_back_targets)
        ]
        if held:
            held_by.append(
                {"gateway": access.gateway, "run": step.run_id, "step": step.seq, "title": step.title}
            )
    return held_by


def _note(h: dict[str, Any]) -> str:
    return (
        f"gateway {h['gateway']} is still held by step {h['step']} « {h['title']} »: the access stays "
        f"unreachable until that step is rolled back for it "
        f"(`rempart rollback {h['run']} --step {h['step']}` once the host is rebuilt)"
    )


def _access(group: Group, establishment: str, access_id: str) -> ExternalAccess:
    est = group.establishment(establishment)
    for access in est.external_accesses:
        if access.id == access_id:
            return access
    raise InputError(
        f"{est.name} has no external access '{access_id}'",
        hint=f"its accesses: {', '.join(a.id for a in est.external_accesses)}",
    )


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def _fmt(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")


def sweep_check(session: Session, incident: IncidentRow, rule: Rule, now: datetime) -> Check:
    name = "sweep_clean"
    todo_sweep = f"run `rempart sweep {incident.ref}`"
    f = findings.current(session, incident.id, findings.FindingKind.PROPAGATION)
    if f is None:
        return Check(name, False, "no IOC sweep recorded for this incident", todo_sweep)
    swept_at = datetime.fromisoformat(f.data.get("swept_at") or f.created_at.isoformat())
    age = _hours(swept_at, now)
    if age > rule.sweep_max_age_hours:
        # evidence gathered days ago says nothing about what arrived since
        return Check(
            name,
            False,
            f"the last sweep (v{f.version}, {_fmt(swept_at)}) is {age:.0f} h old "
            f"({rule.sweep_max_age_hours:g} h at most)",
            f"{todo_sweep} again",
        )
    entry = next(
        (e for e in f.data.get("establishments", []) if e["establishment"] == incident.establishment), None
    )
    if (
        entry is None
        or entry["status"] == "no_data"
        or not entry.get("clean_since")
        or not entry.get("last_event")
    ):
        return Check(
            name,
            False,
            f"sweep v{f.version} found no event of {incident.establishment} to sweep",
            f"ingest the establishment's logs, then {todo_sweep}",
        )
    since = datetime.fromisoformat(entry["clean_since"])
    until = datetime.fromisoformat(entry["last_event"])
    clean = max(_hours(since, until), 0.0)
    what = "last indicator seen" if entry["status"] == "hits" else "no indicator in events since"
    detail = (
        f"sweep v{f.version}: {what} {_fmt(since)}, events swept up to {_fmt(until)}: clean for "
        f"{clean:.1f} h ({rule.sweep_clean_hours:g} h required)"
    )
    if clean < rule.sweep_clean_hours:
        return Check(
            name,
            False,
            detail,
            f"ingest the logs up to {_fmt(since + timedelta(hours=rule.sweep_clean_hours))} "
            f"or later, then {todo_sweep} again",
        )
    return Check(name, True, detail)


def theft_check(session: Session, incident: IncidentRow, rule: Rule) -> Check:
    name = "no_data_theft"
    if not rule.require_no_data_theft:
        return Check(name, True, "not required by the re-opening policy for this kind of access")
    f = findings.current(session, incident.id, findings.FindingKind.DATA_THEFT)
    if f is None:
        return Check(
            name, False, "no exfiltration assessment recorded", f"run `rempart exfil {incident.ref}`"
        )
    if f.positive:
        return Check(
            name,
            False,
            f"data-theft finding v{f.version} is POSITIVE: {f.summary}",
            "re-opening waits until a later assessment, on new evidence, supersedes it",
        )
    if not f.data.get("evaluable", True):
        return Check(
            name,
            False,
            f"data-theft finding v{f.version}: no firewall or Zeek flow logs to assess",
            f"ingest the FortiGate traffic / Zeek conn logs, then `rempart exfil {incident.ref}`",
        )
    mb = f.data.get("window_bytes", 0) / 1e6
    return Check(
        name,
        True,
        f"data-theft finding v{f.version} negative: {f.data.get('hosts_assessed', 0)} hosts, "
        f"{mb:,.1f} MB outbound in the window, none beyond baseline",
    )


_Row = TypeVar("_Row", AttestationRow, ReopenApprovalRow)


def _for_access(session: Session, model: type[_Row], incident_id: int, access_id: str) -> list[_Row]:
    """The attestations or re-opening approvals recorded for one access, oldest first."""
    return list(
        session.execute(
            select(model)
            .where(model.incident_id == incident_id, model.access_id == access_id)
            .order_by(model.id)
        ).scalars()
    )


def _decisions(session: Session, incident_id: int, access_id: str) -> list[tuple[str, str]]:
    """Re-opening approvals as the (person, decision) pairs that respond's approval rules read."""
    return [(a.approver, "approve") for a in _for_access(session, ReopenApprovalRow, incident_id, access_id)]


def evaluate(
    session: Session,
    incident: IncidentRow,
    group: Group,
    policy: RecoveryPolicy,
    access_id: str,
    now: datetime | None = None,
) -> Gate:
    """The gate of one access as it stands at ``now`` (the present by default)."""
    if not incident.establishment:
        raise StateError(f"{incident.ref} is attributed to no establishment: there is no access to re-open")
    access = _access(group, incident.establishment, access_id)
    rule = policy.rule_for(access)
    run = latest_run(session, incident.id)
    gate = Gate(
        incident.ref,
        incident.establishment,
        access,
        rule,
        access_state(run, access_id),
        run.id if run else None,
    )
    gate.held_by = held_gateway(run, access)
    gate.notes = [_note(h) for h in gate.held_by]
    gate.checks = [
        sweep_check(session, incident, rule, now or datetime.now(UTC)),
        theft_check(session, incident, rule),
    ]
    given = {a.check: a for a in _for_access(session, AttestationRow, incident.id, access_id)}
    for att in rule.attestations:
        row = given.get(att)
        if row is None:
            gate.checks.append(
                Check(
                    f"attestation:{att}",
                    False,
                    f"not attested: {policy.label(att)}",
                    f"`rempart attest {incident.ref} {access_id} {att}`",
                )
            )
        else:
            gate.checks.append(
                Check(f"attestation:{att}", True, f"attested by {row.author} on {_fmt(row.at)}")
            )
    decisions = _decisions(session, incident.id, access_id)
    gate.approvers = approvals.approvers(decisions)
    gate.approval_missing = approvals.missing(rule.approval, run.people if run else [], decisions)
    return gate


def evaluate_all(
    session: Session, incident: IncidentRow, group: Group, policy: RecoveryPolicy, now: datetime | None = None
) -> list[Gate]:
    if not incident.establishment:
        return []
    est = group.establishment(incident.establishment)
    return [evaluate(session, incident, group, policy, a.id, now) for a in est.external_accesses]


def _person(run: PlanRunRow | None, person: str) -> dict[str, Any]:
    people = {p["id"]: p for p in (run.people if run else [])}
    if person not in people:
        raise StateError(
            f"'{person}' is not a person of the security plan: only people listed under people: may attest "
            "or approve a re-opening",
            hint=f"known: {', '.join(sorted(people)) or 'none (no plan run)'}",
        )
    return people[person]


def attest(
    session: Session,
    incident: IncidentRow,
    group: Group,
    policy: RecoveryPolicy,
    access_id: str,
    check: str,
    person: str,
    note: str = "",
    now: datetime | None = None,
) -> AttestationRow:
    """``person`` vouches for one attestation the access's rule asks for."""
    when = now or datetime.now(UTC)
    gate = evaluate(session, incident, group, policy, access_id, when)
    if check not in gate.rule.attestations:
        raise InputError(
            f"access '{access_id}' ({gate.access.kind}) needs no attestation '{check}'",
            hint=f"its attestations: {', '.join(gate.rule.attestations) or 'none'}",
        )
    _person(latest_run(session, incident.id), person)
    row = AttestationRow(
        incident_id=incident.id, access_id=access_id, check=check, author=person, at=when, note=note
    )
    session.add(row)
    session.flush()
    journal.append(
        session,
        person,
        "reopen.attested",
        f"{incident.ref}/access/{access_id}",
        {"check": check, "note": note},
        at=when,
    )
    incident_log.record(
        session,
        incident.id,
        "recover",
        "decision",
        f"Attestation pour l'accès {access_id} : {policy.label(check)} — par {person}.",
        author=person,
        data={"access": access_id, "check": check},
        at=when,
    )
    return row


def approve(
    session: Session,
    incident: IncidentRow,
    group: Group,
    policy: RecoveryPolicy,
    access_id: str,
    person: str,
    now: datetime | None = None,
) -> Gate:
    """Record ``person``'s approval of re-opening the access; refused while any check fails."""
    when = now or datetime.now(UTC)
    gate = evaluate(session, incident, group, policy, access_id, when)
    if gate.state != CLOSED or not gate.evidence_ok:
        raise GateClosed(gate, f"approval by {person}")
    run = latest_run(session, incident.id)
    decisions = _decisions(session, incident.id, access_id)
    label = f"re-opening of access '{access_id}'"
    approvals.check_approver(
        gate.rule.approval, run.people if run else [], decisions, person, gate.establishment, label
    )
    roles = sorted(set(_person(run, person)["roles"]) & set(gate.rule.approval.roles))
    session.add(
        ReopenApprovalRow(incident_id=incident.id, access_id=access_id, approver=person, roles=roles, at=when)
    )
    session.flush()
    journal.append(
        session,
        person,
        "reopen.approved",
        f"{incident.ref}/access/{access_id}",
        {"roles": roles, "checks": [c.to_dict() for c in gate.checks]},
        at=when,
    )
    incident_log.record(
        session,
        incident.id,
        "recover",
        "decision",
        f"Réouverture de l'accès {access_id} approuvée par {person} ({', '.join(roles)}).",
        author=person,
        data={"access": access_id},
        at=when,
    )
    return evaluate(session, incident, group, policy, access_id, when)
