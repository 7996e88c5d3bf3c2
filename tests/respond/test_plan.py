"""The plan file: the shipped example is valid; every kind of mistake is reported with file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.errors import ConfigError, ConfigErrors
from rempart.inventory import load_group
from rempart.respond.plan import load_plan
from tests.conftest import EXAMPLES

GOOD = (EXAMPLES / "plan.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def group():  # type: ignore[no-untyped-def]
    return load_group(EXAMPLES / "group.yaml")


def errors_of(tmp_path: Path, text: str, group=None) -> list[ConfigError]:  # type: ignore[no-untyped-def]
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigErrors) as info:
        load_plan(path, group)
    return info.value.errors


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_example_plan_is_valid_against_the_example_group(group) -> None:  # type: ignore[no-untyped-def]
    loaded = load_plan(EXAMPLES / "plan.yaml", group)
    book = loaded.plan.playbooks[0]
    assert [s.id for s in book.steps][:2] == ["fermer-acces-externes", "suspendre-flux-messagerie"]
    assert book.steps[5].approval.approvers == 2
    assert len(loaded.digest) == 64


def test_unknown_role_and_access_kind_are_located(tmp_path: Path, group) -> None:  # type: ignore[no-untyped-def]
    text = GOOD.replace("roles: [his_server, file_server]", "roles: [his_server, mainframe]")
    text = text.replace("access_kinds: [vpn, remote_maintenance,", "access_kinds: [vpn, telepathy,")
    errs = errors_of(tmp_path, text, group)
    fields = {e.location.field: e for e in errs if e.location}
    assert any(f and f.endswith("targets.access_kinds[1]") for f in fields)
    bad = next(e for f, e in fields.items() if f and f.endswith("targets.roles[1]"))
    assert "his_server" in bad.message  # pydantic lists the roles that exist
    assert bad.location is not None and bad.location.line == line_of(text, "mainframe")
    assert str(bad.location.path).endswith("plan.yaml")


def test_role_present_in_model_but_absent_from_group_selects_nothing(tmp_path: Path, group) -> None:  # type: ignore[no-untyped-def]
    text = GOOD.replace("roles: [backup_server]", "roles: [pacs_server]")
    errs = errors_of(tmp_path, text, group)
    (err,) = errs
    assert "pacs_server" in err.message and "selects nothing" in err.message
    assert err.location is not None and err.location.field is not None
    assert err.location.field.endswith("targets.roles[0]")


def test_approver_role_nobody_holds(tmp_path: Path) -> None:
    text = GOOD.replace("roles: [rssi, clinic_director]", "roles: [rssi, medical_director]")
    errs = errors_of(tmp_path, text)
    assert any("nobody could approve" in e.message and "medical_director" in e.message for e in errs)


def test_unknown_tactic_level_and_establishment(tmp_path: Path, group) -> None:  # type: ignore[no-untyped-def]
    text = GOOD.replace("tactics: [credential-access,", "tactics: [credential-theft,")
    text = text.replace("min_level: high", "min_level: severe")
    text = text.replace("establishments: [capitouls]", "establishments: [atlantis]")
    errs = errors_of(tmp_path, text, group)
    messages = " | ".join(e.message for e in errs)
    assert "credential-theft" in messages and "severe" in messages
    # the establishment check is a cross-check: it runs once the file itself is valid
    errs = errors_of(
        tmp_path, GOOD.replace("establishments: [capitouls]", "establishments: [atlantis]"), group
    )
    assert "atlantis" in errs[0].message and errs[0].location is not None
    assert errs[0].location.line == line_of(GOOD, "establishments: [capitouls]")


def test_manual_step_without_instruction_and_missing_file(tmp_path: Path) -> None:
    text = GOOD.replace("    instruction: Le SOC analyse", "    title2: Le SOC analyse")
    errs = errors_of(tmp_path, text)
    assert any("title2" in (e.location.field or "") for e in errs if e.location)
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "absent.yaml")


def test_too_few_people_for_the_approvals(tmp_path: Path) -> None:
    text = GOOD.replace("      approvers: 2\n", "      approvers: 9\n")
    errs = errors_of(tmp_path, text)
    assert any("9 approvers needed" in e.message for e in errs)


def test_escalation_to_a_role_nobody_holds_and_half_an_escalation(tmp_path: Path) -> None:
    text = GOOD.replace("escalate_to: [director_on_duty]", "escalate_to: [night_manager]")
    assert text != GOOD
    errs = errors_of(tmp_path, text)
    bad = next(e for e in errs if "night_manager" in e.message)
    assert "the escalation would reach nobody" in bad.message
    assert bad.location is not None and bad.location.field is not None
    assert bad.location.field.endswith("approval.escalate_to[0]")
    assert bad.location.line == line_of(text, "night_manager")
    half = GOOD.replace("      escalate_to: [director_on_duty]\n", "")
    assert half != GOOD
    assert any("escalate_after and escalate_to go together" in e.message for e in errors_of(tmp_path, half))
