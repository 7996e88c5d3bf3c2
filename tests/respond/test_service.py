"""Rollback, staged re-opening and re-running on the dummy adapter: what the recover stage relies on."""

from __future__ import annotations

import pytest

from rempart.adapters import registry
from rempart.adapters.dummy import DummyAdapter
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.respond import service
from rempart.respond.engine import Engine
from rempart.respond.plan import LoadedPlan
from rempart.store import incident_log
from rempart.store.db import Store
from rempart.store.models.respond import PlanStepRow


def in_place(adapter: object) -> set[str]:
    assert isinstance(adapter, DummyAdapter)
    return adapter._in_place()


def test_reopen_one_access_then_everything(cases: Store, plan: LoadedPlan, group: Group) -> None:
    ads = registry.build(None)
    run = service.respond(cases, "INC-0001", plan, group, ads, "test").run_id
    assert len(in_place(ads["nftables"])) == 7
    result = service.reopen_access(cases, run, "telemaintenance-dpi", "recover", ads)
    assert result.ok and result.status == "reopened"
    assert [r.targets for r in result.steps] == [["telemaintenance-dpi"]]
    assert not any("telemaintenance" in k for k in in_place(ads["nftables"]))
    assert len(in_place(ads["nftables"])) == 6
    assert service.show_run(cases, run).step(1).status == "verified"  # the rest is still closed
    again = service.reopen_access(cases, run, "telemaintenance-dpi", "recover", ads)
    assert again.ok and again.steps == [] and "already open" in again.message
    mail = service.reopen_access(cases, run, "messagerie", "recover", ads)
    assert [r.step_id for r in mail.steps] == ["retenir-file-postfix", "suspendre-flux-messagerie"]
    assert in_place(ads["postfix"]) == set()
    with pytest.raises(StateError, match="did not close access 'teleportation'"):
        service.reopen_access(cases, run, "teleportation", "recover", ads)
    with cases.session() as s:
        texts = [e.text for e in incident_log.entries(s, 1) if e.source == "respond"]
    assert any("vérifié pour telemaintenance-dpi" in t for t in texts)


def test_rollback_one_step_then_the_run_then_respond_again(
    cases: Store, plan: LoadedPlan, group: Group
) -> None:
    ads = registry.build(None)
    run = service.respond(cases, "INC-0001", plan, group, ads, "test").run_id
    one = service.rollback(cases, run, "isoler-postes-compromis", "test", ads)
    assert [r.step_id for r in one.results] == ["isoler-postes-compromis"] and one.ok
    assert service.show_run(cases, run).step(4).status == "rolled_back"
    whole = service.rollback(cases, run, None, "test", ads)
    assert whole.status == "rolled_back"
    assert whole.by_hand == ["step 5 (deconnecter-sauvegardes): Déconnecter physiquement les sauvegardes"]
    assert in_place(ads["nftables"]) == set()
    # re-running after a full rollback is a new containment, not a resumption of the undone run
    new = service.respond(cases, "INC-0001", plan, group, ads, "test")
    assert new.run_id == run + 1 and new.step(1).status == "verified"
    with pytest.raises(StateError, match="no plan run 99"):
        service.show_run(cases, 99)


def test_a_step_moved_by_another_process_is_not_acted_on(
    cases: Store, plan: LoadedPlan, group: Group
) -> None:
    ads = registry.build(None)
    run = service.respond(cases, "INC-0001", plan, group, ads, "test").run_id
    with cases.session() as s:
        step = s.query(PlanStepRow).filter_by(run_id=run, seq=6).one()
        pk = step.id
    engine = Engine(cases, ads, "test")
    with pytest.raises(StateError, match="changed by another process"):
        engine._set(pk, "apply.intent", expect="planned", status="applying")
    assert service.show_run(cases, run).step(6).status == "awaiting_approval"
