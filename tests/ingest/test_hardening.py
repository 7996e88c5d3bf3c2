"""Issue 13: a record costs at most itself, and no value can choose a file's format.

Each test is one finding of the issue, written from its description: a crafted value that hijacked format
detection, a line that crashed the process or lost its whole file, a parser quadratic in line length.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import rempart
from rempart.ingest.readers.fortigate import parse_pairs

from .conftest import read_all, rows

XML_START = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"  # 69 characters
DEEP = 100_000


def _auth_log(n: int, user_at: int, user: str) -> str:
    lines = []
    for i in range(n):
        name = user if i == user_at else f"user{i}"
        lines.append(f"Nov 28 10:{i // 60:02d}:{i % 60:02d} tls-cap-dpi01 sshd[{4000 + i}]: "
                     f"Failed password for invalid user {name} from 203.0.113.7 port {50000 + i} ssh2")
    return "\n".join(lines) + "\n"


def _logon(i: int, user: str = "admin", ts: str | None = None) -> dict[str, object]:
    return {
        "@timestamp": ts or f"2026-11-28T10:{i // 60:02d}:{i % 60:02d}.000Z", "Channel": "Security",
        "EventID": 4625, "Hostname": "tls-cap-dc01.capitouls.local", "TargetUserName": user,
        "IpAddress": "203.0.113.7", "LogonType": 3,
    }


def _jsonl(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# --- 1. detection cannot be blinded by one string ------------------------------------------------------

def test_an_sshd_user_name_shaped_as_an_xml_event_does_not_make_auth_log_xml(tmp_path: Path) -> None:
    assert len(XML_START) < 100  # sshd logs user names up to this length, unescaped
    path = tmp_path / "auth.log"
    path.write_text(_auth_log(59, 2, XML_START))
    table, report = read_all([path], reference_year=2026)
    got = rows(table)
    assert len(got) == 59 and not report.failed and not report.quarantined
    assert {r["_format"] for r in got} == {"syslog"}
    assert got[2]["User"] == XML_START  # the crafted name is kept, as the value it is


def test_the_xml_string_in_a_target_user_name_does_not_hide_a_windows_json_file(tmp_path: Path) -> None:
    path = tmp_path / "security.json"
    path.write_text(_jsonl([_logon(i, XML_START if i == 3 else "admin") for i in range(120)]))
    table, report = read_all([path])
    got = rows(table)
    assert len(got) == 120 and not report.failed and not report.quarantined
    assert {r["_format"] for r in got} == {"winjson"}
    assert got[3]["TargetUserName"] == XML_START


def test_values_shaped_as_journal_or_zeek_keys_do_not_choose_the_reader(tmp_path: Path) -> None:
    # '"__CURSOR' as a value is written "\"__CURSOR": the bytes '"__CURSOR"' appear in the file, as a value
    records = [_logon(i) for i in range(20)]
    records[0]["TargetUserName"], records[0]["WorkstationName"] = '"__CURSOR', '"ts'
    records[1]["TargetUserName"], records[1]["WorkstationName"] = '"__REALTIME_TIMESTAMP', '"uid'
    path = tmp_path / "security.json"
    path.write_text(_jsonl(records))
    table, report = read_all([path])
    assert {r["_format"] for r in rows(table)} == {"winjson"}
    assert table is not None and table.num_rows == 20 and not report.quarantined


def test_a_sshd_user_name_shaped_as_fortigate_pairs_does_not_make_auth_log_fortigate(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_text(_auth_log(30, 0, "date=2026-11-28 devname=x logid=1"))
    table, report = read_all([path], reference_year=2026)
    assert {r["_format"] for r in rows(table)} == {"syslog"}
    assert table is not None and table.num_rows == 30 and not report.quarantined


# --- 2. the process survives deep JSON ------------------------------------------------------------------

_READ_IN_CHILD = """
import sys
from pathlib import Path
from rempart.ingest import IngestReport, read_paths
report = IngestReport()
kept = sum(t.num_rows for t in read_paths([Path(sys.argv[1])], report=report))
print(kept, report.quarantined_count, len(report.failed))
for q in report.quarantined:
    print(q.source, q.record, q.reason)
"""


def _read_in_child(path: Path) -> tuple[int, list[str]]:
    """Events kept and the quarantine, read by another process: a crash fails the test, not pytest."""
    env = {**os.environ, "PYTHONPATH": str(Path(rempart.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", _READ_IN_CHILD, str(path)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, f"reading {path.name} ended with {done.returncode}: {done.stderr[-500:]}"
    first, *quarantine = done.stdout.splitlines()
    kept, quarantined, failed = map(int, first.split())
    assert failed == 0 and quarantined == len(quarantine)
    return kept, quarantine


def _deep_line() -> str:
    return '{"EventID":4625,"Channel":"Security","x":' + '{"a":' * DEEP + "1" + "}" * DEEP + "}"


def test_a_line_nested_100000_deep_in_a_windows_json_file_is_quarantined(tmp_path: Path) -> None:
    lines = [json.dumps(_logon(i)) for i in range(10)]
    lines.insert(4, _deep_line())
    path = tmp_path / "security.json"
    path.write_text("\n".join(lines) + "\n")
    kept, quarantine = _read_in_child(path)
    assert kept == 10
    assert len(quarantine) == 1 and quarantine[0].startswith(f"{path} 5 nested deeper than")


def _zeek_lines(deep_at: int) -> str:
    lines = [json.dumps({"_path": "conn", "ts": 1764324062.5 + i, "uid": f"C{i}", "id.orig_h": "10.11.1.20",
                         "id.resp_h": "198.51.100.20", "proto": "tcp"}) for i in range(8)]
    lines.insert(deep_at, '{"_path":"conn","ts":1764324062.5,"uid":"CX","x":' + "[" * DEEP + "]" * DEEP + "}")
    return "\n".join(lines) + "\n"


def test_a_line_nested_100000_deep_in_a_zeek_log_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "conn.log"
    path.write_text(_zeek_lines(3))
    kept, quarantine = _read_in_child(path)
    assert kept == 8 and len(quarantine) == 1 and " 4 nested deeper than" in quarantine[0]


def test_a_line_nested_100000_deep_in_a_gz_member_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "conn.log.gz"
    path.write_bytes(gzip.compress(_zeek_lines(0).encode()))
    kept, quarantine = _read_in_child(path)
    assert kept == 8 and len(quarantine) == 1 and " 1 nested deeper than" in quarantine[0]


def test_a_deep_json_document_costs_only_itself(tmp_path: Path) -> None:
    deep = json.loads("[" * 50 + "]" * 50)
    for _ in range(40):
        deep = [deep]  # nested 90 lists deep
    items = [_logon(i) for i in range(5)]
    items[2]["x"] = deep
    text = "[" + ",".join(json.dumps(item) for item in items[:3]) + ',{"x":' + "[" * DEEP + "]" * DEEP
    text += "}," + ",".join(json.dumps(item) for item in items[3:]) + "]"
    path = tmp_path / "regression.json"
    path.write_text(text)
    kept, quarantine = _read_in_child(path)
    assert kept == 4  # the third item nests 91 levels, the fourth 100,001: both quarantined, the rest read
    assert [q.split(" ", 2)[1:] for q in quarantine] == [["3", "nested deeper than 64 levels (line 1)"],
                                                          ["4", "nested deeper than 64 levels (line 1)"]]


# --- 5. one bad record does not lose its file -----------------------------------------------------------

def test_a_minute_60_timestamp_loses_only_its_event(tmp_path: Path) -> None:
    records = [_logon(i) for i in range(50)]
    records[7] = _logon(7, ts="2026-11-28T10:60:03.000Z")
    path = tmp_path / "security.json"
    path.write_text(_jsonl(records))
    table, report = read_all([path])
    assert table is not None and table.num_rows == 49 and not report.failed
    assert [(q.record, q.reason) for q in report.quarantined] == [(8, "no valid timestamp")]


def test_a_minute_60_in_a_document_loses_only_its_event(tmp_path: Path) -> None:
    records = [_logon(i) for i in range(5)]
    records[1] = _logon(1, ts="2026-11-28 10:60:03")
    path = tmp_path / "security.json"
    path.write_text(json.dumps(records, indent=2))
    table, report = read_all([path])
    assert table is not None and table.num_rows == 4 and not report.failed
    assert [q.record for q in report.quarantined] == [2]


def test_a_lone_surrogate_in_a_json_document_loses_only_its_event(tmp_path: Path) -> None:
    text = json.dumps([_logon(0), _logon(1, "ad\ud800min"), _logon(2)], indent=2)  # written as \\ud800
    assert "\\ud800" in text
    path = tmp_path / "security.json"
    path.write_text(text)
    table, report = read_all([path])
    assert table is not None and not report.failed
    assert [r["TargetUserName"] for r in rows(table)] == ["admin", "admin"]
    assert [q.record for q in report.quarantined] == [2] and "surrogate" in report.quarantined[0].reason


def test_a_lone_surrogate_in_json_lines_loses_only_its_line(tmp_path: Path) -> None:
    lines = [json.dumps(_logon(i, "ad\ud800min" if i == 1 else "admin")) for i in range(4)]
    zeek = [json.dumps({"_path": "dns", "ts": 1764324062.5, "uid": "C1", "query": q})
            for q in ("a.example", "b\udc00.example", "c.example")]
    (tmp_path / "security.json").write_text("\n".join(lines) + "\n")
    (tmp_path / "dns.log").write_text("\n".join(zeek) + "\n")
    table, report = read_all([tmp_path / "security.json", tmp_path / "dns.log"])
    assert table is not None and table.num_rows == 5 and not report.failed
    assert sorted((Path(q.source).name, q.record) for q in report.quarantined) == [
        ("dns.log", 2), ("security.json", 2)]


def test_invalid_utf8_in_a_json_document_is_located_by_line(tmp_path: Path) -> None:
    data = json.dumps([_logon(0), _logon(1), _logon(2)], indent=2).encode()
    at = data.index(b"admin", data.index(b'"EventID"', data.index(b"10:00:01")))
    path = tmp_path / "security.json"
    path.write_bytes(data[:at] + b"\xff" + data[at:])
    table, report = read_all([path])
    assert table is not None and table.num_rows == 2 and not report.failed
    line = data[:at].count(b"\n") + 1
    assert len(report.quarantined) == 1 and f"line {line}" in report.quarantined[0].reason


def test_a_field_that_changes_type_between_lines_keeps_every_line(tmp_path: Path) -> None:
    records = [_logon(i) for i in range(6)]
    records[2]["LogonType"] = {"value": 3}
    records[4]["LogonType"] = [3, "network"]
    path = tmp_path / "security.json"
    path.write_text(_jsonl(records))
    zeek = tmp_path / "conn.log"
    zeek.write_text(_jsonl([{"_path": "conn", "ts": 1764324062.5, "uid": "C1", "orig_bytes": v}
                            for v in (39, {"n": 39}, "39", [1, 2], None)]))
    table, report = read_all([path, zeek])
    assert not report.failed and not report.quarantined
    got = rows(table)
    assert [r["LogonType"] for r in got[:6]] == ["3", "3", None, "3", '[3,"network"]', "3"]
    assert got[2]["LogonType.value"] == "3"  # an object's members are fields of their own, as always
    assert [r["orig_bytes"] for r in got[6:]] == ["39", None, "39", "[1,2]", None]
    assert got[7]["orig_bytes.n"] == "39"


def _lines_of(tmp_path: Path, name: str, good: list[str], bad: str, at: int = 1) -> list[str]:
    """The lines kept of a file of `good` lines with `bad` among them."""
    lines = [*good[:at], bad, *good[at:]]
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    table, report = read_all([path], reference_year=2026)
    assert table is not None and not report.failed, report.summary()
    return [str(r["_raw"]) for r in rows(table)]


def test_a_bad_time_or_number_in_a_text_line_loses_only_that_line(tmp_path: Path) -> None:
    fortigate = [f'date=2026-11-28 time=10:01:0{i} devname="fw01" logid="0101039426" type="event" '
                 f'subtype="vpn" action="ssl-login-fail" remip=203.0.113.50 user="u{i}"' for i in range(3)]
    for bad in ('date=2026-11-28 time=10:01:09 devname="fw01" logid="1" tz="+9900" user="x"',
                'date=0001-01-01 time=00:00:00 devname="fw01" logid="1" tz="+0100"',
                'date=2026-11-28 time=10:01:09 devname="fw01" logid="1" user="\udc80"'):
        kept = _lines_of(tmp_path, "fortigate.log", fortigate, bad)
        assert kept == fortigate, bad[-40:]
    huge = 'date=2026-11-28 time=10:01:09 devname="fw01" logid="1" eventtime=' + "9" * 5000
    kept = _lines_of(tmp_path, "fortigate.log", fortigate, huge)  # date and time stand in for it
    assert kept == [fortigate[0], huge, *fortigate[1:]]
    auth = _auth_log(3, 99, "").splitlines()
    for bad in ("Feb 29 10:02:11 h1 sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2",
                "0001-01-01T00:10:00+01:00 h1 sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2"):
        kept = _lines_of(tmp_path, "auth.log", auth, bad)
        assert kept == auth, bad
    audit = [f"type=CWD msg=audit(1795856531.{i:03d}:42): cwd=\"/root\"" for i in range(3)]
    far = "type=CWD msg=audit(" + "9" * 30 + '.1:4): cwd="/"'
    kept = _lines_of(tmp_path, "audit.log", audit, far)
    assert kept == audit
    journal = [json.dumps({"__REALTIME_TIMESTAMP": str(1795860131120000 + i), "_HOSTNAME": "h1",
                           "SYSLOG_IDENTIFIER": "sshd", "MESSAGE": "hello"}) for i in range(3)]
    kept = _lines_of(tmp_path, "journal.json", journal,
                             json.dumps({"__REALTIME_TIMESTAMP": "9" * 40, "MESSAGE": "x"}))
    assert kept == journal
    deep = json.dumps({"__REALTIME_TIMESTAMP": "1795860131120000", "MESSAGE": [[[[[[[["a"]]]]]]]] * 2})
    deep = deep.replace('"a"', "[" * 900 + "]" * 900)  # a repeated field's first value: no recursion
    kept = _lines_of(tmp_path, "journal.json", journal, deep)
    assert kept == [journal[0], deep, *journal[1:]]


def test_sysmon_for_linux_lines_with_a_bad_time_or_deep_xml_cost_only_themselves(
    fixtures: Path, tmp_path: Path,
) -> None:
    good = (fixtures / "sysmon_linux.log").read_text().strip()
    bad_time = good.replace("SystemTime=\"", "SystemTime=\"2026-11-28T10:60:03.000Z\" x=\"", 1)
    assert bad_time != good
    deep = good.split(" sysmon: ")[0] + " sysmon: <Event><System>" + "<a>" * 5000 + "</a>" * 5000
    deep += "</System></Event>"
    path = tmp_path / "syslog"
    path.write_text("\n".join([good, bad_time, deep, good]) + "\n")
    table, report = read_all([path], reference_year=2026)
    assert not report.failed, report.summary()
    got = rows(table)
    assert [r["_service"] for r in got if r["_raw"] == good] == ["sysmon", "sysmon"]
    assert len(got) + report.quarantined_count == 4


def test_deep_windows_xml_costs_only_its_event(tmp_path: Path) -> None:
    from .test_winxml import FAILED_LOGON, LOG_CLEARED

    deep = FAILED_LOGON.replace("<Security/>", "<Security>" + "<a>" * 5000 + "</a>" * 5000 + "</Security>")
    path = tmp_path / "security.xml"
    path.write_text("\n".join([FAILED_LOGON, deep, LOG_CLEARED]) + "\n")
    table, report = read_all([path])
    assert not report.failed, report.summary()
    assert [r["EventID"] for r in rows(table)] == ["4625", "1102"]
    assert report.quarantined_count == 1 and "nested deeper than" in report.quarantined[0].reason


def test_xml_that_breaks_in_the_middle_keeps_the_events_after(tmp_path: Path) -> None:
    from .test_winxml import FAILED_LOGON, LOG_CLEARED, SQL_FAILURE

    broken = SQL_FAILURE.replace("</EventID>", "</EventI>")
    path = tmp_path / "security.xml"
    path.write_text("\n".join([FAILED_LOGON, broken, LOG_CLEARED, SQL_FAILURE]) + "\n")
    table, report = read_all([path])
    assert [r["EventID"] for r in rows(table)] == ["4625", "1102", "18456"]
    assert [q.record for q in report.quarantined] == [2] and "not well-formed" in report.quarantined[0].reason


# --- 6a. linear time ------------------------------------------------------------------------------------

def _work(parse: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        parse(text)
        best = min(best, time.process_time() - start)
    return max(best, 1e-4)


def test_fortigate_pairs_are_parsed_in_linear_time() -> None:
    # the shapes that make a backtracking regex quadratic: a long key with no '=', and many unclosed quotes
    for unit in ("a", 'k=" ', "a.", 'k="\\'):
        small, big = unit * (10_000 // len(unit)), unit * (100_000 // len(unit))
        ratio = _work(parse_pairs, big) / _work(parse_pairs, small)
        assert ratio < 40, f"{unit!r}: 10x the text cost {ratio:.0f}x the work"


def test_a_one_megabyte_fortigate_line_is_read(tmp_path: Path) -> None:
    line = 'date=2026-11-28 time=10:01:02 devname="fw01" logid="1" msg="' + "a" * 1_000_000
    good = 'date=2026-11-28 time=10:01:03 devname="fw01" logid="2" msg="ok"'
    path = tmp_path / "fortigate.log"
    path.write_text(line + "\n" + good + "\n")
    table, report = read_all([path])
    got = rows(table)
    assert not report.quarantined and not report.failed
    assert [r["logid"] for r in got] == ["1", "2"] and len(str(got[0]["msg"])) == 1_000_000


def test_a_number_beyond_64_bits_or_a_bad_zeek_time_loses_only_its_record(tmp_path: Path) -> None:
    records = [_logon(i) for i in range(4)]
    records[1]["LogonType"] = 2**70  # Python's JSON reads it; neither Arrow nor orjson hold it
    (tmp_path / "security.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "conn.log").write_text(_jsonl([{"_path": "conn", "ts": ts, "uid": "C1"} for ts in (
        1764324062.5, "2026-11-28T10:60:03Z", "2026-11-28T10:00:03Z")]))
    table, report = read_all([tmp_path / "security.json", tmp_path / "conn.log"])
    assert not report.failed and table is not None and table.num_rows == 5
    assert sorted((Path(q.source).name, q.record) for q in report.quarantined) == [
        ("conn.log", 2), ("security.json", 2)]


def test_a_file_whose_lines_mostly_do_not_fit_its_format_says_so_and_keeps_those_that_do(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mixed.log"
    fortigate = [f'date=2026-11-28 time=10:01:{i:02d} devname="fw01" logid="1" user="{i}"' for i in range(12)]
    path.write_text(_auth_log(6, 99, "") + "\n".join(fortigate) + "\n")  # syslog by its first lines
    table, report = read_all([path], reference_year=2026)  # the FortiGate lines read as FortiGate
    assert table is not None and table.num_rows == 18 and report.quarantined_count == 0 and not report.failed
    assert report.events[(str(path), "syslog")] == 6 and report.events[(str(path), "fortigate")] == 12
    path.write_text(_auth_log(6, 99, "") + "".join(f"junk {i}\n" for i in range(12)))  # lines of no format
    table, report = read_all([path], reference_year=2026)
    assert table is not None and table.num_rows == 6 and report.quarantined_count == 12
    (note,) = report.failed
    assert note.source == str(path) and "12 of its 18 records do not fit the syslog format" in note.reason


def test_the_format_most_first_lines_have_wins(tmp_path: Path) -> None:
    forwarded = 'Nov 28 10:00:00 fw01 date=2026-11-28 time=10:00:00 devname="fw01" logid="1" user="x"'
    path = tmp_path / "remote.log"
    path.write_text(forwarded + "\n" + _auth_log(20, 99, ""))  # one FortiGate line atop an auth.log
    table, report = read_all([path], reference_year=2026)
    assert table is not None and table.num_rows == 21 and not report.quarantined
    by_format = {(r["_format"], r["_record"]) for r in rows(table)}
    assert ("fortigate", 1) in by_format and {f for f, _ in by_format} == {"syslog", "fortigate"}
    assert report.events[(str(path), "syslog")] == 20  # the file was recognised as syslog, by most lines


def test_joined_xml_exports_are_read_and_text_between_events_is_quarantined(tmp_path: Path) -> None:
    from .test_winxml import FAILED_LOGON, LOG_CLEARED, SQL_FAILURE

    export = '<?xml version="1.0" encoding="UTF-8"?>\n<Events>\n{}\n</Events>\n'
    path = tmp_path / "joined.xml"  # two Event Viewer exports joined with cat, and a stray line
    path.write_text(export.format(FAILED_LOGON) + export.format(SQL_FAILURE + "\nstray text\n" + LOG_CLEARED))
    table, report = read_all([path])
    assert [r["EventID"] for r in rows(table)] == ["4625", "18456", "1102"] and not report.failed
    assert [(q.record, q.reason, q.excerpt) for q in report.quarantined] == [
        (8, "text outside any XML event", "stray text")]
    path.write_text(FAILED_LOGON + "\n\nstray\n\n")  # at the end of the file too
    assert [q.record for q in read_all([path])[1].quarantined] == [3]


def test_a_broken_item_of_a_json_document_costs_only_itself(tmp_path: Path) -> None:
    text = json.dumps([_logon(i) for i in range(4)], indent=2)
    second = text.index('"EventID": 4625,', text.index('"EventID": 4625,') + 1)
    broken = text[:second] + text[second:].replace('"EventID": 4625,', '"EventID": 4625', 1)
    path = tmp_path / "security.json"
    path.write_text(broken)  # the second item misses a comma
    table, report = read_all([path])
    assert [r["@timestamp"] for r in rows(table)] == [
        "2026-11-28T10:00:00.000Z", "2026-11-28T10:00:02.000Z", "2026-11-28T10:00:03.000Z"]
    assert [q.record for q in report.quarantined] == [2] and "line 15" in report.quarantined[0].reason


def test_xml_nested_100000_deep_costs_only_its_event(fixtures: Path, tmp_path: Path) -> None:
    from .test_winxml import FAILED_LOGON, LOG_CLEARED

    deep = FAILED_LOGON.replace("<Security/>", "<Security>" + "<a>" * DEEP + "</a>" * DEEP + "</Security>")
    xml = tmp_path / "security.xml"
    xml.write_text("\n".join([FAILED_LOGON, deep, LOG_CLEARED]) + "\n")
    kept, quarantine = _read_in_child(xml)
    assert kept == 2 and quarantine == [f"{xml} 2 XML event at line 2: nested deeper than 64 levels"]
    good = (fixtures / "sysmon_linux.log").read_text().strip()
    sysmon = good.split(" sysmon: ")[0] + " sysmon: <Event>" + "<a>" * DEEP + "</a>" * DEEP + "</Event>"
    syslog = tmp_path / "syslog"
    syslog.write_text("\n".join([good, sysmon, good]) + "\n")
    kept, quarantine = _read_in_child(syslog)
    assert kept == 3 and not quarantine  # the deep one is read as the plain syslog line it also is


# --- a file whose lines are of several formats: each line read by the reader that recognises it ----------

MIXED = [
    'date=2026-11-28 time=10:01:02 devname="fw" logid="0101039426" type="event" subtype="vpn" remip=1.2.3.4',
    "Nov 28 10:02:11 srv1 sshd[4242]: Failed password for invalid user admin from 203.0.113.7 port 1 ssh2",
    "Nov 28 10:02:12 srv1 sudo[4243]: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
    'type=USER_LOGIN msg=audit(1764324133.123:42): pid=1 uid=0 res=failed',
    'date=2026-11-28 time=10:03:02 devname="fw" logid="0000000013" type="traffic" srcip=10.0.0.1 sentbyte=5',
    "this line is of no format at all",
]


@pytest.mark.parametrize("first", [0, 1])  # recognised as FortiGate (its first line) or as syslog
def test_a_file_of_mixed_lines_loses_none_each_read_by_the_reader_that_knows_it(
    tmp_path: Path, first: int
) -> None:
    lines = MIXED[first:] + MIXED[:first]
    path = tmp_path / "forwarded.log"
    path.write_text("\n".join(lines) + "\n")
    table, report = read_all([path])
    assert table is not None
    got = sorted(zip(table.column("_record").to_pylist(), table.column("_format").to_pylist(), strict=True))
    expected = {0: "fortigate", 1: "syslog", 2: "syslog", 3: "auditd", 4: "fortigate"}
    assert got == sorted((lines.index(MIXED[i]) + 1, fmt) for i, fmt in expected.items())
    assert [(q.record, q.reason) for q in report.quarantined] == [
        (lines.index(MIXED[5]) + 1, report.quarantined[0].reason)
    ]  # only the line of no format, under its line number in the file
