"""Windows JSON: every layout mapped to EVTX names, case duplicates merged, bad lines quarantined."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

from rempart.domain.events import CORE_SCHEMA
from rempart.ingest import canonical_field
from rempart.ingest.interface import MAX_LINE_BYTES

from .conftest import read_all, rows


def test_flat_winlogbeat6_winlogbeat7_and_evtx_names_agree(fixtures: Path) -> None:
    table, report = read_all([fixtures / "windows.jsonl"])
    got = rows(table)
    assert [r["_record"] for r in got] == [1, 2, 3, 4]
    assert [r["Image"] for r in got[:3]] == [
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Windows\\System32\\whoami.exe",
        "C:\\Windows\\System32\\net.exe",
    ]
    assert {r["EventID"] for r in got[:3]} == {"1"}
    assert {r["Channel"] for r in got[:3]} == {"Microsoft-Windows-Sysmon/Operational"}
    assert {r["_service"] for r in got[:3]} == {"microsoft-windows-sysmon/operational"}
    assert {r["_host"] for r in got} == {"tls-cap-dc01.capitouls.local", "unknown-host.example"}
    # ProcessId / ProcessID land in one column, spelled as in EVTX
    assert [r["ProcessId"] for r in got] == ["4242", "4243", "4244", "0x1f0"]
    assert table is not None and "ProcessID" not in table.column_names
    assert got[1]["Provider_Name"] == "Microsoft-Windows-Sysmon" and got[2]["EventRecordID"] == "78"
    # Channel value kept as found, service lower-cased
    assert got[3]["Channel"] == "security" and got[3]["_service"] == "security"
    assert {r["_product"] for r in got} == {"windows"} and {r["_format"] for r in got} == {"winjson"}
    assert json.loads(str(got[1]["_raw"]))["event_data"]["Image"].endswith("whoami.exe")
    assert not report.skipped


def test_core_columns_follow_the_contract(fixtures: Path) -> None:
    table, _ = read_all([fixtures / "windows.jsonl"])
    assert table is not None
    assert table.schema.names[: len(CORE_SCHEMA)] == CORE_SCHEMA.names
    for field in CORE_SCHEMA:
        assert table.schema.field(field.name).type == field.type
    assert table.schema.names[-1] == "_raw"
    assert all(table.schema.field(n).type == pa.string() for n in table.schema.names[len(CORE_SCHEMA) :])


def test_fields_narrow_the_table_case_insensitively(fixtures: Path) -> None:
    table, _ = read_all([fixtures / "windows.jsonl"], fields=["image", "PROCESSID", "Nope", "CommandLine"])
    assert table is not None
    # a wanted field no event has gets no column: the store would carry it empty in every row
    assert table.schema.names[len(CORE_SCHEMA) :] == ["Image", "ProcessId", "CommandLine", "_raw"]
    assert table.column("ProcessId").to_pylist() == ["4242", "4243", "4244", "0x1f0"]


def test_canonical_field_is_the_evtx_spelling() -> None:
    assert canonical_field("PROCESSID") == "ProcessId"
    assert canonical_field("message") == "Message"
    assert canonical_field("SomethingNew") == "SomethingNew"


def test_bad_lines_are_quarantined_with_their_line_and_the_rest_is_kept(tmp_path: Path) -> None:
    good = '{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":4624,"Computer":"h1"}'
    lines = [
        good,
        '{"@timestamp": "2026-11-28T10:00:01Z", "EventID": ',  # invalid JSON
        "\x00\x01\x02garbage\xff",  # binary
        '{"EventID": 1, "Image": "' + "A" * (MAX_LINE_BYTES + 10) + '"}',  # over-long
        '{"Channel":"Security","EventID":4625,"Computer":"h1"}',  # no timestamp
        "[1, 2, 3]",  # not an object
        good.replace("4624", "4634"),
    ]
    path = tmp_path / "events.json"
    path.write_bytes(
        "\n".join(lines).encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff") + b"\n"
    )
    table, report = read_all([path])
    assert table is not None and table.column("EventID").to_pylist() == ["4624", "4634"]
    assert table.column("_record").to_pylist() == [1, 7]
    by_line = {q.record: q for q in report.quarantined}
    assert set(by_line) == {2, 3, 4, 5, 6}
    assert "invalid JSON" in by_line[2].reason
    assert "binary" in by_line[3].reason or "invalid JSON" in by_line[3].reason
    assert "over-long" in by_line[4].reason and len(by_line[4].excerpt) <= 121
    assert "timestamp" in by_line[5].reason
    assert "not a JSON object" in by_line[6].reason
    assert all(q.source == str(path) for q in report.quarantined)
    assert report.exit_code() == 1
    assert f"{path}:2: invalid JSON" in report.summary()


def test_types_changing_between_lines_are_not_a_failure(tmp_path: Path) -> None:
    lines = [{"@timestamp": "2026-11-28T10:00:00Z", "Channel": "Security", "ProcessId": i} for i in range(3)]
    lines.append({"@timestamp": "2026-11-28T10:00:00Z", "Channel": "Security", "ProcessId": "0x1e7c"})
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(x) for x in lines).encode()))
    table, report = read_all([path])
    assert table is not None and table.column("ProcessId").to_pylist() == ["0", "1", "2", "0x1e7c"]
    assert not report.skipped and table.column("_source").to_pylist()[0] == str(path)


def test_a_big_block_of_mixed_types_is_read_in_one_batch(tmp_path: Path) -> None:
    """Two exporters' shapes line after line (a live batch): every line is read, in one batch, not in the
    dozens that halving the block down to its fast size would give."""
    from rempart.ingest import IngestReport, read_paths
    from rempart.ingest.jsonl import MIN_FAST_BYTES

    pad = "x" * 500
    lines = [{"@timestamp": "2026-11-28T10:00:00Z", "Channel": "Security", "EventID": 4624,
              "Keywords": i if i % 2 else f"0x{i:x}", "Pad": pad} for i in range(4 * MIN_FAST_BYTES // 500)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    tables = list(read_paths([path], None, report=IngestReport()))
    assert len(tables) == 1
    assert tables[0].column("Keywords").to_pylist()[:3] == ["0x0", "1", "0x2"]
    assert tables[0].num_rows == len(lines)


def test_pretty_printed_evtx_json_document(tmp_path: Path) -> None:
    doc = {
        "Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 10,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-11-28T10:00:00.5Z"}},
                "EventRecordID": 9,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws1",
                "Execution": {"#attributes": {"ProcessID": 3544}},
            },
            "EventData": {"TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1010"},
        }
    }
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(doc, indent=2))
    got = rows(read_all([path])[0])[0]
    assert got["TargetImage"].endswith("lsass.exe") and got["GrantedAccess"] == "0x1010"  # type: ignore[union-attr]
    assert got["EventID"] == "10" and got["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert got["Execution_ProcessID"] == "3544" and got["TimeCreated"] == "2026-11-28T10:00:00.5Z"
    assert "#attributes_xmlns" not in got and "xmlns" not in got


def test_json_lines_whose_first_line_is_broken_are_still_read_as_lines(tmp_path: Path) -> None:
    good = '{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":%d,"Computer":"h1"}'
    path = tmp_path / "events.json"
    path.write_text("{ this is not json\n" + "\n".join(good % i for i in range(3)) + "\n")
    table, report = read_all([path])
    assert table is not None and table.column("_record").to_pylist() == [2, 3, 4]
    assert [q.record for q in report.quarantined] == [1]


def test_an_odd_time_field_does_not_hide_a_good_one(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    line = '{"TimeCreated":"10/29/2020 08:23","@timestamp":"2020-10-29T08:23:18Z","Channel":"Security"}'
    path.write_text(line + "\n")
    table, report = read_all([path])
    assert table is not None and not report.skipped
    assert str(table.column("_ts")[0].as_py()) == "2020-10-29 08:23:18+00:00"


@pytest.mark.parametrize("chunk", [7, 64, 150, 4096])
def test_lines_cut_across_reads_keep_their_numbers_and_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # a read boundary may fall anywhere in a line (a few bytes, or many lines per read); each line
    # must come out whole, numbered as in the file, blank and bad lines counted in the numbering
    from rempart.ingest import jsonl

    monkeypatch.setattr(jsonl, "CHUNK_BYTES", chunk)
    lines = []
    for i in range(40):
        pad = "x" * (i * 7 % 90)
        lines.append(f'{{"@timestamp":"2026-11-28T10:00:{i:02d}Z","Channel":"Security","EventID":{i},'
                     f'"Computer":"h","Note":"{pad}"}}')
    lines[10] = ""
    lines[25] = '{"EventID": '
    path = tmp_path / "cut.json"
    path.write_text("\n".join(lines) + "\n")
    table, report = read_all([path])
    got = rows(table)
    expected = [n for n in range(1, 41) if n not in (11, 26)]
    assert [r["_record"] for r in got] == expected
    assert [r["_raw"] for r in got] == [lines[n - 1] for n in expected]
    assert [q.record for q in report.quarantined] == [26]


def test_an_over_long_line_across_many_reads_is_skipped_and_the_numbering_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rempart.ingest import jsonl

    monkeypatch.setattr(jsonl, "CHUNK_BYTES", 4096)
    good = '{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":%d,"Computer":"h"}'
    lines = [good % 1, '{"Note":"' + "A" * (MAX_LINE_BYTES + 100_000) + '"}', good % 3, good % 4]
    path = tmp_path / "long.json"
    path.write_text("\n".join(lines) + "\n")
    table, report = read_all([path])
    assert [r["_record"] for r in rows(table)] == [1, 3, 4]
    reason = f"over-long line (> {MAX_LINE_BYTES:,} bytes)"  # cut while reading, never held whole
    assert [(q.record, q.reason) for q in report.quarantined] == [(2, reason)]




def test_nxlog_system_values_under_their_evtx_names(fixtures: Path, tmp_path: Path) -> None:
    # NXLog im_msvistalog, to_json(): a PsExec service installed, with no @timestamp added
    nxlog_system = json.loads((fixtures / "nxlog_system.json").read_text())
    sysmon = {**nxlog_system, "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
              "SourceName": "Microsoft-Windows-Sysmon", "ProcessID": 3140, "ProcessId": 7777,
              "UtcTime": "2026-11-28 08:59:59.123"}
    other = {"@timestamp": "2026-11-28T09:00:00Z", "Channel": "Security", "EventID": 4624,
             "Hostname": "h", "SourceName": "kept as it is", "ProcessID": 5}  # not NXLog: no marker
    (tmp_path / "nxlog.json").write_text("\n".join(json.dumps(e) for e in (nxlog_system, sysmon, other)))
    table, report = read_all([tmp_path / "nxlog.json"])
    assert not report.quarantined  # EventTime was the only time of the first event
    service, process, plain = rows(table)
    assert str(service["_ts"]) == "2026-11-28 10:00:00+00:00"
    assert (service["Provider_Name"], service["SourceName"]) == ("Service Control Manager",) * 2
    assert (service["EventRecordID"], service["Provider_Guid"]) == ("4242", nxlog_system["ProviderGuid"])
    assert (service["Execution_ProcessID"], service["Execution_ThreadID"], service["ProcessId"]) == (
        "640", "4120", None)  # NXLog's ProcessID is the producer's, not a field of the event
    assert service["Security_UserID"] == "S-1-5-21-1-2-3-500"
    assert (process["ProcessId"], process["Execution_ProcessID"]) == ("7777", "3140")
    assert str(process["_ts"]) == "2026-11-28 08:59:59.123000+00:00"  # Sysmon's UtcTime comes first
    assert (plain["Provider_Name"], plain["ProcessId"], plain["Execution_ProcessID"]) == (None, "5", None)


def test_time_and_host_fields_are_found_whatever_case_another_product_gave_them(fixtures: Path) -> None:
    # FortiGate's 'eventtime' comes first and sets the run's spelling; NXLog's 'EventTime' is that field
    table, report = read_all([fixtures / "fortigate.log", fixtures / "nxlog_system.json"])
    nxlog = [r for r in rows(table) if str(r["_source"]).endswith("nxlog_system.json")]
    assert [str(r["_ts"]) for r in nxlog] == ["2026-11-28 10:00:00+00:00"]
    assert nxlog[0]["_host"] == "tls-cap-dc01.capitouls.local"
    assert not any("nxlog" in q.source for q in report.quarantined)
