"""syslog, FortiGate and Zeek readers on our own sample files."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from .conftest import read_all, rows


def test_syslog_rfc3164_sshd_and_sudo(fixtures: Path) -> None:
    # 'user' is stored as 'User': one spelling per name across products (the store is case-insensitive)
    table, report = read_all([fixtures / "auth.log"], reference_year=2026)
    got = rows(table)
    assert len(got) == 7
    first = got[0]
    assert first["_ts"] == datetime(2026, 11, 28, 10, 2, 11, tzinfo=UTC)
    assert (first["_product"], first["_service"], first["_host"]) == ("linux", "sshd", "tls-cap-dpi01")
    assert (first["outcome"], first["User"], first["source_ip"], first["source_port"]) == (
        "invalid_user", "admin", "203.0.113.7", "51234",
    )  # fmt: skip
    assert (got[1]["outcome"], got[1]["User"], got[1]["auth_method"]) == ("failure", "root", "password")
    assert (got[2]["outcome"], got[2]["User"]) == ("invalid_user", "oracle")
    assert (got[3]["outcome"], got[3]["User"], got[3]["auth_method"]) == ("success", "c.martin", "publickey")
    sudo = got[4]
    assert sudo["_service"] == "sudo" and sudo["pid"] is None
    assert (sudo["User"], sudo["target_user"], sudo["tty"], sudo["pwd"]) == (
        "c.martin", "root", "pts/0", "/home/c.martin",
    )  # fmt: skip
    assert sudo["command"] == "/usr/bin/systemctl restart dpi-app" and sudo["outcome"] == "success"
    assert got[5]["outcome"] == "failure" and got[5]["User"] == "j.dupont"
    assert got[6]["_service"] == "auth" and got[6]["program"] == "systemd-logind" and got[6]["pid"] == "612"
    assert [q.record for q in report.quarantined] == [8]
    assert "not a syslog line" in report.quarantined[0].reason


def test_syslog_year_from_file_mtime(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(
        "Dec 31 23:59:00 h1 sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2\n"
        "Jan  1 00:01:00 h1 sshd[1]: Failed password for root from 10.0.0.1 port 2 ssh2\n"
    )
    written = datetime(2027, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    os.utime(path, (written, written))
    got = rows(read_all([path])[0])
    assert [r["_ts"].year for r in got] == [2026, 2027]  # type: ignore[union-attr]


def test_syslog_rfc5424(fixtures: Path) -> None:
    got = rows(read_all([fixtures / "syslog5424.log"])[0])
    assert got[0]["_ts"] == datetime(2026, 11, 28, 9, 2, 13, 120000, tzinfo=UTC)
    assert (got[0]["_service"], got[0]["outcome"], got[0]["pid"]) == ("sshd", "failure", "981")
    assert got[0]["facility"] == "4" and got[0]["severity"] == "6"
    assert (got[1]["_service"], got[1]["User"], got[1]["command"]) == ("sudo", "alice", "/usr/bin/id")


def test_fortigate_vpn_and_traffic(fixtures: Path) -> None:
    table, report = read_all([fixtures / "fortigate.log"])
    got = rows(table)
    assert len(got) == 3
    fail, up, traffic = got
    assert (fail["_product"], fail["_service"], fail["_host"]) == ("fortigate", "vpn", "tls-cap-fw01")
    assert (fail["action"], fail["User"], fail["remip"]) == ("ssl-login-fail", "c.martin", "203.0.113.50")
    assert (
        fail["reason"] == "sslvpn_login_permission_denied" and fail["msg"] == "SSL user failed to logged in"
    )
    assert fail["_ts"] == datetime(2026, 11, 28, 9, 1, 2, 123456, tzinfo=UTC)  # eventtime (ns) wins
    assert up["action"] == "tunnel-up" and up["tunnelip"] == "10.212.134.200"
    assert up["_ts"] == datetime(2026, 11, 28, 9, 9, 40, tzinfo=UTC)  # date+time with tz=+0100
    assert traffic["_service"] == "traffic"
    assert (traffic["srcip"], traffic["dstip"], traffic["sentbyte"], traffic["rcvdbyte"]) == (
        "10.11.1.20", "198.51.100.20", "18234", "502311",
    )  # fmt: skip
    assert [q.record for q in report.quarantined] == [4]


def test_zeek_tsv_conn_log(fixtures: Path) -> None:
    table, report = read_all([fixtures / "conn.log"])
    got = rows(table)
    assert len(got) == 2
    assert (got[0]["_product"], got[0]["_service"], got[0]["_host"]) == ("zeek", "conn", "10.11.1.20")
    assert (got[0]["id.orig_h"], got[0]["orig_bytes"], got[0]["resp_bytes"]) == (
        "10.11.1.20",
        "18234",
        "502311",
    )
    assert got[0]["_ts"] == datetime.fromtimestamp(1764324062.123456, UTC)
    assert got[1]["service"] is None and got[1]["resp_bytes"] == ""  # '-' is NULL, '(empty)' is ''
    assert [q.record for q in report.quarantined] == [11]


def test_zeek_json_both_spellings_of_id_fields(fixtures: Path) -> None:
    table, _ = read_all([fixtures / "zeek.json"])
    got = rows(table)
    assert [r["_service"] for r in got] == ["conn", "dns"]
    assert [r["id.orig_h"] for r in got] == ["10.11.1.20", "10.11.1.21"]
    assert table is not None and "id_orig_h" not in table.column_names
    assert got[0]["_host"] == "sensor-tls" and got[1]["_host"] == "10.11.1.21"
    assert got[1]["_ts"] == datetime(2026, 11, 28, 10, 1, 3, 250000, tzinfo=UTC)
    assert got[1]["orig_path"] == "dns"  # Zeek's '_path' renamed: '_' names are reserved for the core


def test_syslog_with_garbage_first_binary_and_over_long_lines(fixtures: Path, tmp_path: Path) -> None:
    from rempart.ingest.interface import MAX_LINE_BYTES

    good = (fixtures / "auth.log").read_bytes().splitlines()[:2]
    path = tmp_path / "auth.log"
    path.write_bytes(
        b"\n".join(
            [
                b"-- rotated by logrotate --",
                good[0],
                b"\x00\x01\x02\x03\xfe\xff binary \x00",
                b"Nov 28 10:02:12 h sshd[1]: " + b"A" * (MAX_LINE_BYTES + 1),
                good[1],
            ]
        )
        + b"\n"
    )
    table, report = read_all([path], reference_year=2026)
    assert table is not None and table.column("_record").to_pylist() == [2, 5]
    reasons = {q.record: q.reason for q in report.quarantined}
    assert set(reasons) == {1, 3, 4}
    assert "not a syslog line" in reasons[1] and "binary" in reasons[3] and "over-long" in reasons[4]


def test_syslog_as_journalctl_prints_it_and_openssh_sessions(tmp_path: Path) -> None:
    path = tmp_path / "ssh.txt"  # journalctl -u ssh -o short-precise > ssh.txt, on Debian 13
    path.write_text(
        "-- Boot 5f1c0a9e3b7d4c2a8e6f1a2b3c4d5e6f --\n"
        "Nov 28 10:02:11.120034 tls-cap-dpi01 sshd-session[4242]: Failed password for root from 203.0.113.7 "
        "port 51240 ssh2\n"
        "2026-11-28T11:02:12+0100 tls-cap-dpi01 sshd-auth[4243]: Invalid user oracle from 203.0.113.7 "
        "port 51300\n"
        "-- No entries --\n"
    )
    table, report = read_all([path], reference_year=2026)
    got = rows(table)
    assert [(r["_service"], r["program"], r["outcome"]) for r in got] == [
        ("sshd", "sshd-session", "failure"), ("sshd", "sshd-auth", "invalid_user")]
    assert [r["_ts"] for r in got] == [datetime(2026, 11, 28, 10, 2, 11, 120034, tzinfo=UTC),
                                       datetime(2026, 11, 28, 10, 2, 12, tzinfo=UTC)]
    assert [r["_record"] for r in got] == [2, 3] and not report.quarantined  # the '--' lines are not events
