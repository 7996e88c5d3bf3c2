"""Rolling back: a whole run, one step, or only what contains one external access (staged re-opening).

Like applying, rolling back writes its intent before calling the adapter and its result after; adapters
remove exactly what they added (their own named objects), so a rollback repeated after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rempart.errors import StateError
from rempart.respond.engine import Engine, actions_of, adapter_for, attempt, step_label, with_timeout
from rempart.respond.interface import Action, AdapterError
from rempart.respond.states import MAY_BE_IN_PLACE, RunStatus, StepStatus
from rempart.store.models.respond import PlanStepRow


@dataclass
class StepResult:
    """What one rollback did to one step (returned to the CLI and to the recover stage)."""

    run_id: int
    seq: int
    step_id: str
    status: str
    targets: list[str] = field(default_factory=list)  # what was rolled back now
    ok: bool = True
    message: str = ""


@dataclass
class RollbackReport:
    run_id: int
    status: str
    results: list[StepResult] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)  # steps a person must undo (manual, irreversible)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def _undo(engine: Engine, step: PlanStepRow, acts: list[Action], partial: bool) -> StepResult:
    adapter = adapter_for(engine.adapters, step)
    before = step.status  # what a partial re-opening leaves the step as
    keys = [a.key for a in acts]
    ops = [op.to_dict() for op in adapter.plan("rollback", acts)]
    targets = [a.target for a in acts]
    engine._set(
        step.id,
        "rollback.intent",
        {"adapter": adapter.name, "operations": ops, "targets": targets},
        status=StepStatus.ROLLING_BACK.value,
    )

    def on_error(n: int, reason: str) -> None:
        engine._set(step.id, "rollback.attempt_failed", {"attempt": n, "error": reason})

    result = attempt(lambda: adapter.rollback(acts, step.timeout), step, engine.sleep, on_error)
    if result.outcome is None:
        engine._set(
            step.id,
            "rollback.failed",
            {"errors": result.errors},
            f"Retour arrière de l'étape {step.seq} « {step.title} » en échec : {result.errors[-1]}",
            status=StepStatus.FAILED.value,
            error="; ".join(result.errors),
        )
        return StepResult(
            step.run_id, step.seq, step.step_id, StepStatus.FAILED.value, targets, False, result.errors[-1]
        )
    try:
        seen = with_timeout(lambda: adapter.verify(acts, step.timeout), step.timeout)
        still = seen.still_in_place
    except (AdapterError, OSError) as exc:
        still = [f"(verification failed: {exc})"]
    if still:
        engine._set(
            step.id,
            "rollback.verify_failed",
            {"still_in_place": still},
            status=StepStatus.FAILED.value,
            error=f"still in place after rollback: {', '.join(still)}",
        )
        return StepResult(
            step.run_id,
            step.seq,
            step.step_id,
            StepStatus.FAILED.value,
            targets,
            False,
            f"still in place: {', '.join(still)}",
        )
    done = sorted(set(step.rolled_back_targets) | set(keys))
    whole = set(done) >= {a["key"] for a in step.actions}
    status = StepStatus.ROLLED_BACK if whole or not partial else StepStatus(_restore(step, before))
    text = f"Retour arrière de l'étape {step.seq} « {step.title} » vérifié" + (
        "" if whole else f" pour {', '.join(targets)}"
    )
    engine._set(
        step.id,
        "rollback.done",
        {"done": result.outcome.done, "targets": targets},
        text,
        status=status.value,
        rolled_back_targets=done,
    )
    return StepResult(step.run_id, step.seq, step.step_id, status.value, targets, True, text)


def _restore(step: PlanStepRow, before: str) -> str:
    # a partial re-opening leaves the step as it was: the rest of its containment is still in place
    if before != StepStatus.ROLLING_BACK:
        return before
    return StepStatus.VERIFIED.value if step.verify else StepStatus.APPLIED.value  # resumed after a crash


def _pending(step: PlanStepRow) -> list[Action]:
    return [a for a in actions_of(step) if a.key not in set(step.rolled_back_targets)]


def rollback_run(engine: Engine, run_id: int, step_ref: str | None = None) -> RollbackReport:
    run = engine._load(run_id)
    steps: Sequence[PlanStepRow] = run.steps
    if step_ref is not None:
        steps = [find_step(run.steps, step_ref)]
    report = RollbackReport(run_id, run.status)
    for step in sorted(steps, key=lambda s: -s.seq):  # undo in reverse order
        if StepStatus(step.status) not in MAY_BE_IN_PLACE:
            continue
        if not step.reversible or step.adapter == "manual":
            report.by_hand.append(f"{step_label(step)}: {step.title}")
            continue
        acts = _pending(step)
        if acts:
            report.results.append(_undo(engine, step, acts, partial=False))
    run = engine._load(run_id)
    remaining = [
        s
        for s in run.steps
        if StepStatus(s.status) in MAY_BE_IN_PLACE and s.reversible and s.adapter != "manual"
    ]
    if step_ref is None and not remaining:
        engine._run_status(run_id, RunStatus.ROLLED_BACK, "rollback of the whole run")
    report.status = engine._load(run_id).status
    return report


def reopen(engine: Engine, run_id: int, access_id: str) -> list[StepResult]:
    """Roll back, in reverse order, every action of the run that contains ``access_id``."""
    run = engine._load(run_id)
    results: list[StepResult] = []
    touched = False
    for step in sorted(run.steps, key=lambda s: -s.seq):
        if StepStatus(step.status) not in MAY_BE_IN_PLACE or step.adapter == "manual":
            continue
        acts = [a for a in _pending(step) if access_id in a.accesses and a.establishment == run.establishment]
        touched = touched or any(access_id in a.get("accesses", ()) for a in step.actions)
        if acts:
            results.append(_undo(engine, step, acts, partial=True))
    if not results and not touched:
        raise StateError(
            f"run {run_id} did not close access '{access_id}' of {run.establishment}",
            hint="see `rempart run show` for what the run contains",
        )
    return results


def find_step(steps: Sequence[PlanStepRow], ref: str) -> PlanStepRow:
    """A step by its number or its id, as people type it."""
    for step in steps:
        if ref == str(step.seq) or ref == step.step_id:
            return step
    raise StateError(
        f"no step '{ref}' in this run", hint="give the step number or id shown by `rempart run show`"
    )
