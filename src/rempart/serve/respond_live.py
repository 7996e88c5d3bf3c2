"""Live response: the alerts of each micro-batch open or grow incidents, and the plan runs at once.

The live loop hands :meth:`LiveResponder.on_alerts` the alerts of a batch. They are grouped into
incidents by the detect stage's own service (so ``rempart hunt`` and ``rempart serve`` agree), and the
plan is started or resumed once per incident and batch, however many alerts the batch holds: the engine
applies automatic steps at once and stops at steps that need approval. The approvers of such a step are
told out of band (mail through the relay, a webhook), once per step.

Replay after a crash hands the same alerts again; nothing happens twice:
- an alert already stored (same rule, host, time and events) is not added again (``open_incidents``);
- after the plan ran for an incident, ``live.handled`` is journaled with the incident's alert count; an
  incident is handed to the plan again only when it holds more alerts than that, so a crash between
  storing the alerts and running the plan is caught up on replay, and a finished replay does nothing;
- the engine never re-applies a step already applied (it resumes the run);
- an approval notice is journaled (``approval.notified``) once sent, and not sent again. A crash between
  the relay taking the mail and that journal entry sends it once more, with the same Message-ID, so the
  approver's mail client shows it once.

The blocking work (SQLite, adapters, SMTP) runs in one worker thread so intake keeps going, and in order,
so two batches never race on the same run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.detect.incidents import DEFAULT_INCIDENT_LEVEL, DEFAULT_WINDOW, _alert_key, open_incidents
from rempart.domain.alerts import Alert, Level
from rempart.domain.inventory import Group
from rempart.errors import RempartError
from rempart.notify.transport import Transport
from rempart.respond import approvals, service
from rempart.respond.engine import subject
from rempart.respond.interface import Action, Adapter, AdapterError, Adapters
from rempart.respond.plan import Approval, LoadedPlan
from rempart.respond.selection import IncidentFacts, matches
from rempart.respond.states import StepStatus
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.models.core import AlertRow, IncidentRow, JournalRow
from rempart.store.models.respond import PlanRunRow, PlanStepRow

log = logging.getLogger(__name__)

HANDLED = "live.handled"
NOTIFIED = "approval.notified"
NOTICE_FAILED = "approval.notice_failed"
ESCALATION_NOTIFIED = "approval.escalation_notified"


@dataclass(frozen=True)
class StepLatency:
    """From :meth:`LiveResponder.on_alerts` being called to an automatic step applied."""

    incident: str
    run_id: int
    step_id: str
    seconds: float


@dataclass(frozen=True)
class Notice:
    """Approvers told that a step waits for them."""

    incident: str
    run_id: int
    step_id: str
    mailed: tuple[str, ...]  # addresses
    webhook: bool
    error: str | None = None  # why it was not (fully) delivered; retried at the next batch


@dataclass
class LiveOutcome:
    opened: list[str] = field(default_factory=list)  # incident refs
    grown: list[str] = field(default_factory=list)
    runs: list[service.RunReport] = field(default_factory=list)
    unplanned: list[str] = field(default_factory=list)  # incidents no playbook's trigger matches
    notices: list[Notice] = field(default_factory=list)
    latencies: list[StepLatency] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ApproverChannels:
    """How approvers are reached out of band: their addresses (plan person id → mail) and a webhook.

    ``webhook`` is the webhook adapter (``rempart.adapters.webhook``); the notice is posted as one
    ``call`` action to ``webhook_url``.
    """

    mail: dict[str, str] = field(default_factory=dict)
    transport: Transport | None = None
    webhook: Adapter | None = None
    webhook_url: str | None = None
    timeout: float = 10.0


class LiveResponder:
    def __init__(
        self,
        store: Store,
        plan: LoadedPlan,
        group: Group,
        adapters: Adapters,
        channels: ApproverChannels | None = None,
        window: timedelta = DEFAULT_WINDOW,
        min_level: Level = DEFAULT_INCIDENT_LEVEL,
        actor: str = "rempart",
        adapters_source: str | None = None,
    ) -> None:
        self.store = store
        self.plan = plan
        self.group = group
        self.adapters = adapters
        self.channels = channels or ApproverChannels()
        self.window = window
        self.min_level = min_level
        self.actor = actor
        self.adapters_source = adapters_source
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rempart-respond")
        self._undelivered: set[int] = set()  # runs with a notice the relay or webhook refused
        self._partly: dict[tuple[int, int, bool], set[str]] = {}  # (run, seq, escalation) → delivered by

    async def on_alerts(self, alerts: Sequence[Alert]) -> LiveOutcome:
        """Store the batch's alerts into incidents and run the plan for those that opened or grew."""
        called = time.monotonic()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self.handle, list(alerts), called)

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def handle(self, alerts: list[Alert], called: float | None = None) -> LiveOutcome:
        """The blocking part of :meth:`on_alerts` (``called``: its ``time.monotonic()``)."""
        start = time.monotonic() if called is None else called
        wall = datetime.now(UTC) - timedelta(seconds=time.monotonic() - start)
        out = LiveOutcome()
        with self.store.session() as s:
            before = s.execute(select(func.max(IncidentRow.id))).scalar_one() or 0
        touched = open_incidents(self.store, alerts, self.window, min_level=self.min_level)
        refs: dict[int, str] = {}
        for row in touched:
            (out.opened if row.id > before else out.grown).append(row.ref)
            refs[row.id] = row.ref
        # a replay after a crash between storing the alerts and running the plan: catch up on them
        for inc_id, ref in self._holding(alerts).items():
            refs.setdefault(inc_id, ref)
        for inc_id, ref in sorted(refs.items()):
            try:
                self._respond(inc_id, ref, wall, out)
            except RempartError as exc:
                out.errors.append(f"{ref}: {exc.message}")
                log.error("live response to %s failed: %s", ref, exc.message)
        for run_id in sorted(self._undelivered - {r.run_id for r in out.runs}):
            self._undelivered.discard(run_id)
            try:  # try again, at each batch
                self._notify(service.show_run(self.store, run_id), out)
            except RempartError as exc:
                self._undelivered.add(run_id)
                out.errors.append(f"run {run_id}: {exc.message}")
        return out

    def _holding(self, alerts: list[Alert]) -> dict[int, str]:
        """The open incidents that hold some of these alerts (by the identity the store uses)."""
        kept = [a for a in alerts if a.level >= self.min_level]
        if not kept:
            return {}
        keys = {_alert_key(a.rule_id, a.host, a.time, [str(e) for e in a.events]) for a in kept}
        found: dict[int, str] = {}
        with self.store.session() as s:
            # only the batch's rules and time span: the query stays small however big the store grows
            rows = s.execute(
                select(AlertRow.incident_id, AlertRow.rule_id, AlertRow.host, AlertRow.time, AlertRow.events,
                       IncidentRow.ref)
                .join(IncidentRow, IncidentRow.id == AlertRow.incident_id)
                .where(AlertRow.rule_id.in_({a.rule_id for a in kept}), IncidentRow.status == "open",
                       AlertRow.time >= min(a.time for a in kept), AlertRow.time <= max(a.time for a in kept))
            ).all()
            for inc_id, rule_id, host, at, events, ref in rows:
                key = _alert_key(rule_id, host, at, events)
                if inc_id is not None and inc_id not in found and key in keys:
                    found[inc_id] = ref
        return found

    def _respond(self, inc_id: int, ref: str, wall: datetime, out: LiveOutcome) -> None:
        with self.store.session() as s:
            row = s.get(IncidentRow, inc_id)
            assert row is not None
            count = s.execute(
                select(func.count(AlertRow.id)).where(AlertRow.incident_id == inc_id)
            ).scalar_one()
            if count <= _handled_count(s, ref):
                return
            facts = IncidentFacts.from_row(row)
            planned = any(matches(b.trigger, facts, self.group) for b in self.plan.plan.playbooks)
        if not planned:
            out.unplanned.append(ref)
            self._mark_handled(ref, count, None)
            return
        report = service.respond(self.store, inc_id, self.plan, self.group, self.adapters, self.actor,
                                 adapters_source=self.adapters_source)
        out.runs.append(report)
        for step in report.steps:
            if (step.status in (StepStatus.APPLIED, StepStatus.VERIFIED) and step.finished_at is not None
                    and _aware(step.finished_at) >= wall and not step.approved_by):
                seconds = (_aware(step.finished_at) - wall).total_seconds()
                out.latencies.append(StepLatency(ref, report.run_id, step.step_id, seconds))
                log.info("%s step %s applied %.3f s after its alerts arrived", ref, step.step_id, seconds)
        self._notify(report, out)  # before the mark: a crash in between tells the approvers on replay
        self._mark_handled(ref, count, report.run_id)

    def _mark_handled(self, ref: str, count: int, run_id: int | None) -> None:
        with self.store.session() as s:
            journal.append(s, self.actor, HANDLED, f"incident/{ref}", {"alerts": count, "run": run_id})

    # -- approvers, out of band --------------------------------------------------------------------
    def _notify(
        self, report: service.RunReport, out: LiveOutcome, at: datetime | None = None,
        escalation: bool = False,
    ) -> None:
        """Tell the approvers of each step waiting for approval, once; ``escalation``: tell the roles that
        may stand in, once the step has waited ``escalate_after`` minutes at ``at``."""
        waiting = [st for st in report.steps if st.status == StepStatus.AWAITING_APPROVAL]
        if not waiting or (self.channels.transport is None and self.channels.webhook is None):
            return
        action = ESCALATION_NOTIFIED if escalation else NOTIFIED
        with self.store.session() as s:
            run = s.get(PlanRunRow, report.run_id)
            assert run is not None
            policies = {st.seq: Approval.model_validate(st.approval) for st in run.steps}
            sent = {r.subject for r in s.execute(
                select(JournalRow).where(JournalRow.action == action,
                                         JournalRow.subject.startswith(subject(report.run_id) + "/"))
            ).scalars()}
        todo = [st for st in waiting if subject(report.run_id, st.seq) not in sent and (
            not escalation or approvals.escalated(policies[st.seq], st.started_at, at or datetime.now(UTC)))]
        if not todo:
            return
        dry = {d.seq: d for d in service.dry_run(self.store, report.incident_ref, self.plan, self.group,
                                                  self.adapters).steps}
        for step in todo:
            policy = policies[step.seq]
            roles = set(policy.escalate_to) - set(policy.roles) if escalation else set(policy.roles)
            people = [p for p in self.plan.plan.people
                      if set(p.roles) & roles and p.covers(report.establishment)]
            ops = [op.render() for op in dry[step.seq].operations] if step.seq in dry else []
            part = (report.run_id, step.seq, escalation)
            done = self._partly.pop(part, set())
            notice = self._send(report, step, [p.id for p in people], policy, ops, done, escalation)
            out.notices.append(notice)
            if notice.error:  # a retry uses only the channels that failed
                self._undelivered.add(report.run_id)
                self._partly[part] = (
                    done | ({"mail"} if notice.mailed else set()) | ({"webhook"} if notice.webhook else set())
                )
                log.warning("%s: approvers of step %s not told: %s", report.incident_ref, step.step_id,
                            notice.error)
            with self.store.session() as s:
                journal.append(
                    s, self.actor, NOTICE_FAILED if notice.error else action,
                    subject(report.run_id, step.seq),
                    {"incident": report.incident_ref, "step": step.step_id, "mailed": list(notice.mailed),
                     "webhook": notice.webhook, "error": notice.error, "escalation": escalation},
                )

    async def on_tick(self, at: datetime | None = None) -> LiveOutcome:
        """Between batches (every minute or so): tell stand-ins of steps that waited past escalation."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self.escalations, at)

    def escalations(self, at: datetime | None = None) -> LiveOutcome:
        """The blocking part of :meth:`on_tick`."""
        out = LiveOutcome()
        with self.store.session() as s:
            rows = s.execute(
                select(PlanStepRow.run_id, PlanStepRow.approval)
                .where(PlanStepRow.status == StepStatus.AWAITING_APPROVAL.value)
            ).all()
        due = sorted({run_id for run_id, approval in rows if Approval.model_validate(approval).escalate_to})
        for run_id in due:
            self._notify(service.show_run(self.store, run_id), out, at, escalation=True)
        return out

    def _send(
        self, report: service.RunReport, step: service.StepView, people: list[str], policy: Approval,
        ops: list[str], done: set[str], escalation: bool = False,
    ) -> Notice:
        ch = self.channels
        text = _notice_text(report, step, policy, ops, escalation)
        subject_line = (f"[rempart] {report.incident_ref} : "
                        f"{'suppléance possible' if escalation else 'approbation requise'} — {step.title}")
        errors: list[str] = []
        mailed: list[str] = []
        to = [ch.mail[p] for p in people if p in ch.mail]
        if "mail" in done:
            pass
        elif ch.transport is not None and to:
            msg = EmailMessage()
            msg["From"] = ch.transport.sender
            msg["To"] = ", ".join(to)
            msg["Subject"] = subject_line
            msg["Date"] = format_datetime(datetime.now(UTC))
            # the same notice always has the same id: a resend after a crash shows once
            domain = ch.transport.sender.split("@")[-1]
            kind = ".escalation" if escalation else ""
            msg["Message-ID"] = f"<rempart.run{report.run_id}.step{step.seq}{kind}@{domain}>"
            msg.set_content(text)
            try:
                ch.transport.send(msg)
                mailed = to
            except RempartError as exc:
                errors.append(exc.message)
        elif ch.transport is not None:
            errors.append(f"no mail address for {', '.join(people) or 'any approver'}")
        posted = False
        if ch.webhook is not None and ch.webhook_url and "webhook" not in done:
            body = {"incident": report.incident_ref, "establishment": report.establishment,
                    "run": report.run_id, "step": step.step_id, "seq": step.seq, "title": step.title,
                    "approvers": people, "needs": step.needs, "escalation": escalation, "would_run": ops,
                    "text": text}
            action = Action("call", f"r{report.run_id}-s{step.seq}-notice", report.establishment, "approvers",
                            {"request": {"url": ch.webhook_url, "method": "POST", "body": body}})
            try:
                posted = ch.webhook.apply([action], ch.timeout).ok
            except AdapterError as exc:
                errors.append(str(exc))
        return Notice(report.incident_ref, report.run_id, step.step_id, tuple(mailed), posted,
                      "; ".join(errors) or None)


def _notice_text(
    report: service.RunReport, step: service.StepView, policy: Approval, ops: list[str], escalation: bool
) -> str:
    lines = [
        f"Incident {report.incident_ref} ({report.establishment}) — plan « {report.playbook} », "
        f"exécution n° {report.run_id}.",
        f"L'étape {step.seq} « {step.title} » attend votre approbation "
        f"({policy.approvers} approbation(s) parmi les rôles {', '.join(policy.roles)}).",
        *([f"Elle attend depuis plus de {policy.escalate_after} min : le rôle "
           f"{', '.join(policy.escalate_to)} peut désormais suppléer un approbateur manquant."]
          if escalation else []),
        f"Cibles : {', '.join(step.targets) or '—'}",
        "",
        "Approuver exécuterait :",
        *[f"  {op}" for op in ops or ["(aucune commande)"]],
        "",
        f"Pour approuver : rempart approve {report.run_id} {step.step_id}",
        f"Pour refuser : rempart reject {report.run_id} {step.step_id} --reason …",
    ]
    return "\n".join(lines) + "\n"


def _handled_count(s: Session, ref: str) -> int:
    last = s.execute(
        select(JournalRow.payload)
        .where(JournalRow.action == HANDLED, JournalRow.subject == f"incident/{ref}")
        .order_by(JournalRow.seq.desc()).limit(1)
    ).scalar_one_or_none()
    if last is None:
        return 0
    return int(orjson.loads(last)["alerts"])


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
