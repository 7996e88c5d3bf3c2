"""Closing is refused while a task is open (each named, with what to do); the final report PDF says what
happened, with the numbers, read back from the PDF itself."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rempart.detect.incidents import get_incident
from rempart.errors import ConfigErrors, StateError
from rempart.investigate import eventdb, exfil, sweep
from rempart.investigate.indicators import Indicator, IndicatorKind
from rempart.notify import service as notify
from rempart.recover import closing, gates, report, staging
from rempart.recover.policy import load_policy
from tests.conftest import need
from tests.identities.helpers import actor
from tests.recover.conftest import ATTACKER_IP, Contained

POLICY_YAML = """\
version: 1
attestations:
- id: credentials_rotated
  label: Identifiants renouvelés
rules:
- sweep_clean_hours: 24
  attestations: [credentials_rotated]
  approval: {approvers: 2, roles: [rssi, clinic_director], all_roles: true}
"""


@pytest.fixture
def con(events_db: Path) -> Iterator[object]:
    c = eventdb.connect(events_db)
    yield c
    c.close()


def test_policy_errors_are_located(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(POLICY_YAML.replace("attestations: [credentials_rotated]", "attestations: [patched]"))
    with pytest.raises(ConfigErrors) as err:
        load_policy(bad)
    assert "policy.yaml:7" in str(err.value) and "'patched' is not declared" in str(err.value)


def test_close_then_final_report(contained: Contained, con: object, tmp_path: Path) -> None:
    c = contained
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY_YAML)
    policy = load_policy(policy_file)
    with c.store.session() as s:
        inc = get_incident(s, c.ref)
        sweep.run_sweep(
            s,
            con,
            c.group,
            inc,
            [Indicator(IndicatorKind.IP, ATTACKER_IP, "t")],
            "analyste",  # type: ignore[arg-type]
            now=c.now,
        )
        exfil.run_assessment(s, con, c.group, inc, "analyste", now=c.now)  # type: ignore[arg-type]
    with pytest.raises(StateError) as err:
        closing.close(c.store, c.group, policy, c.ref, "c.martin", now=c.now)
    text = str(err.value)
    assert "Accès externes rouverts: still closed: vpn-nomade" in text and "rempart reopen INC-0001" in text
    assert "Information de la résolution" in text

    with c.store.session() as s:
        accesses = [
            g.access.id
            for g in gates.evaluate_all(s, get_incident(s, c.ref), c.group, policy, c.now)
            if g.state == gates.CLOSED
        ]
    assert len(accesses) >= 5
    for stage, access in enumerate(accesses, start=1):
        with c.store.session() as s:
            gates.attest(
                s, get_incident(s, c.ref), c.group, policy, access, "credentials_rotated", "astreinte-dsi"
            )
        staging.reopen(c.store, c.group, policy, c.ref, access, actor("c.martin"), c.adapters, now=c.now)
        out = staging.reopen(
            c.store, c.group, policy, c.ref, access, actor("m.durand"), c.adapters, now=c.now
        )
        assert out.reopened and out.stage == stage

    notify.record_resolution(c.store, c.ref, c.now, "c.martin", "Accès rouverts, aucune exfiltration.")
    for task in closing.closing_status(c.store, c.group, policy, c.ref, c.now):
        if task.name.startswith("notify:") and not task.done:
            _, obligation, stage_id = task.name.split(":")
            notify.record_filing(
                c.store,
                c.ref,
                obligation,
                stage_id,
                c.group,
                channel="portal",
                reference=f"DEPOT-{obligation}",
                author="c.martin",
                at=c.now,
            )
    tasks = closing.close(c.store, c.group, policy, c.ref, "c.martin", now=c.now)
    assert all(t.done for t in tasks)
    with c.store.session() as s:
        assert get_incident(s, c.ref).status == "closed"

    facts = report.gather(c.store, c.group, policy, c.ref, con, now=c.now)  # type: ignore[arg-type]
    assert [f.kind for f, _ in facts.findings] == ["data_theft", "propagation"]
    assert len(facts.reopenings) == len(accesses) and facts.journal_ok
    pdf = report.write_final_report(facts, c.group, tmp_path / "rapport-final.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    need(shutil.which("pdftotext") is not None, "poppler-utils missing")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (
        "Rapport final — incident INC-0001",
        "Clinique des Capitouls",
        "Décisions de réouverture",
        "vpn-nomade",
        "m.durand (clinic_director)",
        "DEPOT-",
        "intègre",
        "Sain depuis",
    ):
        assert expected in text, expected
    swept = next(f for f, _ in facts.findings if f.kind == "propagation").data["events_swept"]
    assert str(swept) in text.replace(" ", "")
