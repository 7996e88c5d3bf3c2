"""A step needing two approvers (an RSSI and a clinic director) runs only with both; refusals explain."""

from __future__ import annotations

import pytest

from rempart.adapters import registry
from rempart.adapters.dummy import DummyAdapter
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.respond import service
from rempart.respond.plan import LoadedPlan
from rempart.store import journal
from rempart.store.db import Store
from tests.identities.helpers import actor

STEP = "arreter-dpi-fichiers"


def start(cases: Store, plan: LoadedPlan, group: Group) -> tuple[int, dict[str, object]]:
    adapters = registry.build(None)
    report = service.respond(cases, "INC-0001", plan, group, adapters, "test")
    assert report.step(STEP).status == "awaiting_approval"
    return report.run_id, adapters


def ssh_applies(adapters: dict[str, object]) -> int:
    dummy = adapters["ssh"]
    assert isinstance(dummy, DummyAdapter)
    return sum(1 for verb, _ in dummy.calls if verb == "apply")


def test_one_approver_is_not_enough(cases: Store, plan: LoadedPlan, group: Group) -> None:
    run, adapters = start(cases, plan, group)
    report = service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    step = report.step(STEP)
    assert step.status == "awaiting_approval" and ssh_applies(adapters) == 0
    assert "1 more approver" in step.needs and "clinic_director" in step.needs


def test_same_person_twice_is_refused(cases: Store, plan: LoadedPlan, group: Group) -> None:
    run, adapters = start(cases, plan, group)
    service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    with pytest.raises(StateError, match=r"c\.martin has already approved .* cannot count twice"):
        service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    assert ssh_applies(adapters) == 0


def test_person_lacking_the_role_is_refused(cases: Store, plan: LoadedPlan, group: Group) -> None:
    run, adapters = start(cases, plan, group)
    with pytest.raises(
        StateError, match=r"astreinte-dsi holds role it_oncall; .* needs an approver holding one of"
    ):
        service.approve(cases, run, STEP, actor("astreinte-dsi"), adapters)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="not a person of the plan"):
        service.approve(cases, run, STEP, actor("mallory"), adapters)  # type: ignore[arg-type]
    with cases.session() as s:  # refused attempts are journaled with their reason
        refused = [e for e in journal.entries(s, f"run/{run}") if e.action == "approval.refused"]
    assert [e.actor for e in refused] == ["astreinte-dsi", "mallory"]
    assert "not a person of the plan" in refused[1].payload
    # a director of another clinic holds the role but not for this establishment
    with pytest.raises(
        StateError, match="may approve only for saint-cyprien, not for establishment capitouls"
    ):
        service.approve(cases, run, STEP, actor("j.roux"), adapters)  # type: ignore[arg-type]


def test_two_rssi_do_not_replace_the_director(cases: Store, plan: LoadedPlan, group: Group) -> None:
    run, adapters = start(cases, plan, group)
    service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="still needs role clinic_director"):
        service.approve(cases, run, STEP, actor("p.nguyen"), adapters)  # type: ignore[arg-type]
    assert ssh_applies(adapters) == 0


def test_rssi_and_director_together_run_the_step(cases: Store, plan: LoadedPlan, group: Group) -> None:
    run, adapters = start(cases, plan, group)
    service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    report = service.approve(cases, run, STEP, actor("m.durand"), adapters)  # type: ignore[arg-type]
    assert report.step(STEP).status == "verified"
    assert report.step(STEP).approved_by == ["c.martin", "m.durand"]
    assert ssh_applies(adapters) == 2  # the DPI server and the file server
    with pytest.raises(StateError, match="no longer takes approvals"):
        service.approve(cases, run, STEP, actor("a.benali"), adapters)  # type: ignore[arg-type]


def test_automatic_step_takes_no_approval_and_rejection_needs_reason(
    cases: Store, plan: LoadedPlan, group: Group
) -> None:
    run, adapters = start(cases, plan, group)
    with pytest.raises(StateError, match="no longer takes approvals"):
        service.approve(cases, run, "fermer-acces-externes", actor("c.martin"), adapters)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="needs a reason"):
        service.reject(cases, run, STEP, actor("c.martin"), " ", adapters)  # type: ignore[arg-type]
    report = service.reject(cases, run, STEP, actor("m.durand"), "urgences en cours", adapters)  # type: ignore[arg-type]
    assert report.step(STEP).status == "rejected" and ssh_applies(adapters) == 0
    # the run goes on past a rejected step: the ARS call is now asked for
    assert report.step("appeler-ars").status == "awaiting_ack"


def test_an_approver_may_change_their_mind(cases: Store, plan: LoadedPlan, group: Group) -> None:
    run, adapters = start(cases, plan, group)
    service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    report = service.reject(cases, run, STEP, actor("c.martin"), "attendre l'avis de l'éditeur", adapters)  # type: ignore[arg-type]
    assert report.step(STEP).status == "rejected" and report.step(STEP).approved_by == []
    assert ssh_applies(adapters) == 0


def _waited(cases: Store, run: int, minutes: int) -> None:
    """As if the approval had been requested `minutes` ago."""
    from datetime import timedelta

    from rempart.store.models.respond import PlanStepRow

    with cases.session() as s:
        step = s.query(PlanStepRow).filter_by(run_id=run, step_id=STEP).one()
        assert step.started_at is not None  # set when the approval was requested
        step.started_at -= timedelta(minutes=minutes)


def test_the_administrator_on_duty_stands_in_only_after_the_escalation_delay(
    cases: Store, plan: LoadedPlan, group: Group
) -> None:
    run, adapters = start(cases, plan, group)
    service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    with pytest.raises(StateError, match=r"may stand in for the approvers of .* only from \d\d:\d\d Paris"):
        service.approve(cases, run, STEP, actor("direction-garde"), adapters)  # type: ignore[arg-type]
    needs = service.show_run(cases, run).step(STEP).needs
    assert "after 30 min of waiting, director_on_duty may stand in" in needs
    _waited(cases, run, 29)
    with pytest.raises(StateError, match="may stand in"):
        service.approve(cases, run, STEP, actor("direction-garde"), adapters)  # type: ignore[arg-type]
    _waited(cases, run, 2)  # 31 min in all
    assert "clinic_director or director_on_duty" in service.show_run(cases, run).step(STEP).needs
    report = service.approve(cases, run, STEP, actor("direction-garde"), adapters)  # type: ignore[arg-type]
    assert report.step(STEP).status != "awaiting_approval" and ssh_applies(adapters) > 0
    with cases.session() as s:
        given = [e for e in journal.entries(s, f"run/{run}") if e.action == "approval.given"]
    assert [e.actor for e in given] == ["c.martin", "direction-garde"]
    assert '"escalation":true' in given[1].payload


def test_escalation_lets_the_stand_in_replace_a_role_not_two_rssis_replace_the_director(
    cases: Store, plan: LoadedPlan, group: Group
) -> None:
    run, adapters = start(cases, plan, group)
    _waited(cases, run, 45)
    service.approve(cases, run, STEP, actor("c.martin"), adapters)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="still needs role clinic_director"):
        service.approve(cases, run, STEP, actor("p.nguyen"), adapters)  # type: ignore[arg-type]
    assert ssh_applies(adapters) == 0
    service.approve(cases, run, STEP, actor("m.durand"), adapters)  # type: ignore[arg-type]  # the director answers
    assert ssh_applies(adapters) > 0
