"""The systemd journal (``journalctl -o json``): the events auth.log would give, from the journal's fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .conftest import read_all, rows

COMPARED = ("_product", "_service", "_host", "outcome", "User", "source_ip", "auth_method",
            "target_user", "command")


def test_journal_entries_give_the_events_of_the_same_auth_log_lines(fixtures: Path) -> None:
    journal, _ = read_all([fixtures / "journal.json"])
    auth = rows(read_all([fixtures / "auth.log"], reference_year=2026)[0])
    got = rows(journal)
    assert [r["_format"] for r in got] == ["journald"] * 6
    # the journal's: two failures, the login, the sudo, logind; auth.log's lines 1, 2, 4, 5 and 7
    pairs = list(zip(got[:5], [auth[0], auth[1], auth[3], auth[4], auth[6]], strict=True))
    for mine, theirs in pairs:
        assert {k: mine.get(k) for k in COMPARED} == {k: theirs.get(k) for k in COMPARED}
        assert mine["_ts"].replace(microsecond=0) == theirs["_ts"]  # type: ignore[attr-defined]
    assert got[0]["_ts"] == datetime(2026, 11, 28, 10, 2, 11, 120000, tzinfo=UTC)  # microseconds kept


def test_journal_fields_and_records(fixtures: Path) -> None:
    table, report = read_all([fixtures / "journal.json"])
    got = rows(table)
    first = got[0]
    assert first["program"] == "sshd-session" and first["_service"] == "sshd"  # OpenSSH 9.8+
    assert (first["pid"], first["unit"], first["exe"], first["uid"], first["transport"]) == (
        "4242", "ssh.service", "/usr/lib/openssh/sshd-session", "0", "syslog")
    assert (first["facility"], first["severity"]) == ("4", "6")
    assert json.loads(str(first["_raw"]))["__CURSOR"].startswith("s=9c1e")  # the entry as written
    assert [r["_record"] for r in got] == [1, 2, 3, 4, 5, 6]
    assert got[3]["_service"] == "sudo" and got[3]["facility"] == "10"
    assert got[4]["_service"] == "auth"  # systemd-logind, facility auth: what auth.log would hold
    kernel = got[5]
    assert kernel["_service"] == "syslog" and kernel["program"] == "kernel" and kernel["pid"] is None
    assert kernel["Message"] == "usb 1-1: \ufffdnew"  # a MESSAGE of raw bytes, decoded
    assert [(q.record, q.reason.split(":")[0]) for q in report.quarantined] == [
        (7, "invalid JSON"), (8, "no __REALTIME_TIMESTAMP (microseconds since the epoch)")]


def test_a_journal_export_is_not_taken_for_windows_events(fixtures: Path, tmp_path: Path) -> None:
    # a journal entry carrying a field named like a Windows one is still the journal's
    line = json.dumps({"__REALTIME_TIMESTAMP": "1795860131000000", "_HOSTNAME": "h", "EventID": "1",
                       "SYSLOG_IDENTIFIER": "sshd", "MESSAGE": "Invalid user x from 198.51.100.2"})
    (tmp_path / "export.json").write_text(line + "\n")
    got = rows(read_all([tmp_path / "export.json"])[0])
    assert (got[0]["_product"], got[0]["_service"], got[0]["outcome"]) == ("linux", "sshd", "invalid_user")
