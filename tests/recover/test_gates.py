"""A re-opening gate cannot be passed while a check fails or an approval is missing; every refusal says
which check, why, and what to do. Runs on a real plan run (example plan, dummy adapters), a real IOC
sweep and exfiltration assessment over generated logs, and respond's real approval rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from rempart.detect.incidents import get_incident
from rempart.errors import InputError, StateError
from rempart.investigate import eventdb, exfil, findings, sweep
from rempart.investigate.indicators import Indicator, IndicatorKind
from rempart.recover import gates, staging
from rempart.recover.policy import load_policy
from rempart.store import incident_log, journal
from tests.identities.helpers import actor
from tests.recover.conftest import ATTACKER_IP, Contained

POLICY = load_policy()


@pytest.fixture
def con(events_db: Path) -> Iterator[object]:
    c = eventdb.connect(events_db)
    yield c
    c.close()


def _gate(c: Contained, access: str, later: timedelta = timedelta(0)) -> gates.Gate:
    with c.store.session() as s:
        return gates.evaluate(s, get_incident(s, c.ref), c.group, POLICY, access, c.now + later)


def _investigate(c: Contained, con: object) -> None:
    with c.store.session() as s:
        inc = get_incident(s, c.ref)
        sweep.run_sweep(
            s,
            con,
            c.group,
            inc,
            [Indicator(IndicatorKind.IP, ATTACKER_IP, "test")],
            "analyste",  # type: ignore[arg-type]
            now=c.now,
        )
        exfil.run_assessment(s, con, c.group, inc, "analyste", now=c.now)  # type: ignore[arg-type]


def _attest_all(c: Contained, access: str, person: str = "c.martin") -> None:
    with c.store.session() as s:
        inc = get_incident(s, c.ref)
        for check in POLICY.rule_for(_gate(c, access).access).attestations:
            gates.attest(s, inc, c.group, POLICY, access, check, person, now=c.now)


def test_every_check_fails_at_first_and_says_what_to_do(contained: Contained) -> None:
    gate = _gate(contained, "vpn-nomade")
    assert gate.state == gates.CLOSED and not gate.passable
    failing = {c.name: c for c in gate.checks if not c.ok}
    assert set(failing) == {
        "sweep_clean",
        "no_data_theft",
        "attestation:credentials_rotated",
        "attestation:systems_patched",
    }
    assert "rempart sweep INC-0001" in failing["sweep_clean"].todo
    assert "rempart exfil INC-0001" in failing["no_data_theft"].todo
    assert (
        "rempart attest INC-0001 vpn-nomade credentials_rotated"
        in failing["attestation:credentials_rotated"].todo
    )
    assert "rssi" in gate.approval_missing and "clinic_director" in gate.approval_missing
    with pytest.raises(gates.GateClosed) as err:
        staging.reopen(
            contained.store,
            contained.group,
            POLICY,
            contained.ref,
            "vpn-nomade",
            actor("c.martin"),
            contained.adapters,
            now=contained.now,
        )
    text = str(err.value)
    for line in (
        "sweep_clean: no IOC sweep recorded",
        "no_data_theft: no exfiltration assessment",
        "attestation:systems_patched: not attested",
    ):
        assert line in text
    assert gate.state == _gate(contained, "vpn-nomade").state == gates.CLOSED  # nothing happened


def test_staged_reopening_through_the_gate(contained: Contained, con: object) -> None:
    c = contained
    _investigate(c, con)
    gate = _gate(c, "vpn-nomade")
    sweep_check = next(x for x in gate.checks if x.name == "sweep_clean")
    assert sweep_check.ok, sweep_check.detail  # clean for 70 h, 48 h required for a VPN
    assert next(x for x in gate.checks if x.name == "no_data_theft").ok
    stale = next(x for x in _gate(c, "vpn-nomade", timedelta(hours=30)).checks if x.name == "sweep_clean")
    assert not stale.ok and "is 30 h old (24 h at most)" in stale.detail and "again" in stale.todo
    # approvals are refused while an attestation is missing
    with pytest.raises(gates.GateClosed, match="attestation:credentials_rotated"):
        staging.reopen(
            c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("c.martin"), c.adapters, now=c.now
        )
    with c.store.session() as s, pytest.raises(StateError, match="not a person of the security plan"):
        gates.attest(
            s, get_incident(s, c.ref), c.group, POLICY, "vpn-nomade", "credentials_rotated", "mallory"
        )
    with (
        c.store.session() as s,
        pytest.raises(InputError, match="needs no attestation 'vendor_access_reviewed'"),
    ):
        gates.attest(
            s, get_incident(s, c.ref), c.group, POLICY, "vpn-nomade", "vendor_access_reviewed", "c.martin"
        )
    _attest_all(c, "vpn-nomade")
    assert _gate(c, "vpn-nomade").evidence_ok

    first = staging.reopen(
        c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("c.martin"), c.adapters, now=c.now
    )
    assert first.approved_now and not first.reopened and "clinic_director" in first.detail
    with pytest.raises(
        gates.GateClosed, match="approvals: still needed"
    ):  # the same person cannot count twice
        staging.reopen(
            c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("c.martin"), c.adapters, now=c.now
        )
    with pytest.raises(StateError, match="still needs role clinic_director"):
        staging.reopen(
            c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("p.nguyen"), c.adapters, now=c.now
        )
    with pytest.raises(StateError, match="may approve only for saint-cyprien"):
        staging.reopen(c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("j.roux"), c.adapters, now=c.now)
    assert _gate(c, "vpn-nomade").state == gates.CLOSED

    done = staging.reopen(
        c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("m.durand"), c.adapters, now=c.now
    )
    assert done.reopened and done.stage == 1, done.detail
    assert _gate(c, "vpn-nomade").state == gates.REOPENED
    assert _gate(c, "passerelle-rdp").state == gates.CLOSED  # one access at a time: the others stay closed

    # the remote maintenance needs 72 h clean and the vendor review: refused, with the numbers
    tm = _gate(c, "telemaintenance-dpi")
    sweep_tm = next(x for x in tm.checks if x.name == "sweep_clean")
    assert not sweep_tm.ok and "72 h required" in sweep_tm.detail and "ingest the logs up to" in sweep_tm.todo

    with c.store.session() as s:
        assert journal.verify(s) == []
        texts = [e.text for e in incident_log.entries(s, c.incident_id) if e.source == "recover"]
        assert any("rouvert (étape 1)" in t for t in texts)


def test_a_positive_finding_shuts_a_gate_even_after_approvals(contained: Contained, con: object) -> None:
    c = contained
    _investigate(c, con)
    _attest_all(c, "passerelle-rdp")
    staging.reopen(
        c.store, c.group, POLICY, c.ref, "passerelle-rdp", actor("c.martin"), c.adapters, now=c.now
    )
    with c.store.session() as s:  # new evidence arrives before the second approver acts
        inc = get_incident(s, c.ref)
        findings.record_finding(
            s,
            inc,
            findings.FindingKind.DATA_THEFT,
            True,
            "Transfert de 2 Go vers une adresse inconnue.",
            {"window_bytes": 2e9},
            "expert",
        )
    with pytest.raises(gates.GateClosed) as err:
        staging.reopen(
            c.store, c.group, POLICY, c.ref, "passerelle-rdp", actor("m.durand"), c.adapters, now=c.now
        )
    assert "no_data_theft: data-theft finding v2 is POSITIVE" in str(err.value)
    assert "supersedes it" in str(err.value)
    assert _gate(c, "passerelle-rdp").state == gates.CLOSED


def test_a_gateway_still_isolated_is_noted(store: object, group: object, example_group_path: Path) -> None:
    from tests.recover.conftest import make_contained

    # the portal's web server was compromised: isolated by the plan, it keeps the portal unreachable
    c = make_contained(store, group, example_group_path, hosts=("tls-cap-web01", "tls-cap-ws003"))  # type: ignore[arg-type]
    portal, rdp = _gate(c, "portail-patient"), _gate(c, "passerelle-rdp")
    assert [h["gateway"] for h in portal.held_by] == ["tls-cap-web01"]
    assert "rempart rollback" in portal.notes[0] and portal.held_by[0]["title"].startswith("Isoler")
    assert rdp.held_by == []  # its gateway is the firewall, which nothing isolates
    assert portal.to_dict()["held_by"] == portal.held_by


def test_an_interrupted_reopening_blocks_the_next_until_finished(contained: Contained, con: object) -> None:
    from rempart.store.models.recover import ReopeningRow

    c = contained
    _investigate(c, con)
    for access in ("vpn-nomade", "passerelle-rdp"):
        _attest_all(c, access)
        staging.reopen(c.store, c.group, POLICY, c.ref, access, actor("c.martin"), c.adapters, now=c.now)
    with c.store.session() as s:  # a process died between the decision and the rollback
        s.add(
            ReopeningRow(
                incident_id=c.incident_id,
                access_id="passerelle-rdp",
                establishment="capitouls",
                actor="m.durand",
                decided_at=c.now,
                status="decided",
                gate={},
            )
        )
    with pytest.raises(StateError, match="passerelle-rdp' is not finished") as err:
        staging.reopen(
            c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("m.durand"), c.adapters, now=c.now
        )
    assert "rempart reopen INC-0001 passerelle-rdp" in str(err.value)
    assert staging.reopen(
        c.store, c.group, POLICY, c.ref, "passerelle-rdp", actor("m.durand"), c.adapters, now=c.now
    ).reopened
    assert (
        staging.reopen(
            c.store, c.group, POLICY, c.ref, "vpn-nomade", actor("m.durand"), c.adapters, now=c.now
        ).stage
        == 2
    )
    statuses = [(r.access_id, r.status) for r in staging.reopenings(c.store, c.incident_id)]
    assert statuses == [
        ("passerelle-rdp", "interrupted"),
        ("passerelle-rdp", "reopened"),
        ("vpn-nomade", "reopened"),
    ]
