"""Windows events as XML (wevtutil, Event Viewer, PowerShell's ToXml): the events the same EVTX gives."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest
from evtx import PyEvtxParser

from .conftest import read_all, rows

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
FAILED_LOGON = (  # as wevtutil qe Security /f:xml prints it: one line per event, no root element
    f"<Event xmlns='{NS}'><System><Provider Name='Microsoft-Windows-Security-Auditing' "
    "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4625</EventID><Version>0</Version>"
    "<Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8010000000000000</Keywords>"
    "<TimeCreated SystemTime='2026-11-28T10:02:11.1234567Z'/><EventRecordID>181818</EventRecordID>"
    "<Correlation/><Execution ProcessID='640' ThreadID='4120'/><Channel>Security</Channel>"
    "<Computer>tls-cap-dc01.capitouls.local</Computer><Security/></System><EventData>"
    "<Data Name='TargetUserName'>admin</Data><Data Name='LogonType'>3</Data>"
    "<Data Name='IpAddress'>203.0.113.7</Data><Data Name='SubjectUserSid'>S-1-0-0</Data></EventData></Event>"
)
SQL_FAILURE = (  # classic provider: an EventID with Qualifiers, unnamed Data, Binary
    f"<Event xmlns='{NS}'><System><Provider Name='MSSQLSERVER'/><EventID Qualifiers='49152'>18456</EventID>"
    "<TimeCreated SystemTime='2026-11-28T10:03:00.0000000Z'/><EventRecordID>77</EventRecordID>"
    "<Channel>Application</Channel><Computer>tls-cap-dpi01</Computer></System><EventData><Data>sa</Data>"
    "<Data> Reason: Password did not match</Data><Binary>184800000E000000</Binary></EventData></Event>"
)
LOG_CLEARED = (
    f"<Event xmlns='{NS}'><System><Provider Name='Microsoft-Windows-Eventlog'/><EventID>1102</EventID>"
    "<TimeCreated SystemTime='2026-11-28T10:04:00Z'/><EventRecordID>181819</EventRecordID>"
    "<Channel>Security</Channel><Computer>tls-cap-dc01.capitouls.local</Computer></System><UserData>"
    "<LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>"
    "<SubjectUserName>admin01</SubjectUserName></LogFileCleared></UserData></Event>"
)


def test_wevtutil_output(tmp_path: Path) -> None:
    (tmp_path / "security.xml").write_text("\r\n".join((FAILED_LOGON, SQL_FAILURE, LOG_CLEARED)) + "\r\n")
    table, report = read_all([tmp_path / "security.xml"])
    assert not report.failed and not report.quarantined
    logon, sql, cleared = rows(table)
    assert (logon["_format"], logon["_service"], logon["_host"], logon["_record"]) == (
        "winxml", "security", "tls-cap-dc01.capitouls.local", 181818)
    assert str(logon["_ts"]) == "2026-11-28 10:02:11.123456+00:00"
    assert (logon["EventID"], logon["TargetUserName"], logon["IpAddress"], logon["Provider_Name"]) == (
        "4625", "admin", "203.0.113.7", "Microsoft-Windows-Security-Auditing")
    assert (logon["Execution_ProcessID"], logon["Keywords"]) == ("640", "0x8010000000000000")
    assert (sql["EventID"], sql["EventID_Qualifiers"]) == ("18456", "49152")
    assert sql["Binary"] == "184800000E000000"
    assert sql["Data"] == '["sa"," Reason: Password did not match"]'
    assert (cleared["EventID"], cleared["SubjectUserName"]) == ("1102", "admin01")


def test_event_viewer_export_in_utf16_with_its_rendering(tmp_path: Path) -> None:
    rendered = FAILED_LOGON.replace(
        "</Event>", "<RenderingInfo Culture='fr-FR'><Message>Échec d'ouverture de session d'un compte."
        "</Message><Level>Informations</Level></RenderingInfo></Event>")
    text = f'<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>{rendered}{SQL_FAILURE}</Events>'
    (tmp_path / "export.xml").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    table, report = read_all([tmp_path / "export.xml"])
    assert not report.failed
    got = rows(table)
    assert [r["EventID"] for r in got] == ["4625", "18456"]
    assert got[0]["RenderingInfo_Message"] == "Échec d'ouverture de session d'un compte."


def test_xml_cut_short_keeps_the_events_before_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text(FAILED_LOGON + "\n" + SQL_FAILURE + "\n" + LOG_CLEARED[:150] + "<<\n")
    table, report = read_all([path])
    assert [r["EventID"] for r in rows(table)] == ["4625", "18456"]
    (failure,) = report.failed
    assert failure.source == str(path) and "XML not well-formed at line 3, column" in failure.reason


def test_a_control_character_in_a_value_does_not_end_the_export(tmp_path: Path) -> None:
    (tmp_path / "junk.xml").write_text(FAILED_LOGON.replace("admin", "ad\x0fmin") + SQL_FAILURE)
    table, report = read_all([tmp_path / "junk.xml"])
    assert not report.failed
    assert [r["TargetUserName"] for r in rows(table)] == ["ad\ufffdmin", None]


@pytest.mark.shared
def test_the_evtx_samples_as_xml_give_the_events_of_the_evtx_files(shared_data: Path, tmp_path: Path) -> None:
    """Each sample rendered to XML by the evtx package, as wevtutil would print it, read back."""
    samples = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))[:60]
    for i, sample in enumerate(samples):
        try:
            records = [re.sub(r"^<\?xml[^>]*\?>\s*", "", r["data"])
                       for r in PyEvtxParser(str(sample)).records()]
        except (OSError, RuntimeError):
            continue
        (tmp_path / f"{i:03d}.xml").write_text("".join(records))
        (tmp_path / f"{i:03d}.evtx").write_bytes(sample.read_bytes())

    def events(pattern: str) -> list[dict[str, object]]:
        table, report = read_all(sorted(tmp_path.glob(pattern)))
        assert not report.failed and not report.quarantined
        skip = {"_source", "_format", "_raw", "xmlns", "xmlnsauto-ns2", "xmlnsauto-ns3"}
        out = [{k: _xml_normal(v) for k, v in r.items() if k not in skip} for r in rows(table)]
        return sorted(out, key=repr)

    from_xml, from_evtx = events("*.xml"), events("*.evtx")
    assert len(from_xml) == len(from_evtx) > 2000
    differing = [(a, b) for a, b in zip(from_xml, from_evtx, strict=True) if a != b]
    assert len(differing) <= 5, differing[:2]  # a value of only a line break reads as '' (indentation)


def _xml_normal(value: object) -> object:
    """What XML itself cannot carry: line ends are normalised to \\n, control characters are U+FFFD."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", value)
