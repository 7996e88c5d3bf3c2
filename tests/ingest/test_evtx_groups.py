"""EVTX records read in groups straight from the parser's JSON (issue 17): every value as the parser
gave it, the records in their order, whichever group took the per-record path."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from evtx import PyEvtxParser

from .conftest import read_all

# Security, Sysmon, a System log with Qualifiers, BITS with 64-bit counts Arrow would read as floats,
# a log whose UserData shares names with another's EventData (Param1 / param1), and control characters
# that the parser escapes in upper-case hex (\u000F) where the per-record path wrote lower case
SAMPLES = (
    "Lateral Movement/LM_5145_Remote_FileCopy.evtx",
    "AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
    "Defense Evasion/DE_WinEventLogSvc_Crash_System_7036.evtx",
    "Command and Control/bits_openvpn.evtx",
    "Command and Control/DE_RDP_Tunneling_TerminalServices-RemoteConnectionManagerOperational_1149.evtx",
    "Lateral Movement/LM_dcom_shwnd_shbrwnd_mmc20_failed_traces_system_10016.evtx",
    "Lateral Movement/LM_ScheduledTask_ATSVC_target_host.evtx",
)


@pytest.fixture(scope="module")
def read(shared_data: Path) -> tuple[list[Path], pa.Table]:
    paths = [shared_data / "evtx-attack-samples" / s for s in SAMPLES]
    table, report = read_all(paths)
    assert table is not None and not report.failed and not report.quarantined
    return paths, table


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_value_is_the_parsers(read: tuple[list[Path], pa.Table]) -> None:
    paths, table = read
    rows = {(r["_source"], r["_record"]): r for r in table.to_pylist()}
    checked = 0
    for path in paths:
        for record in PyEvtxParser(str(path)).records_json():
            assert record is not None
            event = orjson.loads(record["data"])["Event"]
            system = event["System"]
            row = rows[(str(path), system["EventRecordID"])]
            assert row["_raw"] == orjson.dumps({"Event": event}).decode()  # as the per-record path wrote it
            fields = {k.lower(): v for k, v in row.items()}
            eid = system["EventID"]
            assert row["EventID"] == _text(eid["#text"] if isinstance(eid, dict) else eid)
            for name, value in (event.get("EventData") or {}).items():
                if not isinstance(value, dict | list):
                    assert fields[name.lower()] == _text(value), (path.name, name)
                    checked += 1
    assert checked > 10_000


def test_the_records_keep_their_order(read: tuple[list[Path], pa.Table]) -> None:
    paths, table = read
    for path in paths:
        mine = table.filter(pa.compute.equal(table["_source"], str(path)))["_record"].to_pylist()
        theirs = [orjson.loads(r["data"])["Event"]["System"]["EventRecordID"]
                  for r in PyEvtxParser(str(path)).records_json() if r is not None]
        assert mine == theirs


def test_no_column_of_nulls_stands_for_a_struct(read: tuple[list[Path], pa.Table]) -> None:
    _, table = read
    # "Correlation": null in some records, {"#attributes": {"ActivityID": …}} in others: one field
    assert "Correlation_ActivityID" in table.column_names
    assert "Correlation" not in table.column_names
