"""Triggers, scope and targets: which playbook runs and what each step acts on."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.domain.alerts import Level
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.respond.plan import LoadedPlan, load_plan
from rempart.respond.selection import IncidentFacts, choose_playbook, expand


def facts(
    level: Level = Level.CRITICAL,
    tactics: tuple[str, ...] = ("impact",),
    est: str | None = "capitouls",
    hosts: tuple[str, ...] = ("tls-cap-ws002",),
) -> IncidentFacts:
    return IncidentFacts(7, "INC-0007", est, level, tactics, ("T1486",), ("r1",), hosts)


def test_trigger_picks_the_playbook_by_level_and_tactics(plan: LoadedPlan, group: Group) -> None:
    assert choose_playbook(plan.plan, facts(), group).id == "intrusion-confirmee"
    assert choose_playbook(plan.plan, facts(tactics=("discovery",)), group).id == "suspicion"
    assert choose_playbook(plan.plan, facts(level=Level.MEDIUM), group).id == "suspicion"
    with pytest.raises(StateError, match="no playbook of the plan matches incident INC-0007"):
        choose_playbook(plan.plan, facts(level=Level.LOW), group)


def test_steps_act_on_the_clinic_only(plan: LoadedPlan, group: Group) -> None:
    specs = {s.step_id: s for s in expand(plan.plan.playbooks[0], facts(), group, "r7")}
    close = specs["fermer-acces-externes"]
    assert {a.establishment for s in specs.values() for a in s.actions} == {"capitouls"}
    assert [a.target for a in close.actions] == [
        "vpn-nomade",
        "telemaintenance-dpi",
        "passerelle-rdp",
        "lien-partenaire",
        "portail-patient",
    ]  # not messaging
    vpn = close.actions[0]
    assert vpn.key == "r7-fermer-acces-externes-capitouls-vpn-nomade"
    assert vpn.params["dst"] == ["10.11.0.2", "192.0.2.11", "10.11.0.0/16"]
    assert vpn.params["allow"] == ["10.250.0.0/24"] and vpn.accesses == ("vpn-nomade",)
    assert [a.target for a in specs["isoler-postes-compromis"].actions] == ["tls-cap-ws002"]
    mail = specs["suspendre-flux-messagerie"].actions[0]
    assert mail.target == "tls-cap-mail01" and mail.accesses == ("messagerie",)
    stop = specs["arreter-dpi-fichiers"].actions
    assert [(a.target, a.params["services"]) for a in stop] == [
        ("tls-cap-dpi01", ["dpi-app", "postgresql"]),
        ("tls-cap-fs01", ["smbd"]),
    ]
    ars = specs["appeler-ars"].actions[0]
    assert "Clinique des Capitouls (incident INC-0007)" in ars.params["instruction"]


def test_pole_scope_and_establishment_filter(group: Group, tmp_path: Path) -> None:
    text = """
version: 1
playbooks:
- id: pole
  title: pôle
  trigger: {min_level: high, establishments: [capitouls]}
  scope: pole
  steps:
  - {id: vpn, title: VPN, action: close_access, targets: {access_kinds: [vpn]}}
"""
    (tmp_path / "p.yaml").write_text(text)
    book = load_plan(tmp_path / "p.yaml", group).plan
    (spec,) = expand(book.playbooks[0], facts(), group, "r1")
    assert sorted({a.establishment for a in spec.actions}) == sorted(
        e.id for e in group.pole_of("capitouls").establishments
    )
    with pytest.raises(StateError, match="no playbook"):
        choose_playbook(book, facts(est="bellecour"), group)
    with pytest.raises(StateError, match="attributed to no establishment"):
        expand(book.playbooks[0], facts(est=None), group, "r1")


def test_appliances_that_logged_the_attack_are_not_isolated(plan: LoadedPlan, group: Group) -> None:
    # alerts name the VPN appliance (it logged the spraying) beside the compromised workstation
    f = facts(hosts=("tls-cap-vpn01", "tls-cap-fw01", "tls-cap-ws002.horizon.local"))
    specs = {s.step_id: s for s in expand(plan.plan.playbooks[0], f, group, "r8")}
    assert [a.target for a in specs["isoler-postes-compromis"].actions] == ["tls-cap-ws002"]
