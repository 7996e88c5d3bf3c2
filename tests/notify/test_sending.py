"""Sending through a real SMTP server (aiosmtpd) on loopback, including servers that refuse."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rempart.adapters.smtp import RelaySettings, SMTPRelay, load_relay_settings
from rempart.adapters.smtp_sink import LocalSMTPServer, free_port
from rempart.domain.inventory import Group
from rempart.errors import ConfigError, StateError
from rempart.notify import service
from rempart.notify.obligations import ClockStatus
from rempart.notify.transport import DeliveryError
from rempart.store import journal
from rempart.store.db import Store
from tests.notify.conftest import OPENED, Case, make_incident

SENDER = "crise@horizon-sante.example"
ARS = "ars-oc-alerte@ars.sante.example"


def relay(port: int) -> SMTPRelay:
    return SMTPRelay(RelaySettings(host="127.0.0.1", port=port, security="none", sender=SENDER, timeout=5))


def test_send_records_message_id_and_journals(case: Case, tmp_path: Path) -> None:
    now = OPENED + timedelta(hours=1)
    with LocalSMTPServer() as server:
        row = service.send(
            case.store,
            case.ref,
            "csp_signalement",
            case.group,
            relay(server.port),
            [ARS],
            "rssi",
            tmp_path,
            now=now,
        )
    assert row.status == "sent" and row.done_at == now
    [got] = server.received
    assert got.recipients == [ARS] and got.sender == SENDER
    assert got.message["Message-ID"] == row.message_id
    assert "Déclaration d'incident grave" in str(got.message["Subject"])
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None and "FINESS 310000001" in body.get_content()
    [pdf] = [p for p in got.message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_content().startswith(b"%PDF")
    with case.store.session() as s:
        actions = [e.action for e in journal.entries(s, "INC-0001:notify")]
        assert actions == ["notify.send", "notify.sent"]
        assert journal.verify(s) == []
    clocks = {
        (c.obligation.id, c.stage.id): c
        for c in service.compute_clocks(case.store, case.ref, case.group, now=now)
    }
    assert clocks["csp_signalement", "declaration"].status == ClockStatus.DONE
    log = service.log_entries(case.store, case.ref)
    assert any(row.message_id and row.message_id in e.text for e in log)


@pytest.mark.parametrize("refuse", ["rcpt", "data"])
def test_refusal_is_a_clear_error_recorded_as_failed_then_retry_works(
    case: Case, tmp_path: Path, refuse: str
) -> None:
    with LocalSMTPServer(refuse=refuse) as bad, pytest.raises(DeliveryError) as err:  # type: ignore[arg-type]
        service.send(
            case.store,
            case.ref,
            "cnil_violation",
            case.group,
            relay(bad.port),
            ["cnil@cnil.example"],
            "dpo",
            tmp_path,
            now=OPENED + timedelta(hours=2),
        )
    assert "550" in str(err.value) and "recorded as failed" in str(err.value)
    assert ("recipient" in str(err.value)) == (refuse == "rcpt")
    [failed] = [v.row for v in service.sendings(case.store, case.ref)]
    assert failed.status == "failed" and failed.error and "550" in failed.error
    assert Path(failed.data["pdf"]).is_file()  # nothing lost: the draft is kept
    clocks = {
        (c.obligation.id, c.stage.id): c
        for c in service.compute_clocks(case.store, case.ref, case.group, now=OPENED + timedelta(hours=2))
    }
    assert clocks["cnil_violation", "initial"].status == ClockStatus.DUE  # a failure does not stop the clock
    with pytest.raises(StateError):
        service.record_ack(case.store, str(failed.id), "CNIL", "", "dpo")
    with LocalSMTPServer() as good:
        ok = service.send(
            case.store,
            case.ref,
            "cnil_violation",
            case.group,
            relay(good.port),
            ["cnil@cnil.example"],
            "dpo",
            tmp_path,
            now=OPENED + timedelta(hours=3),
        )
    assert ok.status == "sent" and ok.id != failed.id and len(good.received) == 1
    with case.store.session() as s:
        assert [e.action for e in journal.entries(s, "INC-0001:notify")] == [
            "notify.send",
            "notify.failed",
            "notify.send",
            "notify.sent",
        ]


def test_unreachable_relay(case: Case, tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match=r"cannot deliver through relay 127\.0\.0\.1"):
        service.send(
            case.store,
            case.ref,
            "police_complaint",
            case.group,
            relay(free_port()),
            ["p@x.example"],
            "rssi",
            tmp_path,
            now=OPENED,
        )
    assert [v.row.status for v in service.sendings(case.store, case.ref)] == ["failed"]


def test_acknowledgement_by_message_id(case: Case, tmp_path: Path) -> None:
    with LocalSMTPServer() as server:
        row = service.send(
            case.store,
            case.ref,
            "partners",
            case.group,
            relay(server.port),
            ["labo@bio.example"],
            "rssi",
            tmp_path,
            now=OPENED,
        )
    assert row.message_id is not None
    ack = service.record_ack(
        case.store, row.message_id, "Laboratoire de biologie", "reçu, liaison coupée", "rssi"
    )
    [view] = service.sendings(case.store, case.ref)
    assert [a.id for a in view.acks] == [ack.id] and view.acks[0].by == "Laboratoire de biologie"


def test_nothing_to_send_when_done(case: Case, tmp_path: Path) -> None:
    service.record_filing(
        case.store,
        case.ref,
        "police_complaint",
        "complaint",
        case.group,
        channel="in_person",
        reference="PV 2026/0042",
        author="directeur",
        at=OPENED + timedelta(hours=5),
    )
    with LocalSMTPServer() as server, pytest.raises(StateError, match="nothing to send"):
        service.send(
            case.store,
            case.ref,
            "police_complaint",
            case.group,
            relay(server.port),
            ["p@x.example"],
            "rssi",
            tmp_path,
            now=OPENED + timedelta(hours=6),
        )
    assert server.received == []


def test_closing_tasks(store: Store, group: Group, tmp_path: Path) -> None:
    iid = make_incident(store)
    service.record_filing(
        store,
        iid,
        "nis2_anssi",
        "notification",
        group,
        channel="portal",
        reference="N-1",
        author="rssi",
        at=OPENED + timedelta(hours=40),
    )
    tasks = service.closing_tasks_status(store, iid, group, now=OPENED + timedelta(days=10))
    assert {(t.obligation.id, t.stage.id) for t in tasks} == {
        ("csp_signalement", "resolution"),
        ("nis2_anssi", "final_report"),
    }
    assert not any(t.status == ClockStatus.DONE for t in tasks)
    with LocalSMTPServer() as server:
        sent = service.send_closing_notices(
            store,
            iid,
            group,
            relay(server.port),
            {"csp_signalement": [ARS], "nis2_anssi": ["cert-fr@ssi.example"]},
            "direction",
            tmp_path,
            resolved_at=OPENED + timedelta(days=12),
            summary="Accès rouverts",
            now=OPENED + timedelta(days=12, hours=1),
        )
    assert sorted(r.obligation for r in sent) == ["csp_signalement", "nis2_anssi"]
    assert all(r.status == "sent" for r in sent) and len(server.received) == 2
    tasks = service.closing_tasks_status(store, iid, group, now=OPENED + timedelta(days=13))
    assert all(t.status == ClockStatus.DONE for t in tasks)


def test_relay_settings_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "relay.yaml"
    good.write_text(
        "host: smtp-secours.example\nport: 465\nsecurity: ssl\nsender: crise@horizon-sante.example\n"
    )
    assert load_relay_settings(good).security == "ssl"
    bad = tmp_path / "bad.yaml"
    bad.write_text("host: smtp-secours.example\nport: 99999\nsecurity: tls\nsender: nobody\n")
    with pytest.raises(ConfigError) as err:
        load_relay_settings(bad)
    text = str(err.value)
    assert "bad.yaml:2" in text and "port" in text and "security" in text and "sender" in text
    for var in ("HOST", "SENDER"):
        monkeypatch.delenv(f"REMPART_OOB_SMTP_{var}", raising=False)
    with pytest.raises(ConfigError, match="no out-of-band SMTP relay"):
        load_relay_settings()
    monkeypatch.setenv("REMPART_OOB_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REMPART_OOB_SMTP_SENDER", SENDER)
    monkeypatch.setenv("REMPART_OOB_SMTP_SECURITY", "none")
    assert load_relay_settings().host == "127.0.0.1"


def test_a_newer_finding_marks_sent_drafts_stale(case: Case, tmp_path: Path) -> None:
    from tests.notify.conftest import add_finding

    with LocalSMTPServer() as server:
        sent = service.send(
            case.store,
            case.ref,
            "csp_signalement",
            case.group,
            relay(server.port),
            [ARS],
            "rssi",
            tmp_path,
            now=OPENED + timedelta(hours=1),
        )
    [view] = service.sendings(case.store, case.ref)
    assert not view.stale
    add_finding(
        case.store,
        case.incident_id,
        "propagation",
        True,
        "Compte admin.dpi utilisé à Saint-Cyprien",
        OPENED + timedelta(days=2),
    )
    [view] = service.sendings(case.store, case.ref)
    assert view.row.id == sent.id and view.stale and view.newer_findings == ["propagation v1"]
    clocks = {
        (c.obligation.id, c.stage.id): c
        for c in service.compute_clocks(case.store, case.ref, case.group, now=OPENED + timedelta(days=2))
    }
    assert clocks["csp_signalement", "update"].status == ClockStatus.DUE
    [draft] = service.make_drafts(
        case.store,
        case.ref,
        case.group,
        obligation="csp_signalement",
        stage="update",
        now=OPENED + timedelta(days=2),
    )
    assert "Compte admin.dpi utilisé à Saint-Cyprien" in draft.email_text
    assert (
        "[x] Susceptible d'affecter d'autres établissements" not in draft.markup
    )  # not a field of the update
