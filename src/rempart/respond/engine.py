"""The plan run state machine: apply steps in order, durably, through the adapters given.

Crash safety rests on three rules: (1) the intent to apply a step (its reviewable operations) is committed
to the case store and the journal *before* the adapter is called; (2) the result is committed after;
(3) a step found in ``applying`` when a run resumes is first verified against the live system, and is
re-applied only if its effect is not fully there (adapters are idempotent, so a re-apply of a half-done
step completes it without doubling anything).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from rempart.errors import StateError
from rempart.respond import approvals
from rempart.respond.interface import Action, Adapter, AdapterError, Adapters, Outcome, Verification
from rempart.respond.plan import Approval
from rempart.respond.states import PASSABLE, RunStatus, StepStatus
from rempart.store import incident_log, journal
from rempart.store.db import Store
from rempart.store.models.respond import PlanRunRow, PlanStepRow

T = TypeVar("T")
Sleep = Callable[[float], None]


def now() -> datetime:
    return datetime.now(UTC)


def subject(run_id: int, seq: int | None = None) -> str:
    return f"run/{run_id}" + (f"/step/{seq}" if seq is not None else "")


def step_label(step: PlanStepRow) -> str:
    return f"step {step.seq} ({step.step_id})"


def actions_of(step: PlanStepRow, keys: Sequence[str] | None = None) -> list[Action]:
    acts = [Action.from_dict(a) for a in step.actions]
    return [a for a in acts if keys is None or a.key in keys]


def adapter_for(adapters: Adapters, step: PlanStepRow) -> Adapter:
    try:
        return adapters[step.adapter]
    except KeyError:
        raise StateError(
            f"{step_label(step)} needs adapter '{step.adapter}', which is not configured",
            hint=f"configured: {', '.join(sorted(adapters)) or 'none'}",
        ) from None


def with_timeout(call: Callable[[], T], timeout: float) -> T:
    """Run ``call`` but give up after ``timeout`` seconds (an adapter must not hang a run)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001  (handed to the caller below; nothing is swallowed)
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AdapterError(f"timed out after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@dataclass
class Attempted:
    outcome: Outcome | None
    errors: list[str] = field(default_factory=list)


def attempt(
    call: Callable[[], Outcome], step: PlanStepRow, sleep: Sleep, on_error: Callable[[int, str], None]
) -> Attempted:
    """Try ``call`` up to ``step.attempts`` times with exponential backoff."""
    errors: list[str] = []
    for n in range(step.attempts):
        try:
            got: Outcome = with_timeout(call, step.timeout)
        except (AdapterError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
        else:
            if got.ok:
                return Attempted(got, errors)
            reason = got.detail or "adapter reported failure"
        errors.append(f"attempt {n + 1}: {reason}")
        on_error(n + 1, reason)
        if n + 1 < step.attempts:
            sleep(step.backoff * (2**n))
    return Attempted(None, errors)


class Engine:
    """Advances one run. Every state change is its own committed transaction."""

    def __init__(self, store: Store, adapters: Adapters, actor: str, sleep: Sleep = time.sleep) -> None:
        self.store = store
        self.adapters = adapters
        self.actor = actor
        self.sleep = sleep

    # -- bookkeeping -------------------------------------------------------------------------------
    def _load(self, run_id: int) -> PlanRunRow:
        with self.store.session() as s:
            run = s.get(PlanRunRow, run_id)
            if run is None:
                raise StateError(f"no plan run {run_id}", hint="see `rempart run show`")
            _ = [st.decisions for st in run.steps]  # load while the session is open
            return run

    def _set(
        self,
        step_pk: int,
        action: str | None = None,
        payload: dict[str, Any] | None = None,
        log: str | None = None,
        expect: str | None = None,
        **values: Any,
    ) -> PlanStepRow:
        """Update a step, journal the change and write the main courante, in one transaction.

        ``expect``: the status the caller saw; if another process moved the step meanwhile (two
        `rempart` commands on one run), nothing is written and the caller is told instead of acting twice.
        """
        with self.store.session() as s:
            step = s.get(PlanStepRow, step_pk, with_for_update=True)
            assert step is not None
            if expect is not None and step.status != expect:
                raise StateError(
                    f"{step_label(step)} is now {step.status} (changed by another process); nothing done",
                    hint="see `rempart run show`",
                )
            for name, value in values.items():
                setattr(step, name, value)
            run = step.run
            run.updated_at = now()
            if action:
                journal.append(s, self.actor, action, subject(run.id, step.seq), payload or {})
            if log:
                incident_log.record(
                    s,
                    run.incident_id,
                    "respond",
                    "action",
                    log,
                    self.actor,
                    {"run": run.id, "step": step.seq, "status": step.status},
                )
            s.flush()
            return step

    def _run_status(self, run_id: int, status: RunStatus, note: str = "") -> None:
        with self.store.session() as s:
            run = s.get(PlanRunRow, run_id)
            assert run is not None
            if run.status != status:
                run.status = status.value
                run.updated_at = now()
                journal.append(
                    s, self.actor, "run.status", subject(run_id), {"status": status.value, "note": note}
                )

    # -- advancing ---------------------------------------------------------------------------------
    def advance(self, run_id: int) -> RunStatus:
        """Go as far as the plan allows: stop at a step that waits (approval, ack) and blocks, or fails."""
        run = self._load(run_id)
        if run.status == RunStatus.ROLLED_BACK:
            return RunStatus.ROLLED_BACK  # undone on purpose: a new containment is a new run
        waiting: RunStatus | None = None
        for step in run.steps:
            outcome = self._step_once(run, step)
            if outcome is RunStatus.FAILED:
                self._run_status(run_id, RunStatus.FAILED, f"{step_label(step)} failed")
                return RunStatus.FAILED
            if outcome is not None:
                # an approval is what people must act on first; an acknowledgement can come any time
                waiting = outcome if outcome is RunStatus.AWAITING_APPROVAL else waiting or outcome
                if step.blocks:
                    break
        final = waiting or self._settled(run_id)
        self._run_status(run_id, final)
        return final

    def _step_once(self, run: PlanRunRow, step: PlanStepRow) -> RunStatus | None:
        """Move one step forward; say if it now waits (approval, ack) or failed; None: it is done."""
        status = StepStatus(step.status)
        done = status in PASSABLE and not (status is StepStatus.APPLIED and step.verify)
        # a rollback in progress is finished by `rollback`, never re-applied here
        if done or status is StepStatus.ROLLING_BACK:
            return None
        if status is StepStatus.AWAITING_ACK:
            return RunStatus.AWAITING_ACK
        if status in (StepStatus.PLANNED, StepStatus.AWAITING_APPROVAL):
            decisions = [(d.person, d.decision) for d in step.decisions]
            policy = Approval.model_validate(step.approval)
            is_escalated = approvals.escalated(policy, step.started_at, now())
            need = approvals.missing(policy, run.people, decisions, is_escalated)
            if need:
                if status is StepStatus.PLANNED:
                    text = (
                        f"Étape {step.seq} « {step.title} » en attente d'approbation : "
                        f"{approvals.missing_fr(policy, run.people)}"
                    )
                    self._set(
                        step.id,
                        "approval.requested",
                        {"needs": need},
                        text,
                        status=StepStatus.AWAITING_APPROVAL.value,
                        started_at=now(),  # the escalation delay counts from here
                    )
                return RunStatus.AWAITING_APPROVAL
        if not self._execute(step, resumed=status in (StepStatus.APPLYING, StepStatus.FAILED)):
            return RunStatus.FAILED
        if self._load_step(step.id).status == StepStatus.AWAITING_ACK:
            return RunStatus.AWAITING_ACK
        return None

    def _load_step(self, step_pk: int) -> PlanStepRow:
        with self.store.session() as s:
            step = s.get(PlanStepRow, step_pk)
            assert step is not None
            return step

    def _settled(self, run_id: int) -> RunStatus:
        run = self._load(run_id)
        states = {StepStatus(st.status) for st in run.steps}
        if states <= {StepStatus.ROLLED_BACK, StepStatus.REJECTED}:
            return RunStatus.ROLLED_BACK if StepStatus.ROLLED_BACK in states else RunStatus.VERIFIED
        if states <= {StepStatus.VERIFIED, StepStatus.REJECTED, StepStatus.ROLLED_BACK}:
            return RunStatus.VERIFIED
        if states <= PASSABLE:
            return RunStatus.APPLIED
        return RunStatus.APPLYING

    def _execute(self, step: PlanStepRow, resumed: bool) -> bool:
        """Apply (or finish applying) one step, then verify it. False when the step failed."""
        adapter = adapter_for(self.adapters, step)
        acts = actions_of(step)
        if not acts:
            self._set(
                step.id,
                "apply.skipped",
                {"reason": "no target in scope"},
                f"Étape {step.seq} « {step.title} » : aucune cible dans le périmètre",
                status=StepStatus.VERIFIED.value,
                finished_at=now(),
            )
            return True
        if step.status == StepStatus.APPLIED:
            return self._verify(step, adapter, acts)
        if resumed and self._already_in_place(step, adapter, acts):
            step = self._set(
                step.id,
                "apply.recovered",
                {"reason": "effect found in place on resume"},
                status=StepStatus.APPLIED.value,
            )
            return self._verify(step, adapter, acts) if step.verify else True
        ops = [op.to_dict() for op in adapter.plan("apply", acts)]
        step = self._set(
            step.id,
            "apply.intent",
            {"adapter": adapter.name, "operations": ops, "targets": [a.target for a in acts]},
            expect=step.status,
            status=StepStatus.APPLYING.value,
            started_at=step.started_at or now(),
            error=None,
        )

        def on_error(n: int, reason: str) -> None:
            self._set(step.id, "apply.attempt_failed", {"attempt": n, "error": reason}, tries=step.tries + n)

        result = attempt(lambda: adapter.apply(acts, step.timeout), step, self.sleep, on_error)
        if result.outcome is None:
            self._set(
                step.id,
                "apply.failed",
                {"errors": result.errors},
                f"Étape {step.seq} « {step.title} » en échec après {step.attempts} tentative(s) : "
                f"{result.errors[-1]}",
                status=StepStatus.FAILED.value,
                error="; ".join(result.errors),
            )
            return False
        out = result.outcome
        if out.needs_ack:
            self._set(
                step.id,
                "apply.awaiting_ack",
                {"done": out.done, "detail": out.detail},
                f"Étape {step.seq} « {step.title} » à réaliser manuellement : {out.detail}",
                status=StepStatus.AWAITING_ACK.value,
            )
            return True
        step = self._set(
            step.id,
            "apply.done",
            {"done": out.done, "detail": out.detail},
            f"Étape {step.seq} « {step.title} » appliquée ({len(acts)} cible(s))",
            status=StepStatus.APPLIED.value,
            applies=step.applies + 1,
            finished_at=now(),
        )
        return self._verify(step, adapter, acts) if step.verify else True

    def _already_in_place(self, step: PlanStepRow, adapter: Adapter, acts: list[Action]) -> bool:
        try:
            seen = with_timeout(lambda: adapter.verify(acts, step.timeout), step.timeout)
        except (AdapterError, OSError) as exc:
            self._set(step.id, "resume.verify_failed", {"error": str(exc)})
            return False
        self._set(step.id, "resume.verified", {"in_place": seen.in_place, "detail": seen.detail})
        return seen.all_in_place

    def _verify(self, step: PlanStepRow, adapter: Adapter, acts: list[Action]) -> bool:
        ops = [op.to_dict() for op in adapter.plan("verify", acts)]
        seen: Verification | None = None
        error = ""
        for n in range(step.attempts):
            try:
                seen = with_timeout(lambda: adapter.verify(acts, step.timeout), step.timeout)
            except (AdapterError, OSError) as exc:
                error = str(exc)
            if seen is not None and seen.all_in_place:
                break
            if n + 1 < step.attempts:
                self.sleep(step.backoff * (2**n))
        if seen is not None and seen.all_in_place:
            self._set(
                step.id,
                "verify.ok",
                {"operations": ops, "in_place": seen.in_place},
                f"Étape {step.seq} « {step.title} » vérifiée (état relu par l'adaptateur {adapter.name})",
                status=StepStatus.VERIFIED.value,
                finished_at=now(),
            )
            return True
        missing = [k for k, v in (seen.in_place.items() if seen else []) if not v]
        reason = error or f"not in place after apply: {', '.join(missing)}"
        self._set(
            step.id,
            "verify.failed",
            {"operations": ops, "error": reason},
            f"Étape {step.seq} « {step.title} » : vérification en échec ({reason})",
            status=StepStatus.FAILED.value,
            error=reason,
        )
        return False
