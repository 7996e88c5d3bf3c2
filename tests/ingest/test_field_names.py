"""Field names as Sigma spells them: Windows Defender's ``Threat Name`` is the ``ThreatName`` its rules read.

The events are the real Defender sample of evtx-attack-samples (1116/1117, Atomic Red Team), read as the
EVTX file and in the other forms investigators collect them in: XML (wevtutil), EVTX-as-JSON, NXLog's flat
JSON and Winlogbeat 7.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from evtx import PyEvtxParser

from rempart.detect import compile_rules, load_rules
from rempart.events import EventStore
from rempart.ingest import FieldCanon, IngestReport, canonical_field, read_paths
from tests.detect.helpers import rule, write_rules

from .conftest import read_all, rows

SAMPLE = "evtx-attack-samples/AutomatedTestingTools/WinDefender_Events_1117_1116_AtomicRedTeam.evtx"
WINDEFEND = "sigma/rules/windows/builtin/windefend"
DEFENDER = "product: windows\n  service: windefend"
# rules of the test with a condition on each of Defender's spaced fields, as SigmaHQ spells them
OURS = {
    "threat.yml": rule("f0000000-0000-4000-8000-000000000001", """\
    selection:
        EventID: 1116
        ThreatName|startswith: 'HackTool:'
        ProcessName|endswith: '\\powershell.exe'
        Path|contains: 'atomics'
    condition: selection
""", DEFENDER),
    "source.yml": rule("f0000000-0000-4000-8000-000000000002", """\
    selection:
        SourceName: '%%818'
        DetectionUser|contains: '\\'
        ThreatID|exists: true
    condition: selection
""", DEFENDER),
    "spaced.yml": rule("f0000000-0000-4000-8000-000000000003", """\
    selection:
        Threat Name|contains: 'Powersploit'
    condition: selection
""", DEFENDER),  # a rule written with Defender's own spelling reads the same column
}


def _records(sample: Path) -> list[dict[str, Any]]:
    return [json.loads(r["data"]) for r in PyEvtxParser(str(sample)).records_json()]


def _nxlog(event: dict[str, Any]) -> dict[str, Any]:
    """An EVTX-as-JSON record as NXLog's im_msvistalog + to_json() ships it: flat, its own System names."""
    system = event["Event"]["System"]
    return {"EventTime": system["TimeCreated"]["#attributes"]["SystemTime"], "Hostname": system["Computer"],
            "SourceName": system["Provider"]["#attributes"]["Name"], "Channel": system["Channel"],
            "EventID": system["EventID"], "SourceModuleType": "im_msvistalog", **event["Event"]["EventData"]}


def _winlogbeat(event: dict[str, Any]) -> dict[str, Any]:
    system = event["Event"]["System"]
    return {"@timestamp": system["TimeCreated"]["#attributes"]["SystemTime"],
            "winlog": {"channel": system["Channel"], "event_id": system["EventID"],
                       "computer_name": system["Computer"], "event_data": event["Event"]["EventData"]}}


def _forms(shared_data: Path, folder: Path, amsi: bool = False) -> dict[str, Path]:
    """The sample as EVTX, XML, EVTX-as-JSON, NXLog and Winlogbeat files; with `amsi`, its detections
    given AMSI as their source (a script blocked by the Antimalware Scan Interface) and no EVTX form."""
    sample = shared_data / SAMPLE
    folder.mkdir()
    events = _records(sample)
    xml = [re.sub(r"^<\?xml[^>]*\?>\s*", "", r["data"]) for r in PyEvtxParser(str(sample)).records()]
    if amsi:
        for e in events:
            e["Event"]["EventData"]["Source Name"] = "AMSI"
        xml = [x.replace('<Data Name="Source Name">%%818</Data>', '<Data Name="Source Name">AMSI</Data>')
               for x in xml]
        assert all("AMSI" in x for x in xml)
    forms = {"xml": "".join(xml),
             "json": "\n".join(json.dumps(e) for e in events),
             "nxlog": "\n".join(json.dumps(_nxlog(e)) for e in events),
             "winlogbeat": "\n".join(json.dumps(_winlogbeat(e)) for e in events)}
    out = {name: folder / f"defender-{name}.{'xml' if name == 'xml' else 'json'}" for name in forms}
    for name, text in forms.items():
        out[name].write_text(text)
    if not amsi:
        out["evtx"] = sample
    return out


def _rule_id(path: Path) -> str:
    found = re.search(r"^id: (\S+)", path.read_text(), re.MULTILINE)
    assert found is not None
    return found.group(1).lower()


def _fired(rule_files: list[Path], paths: dict[str, Path], cache: Path) -> dict[str, set[str]]:
    """Form → the ids of the rules that fired on it."""
    plan = compile_rules(load_rules(rule_files), cache)
    assert not plan.failures and not plan.load_errors, (plan.failures, plan.load_errors)
    store = EventStore()
    report = IngestReport()
    for table in read_paths(list(paths.values()), fields=plan.fields, report=report):
        store.append(table)
    assert not report.failed and not report.quarantined, (report.failed, report.quarantined)
    alerts = plan.evaluate(store)
    assert not plan.runtime_failures, plan.runtime_failures
    form_of = {str(p): name for name, p in paths.items()}
    out: dict[str, set[str]] = {name: set() for name in paths}
    for alert in alerts:
        for event in alert.events:
            out[form_of[event.source]].add(alert.rule_id.lower())
    store.close()
    return out


def test_names_lose_what_sigma_does_not_spell() -> None:
    assert [canonical_field(n) for n in ("Threat Name", "Client SID:", "cs-uri-query", "host.name",
                                         "processid", " ")] == [
        "ThreatName", "ClientSID", "cs-uri-query", "host.name", "ProcessId", " "]
    canon = FieldCanon()
    spellings = ("Threat Name", "ThreatName", "threatname", "THREAT NAME")
    assert [canon(n) for n in spellings] == ["ThreatName"] * 4


@pytest.mark.shared
def test_defender_fields_are_columns_under_sigma_spelling_and_raw_keeps_theirs(
    shared_data: Path, tmp_path: Path
) -> None:
    for name, path in _forms(shared_data, tmp_path / "forms").items():
        table, report = read_all([path])
        assert not report.failed and not report.quarantined, name
        got = rows(table)
        assert len(got) == 11, name
        assert not {k for k in got[0] if " " in k}, name  # no column keeps a space
        threats = sorted({str(r["ThreatName"]) for r in got})
        assert threats[0] == "Backdoor:ASP/Ace.T" and len(threats) == 5, name
        assert {r["SourceName"] for r in got} == {"%%818"}, name  # NXLog's own SourceName gives way
        assert all(r["ProcessName"] and r["Path"] and r["DetectionUser"] for r in got), name
        assert all("Threat Name" in str(r["_raw"]) for r in got), name


@pytest.mark.shared
def test_defender_rules_with_field_conditions_fire_from_every_form(shared_data: Path, tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", OURS)
    threat = shared_data / WINDEFEND / "win_defender_threat.yml"
    fired = _fired([rules, threat], _forms(shared_data, tmp_path / "forms"), tmp_path / "cache")
    ids = {"f0000000-0000-4000-8000-000000000001", "f0000000-0000-4000-8000-000000000002",
           "f0000000-0000-4000-8000-000000000003", _rule_id(threat)}
    assert fired == {form: ids for form in fired}
    assert set(fired) == {"evtx", "xml", "json", "nxlog", "winlogbeat"}


@pytest.mark.shared
def test_sigmahq_amsi_rule_reads_defenders_source_name(shared_data: Path, tmp_path: Path) -> None:
    amsi = shared_data / WINDEFEND / "win_defender_malware_detected_amsi_source.yml"
    fired = _fired([amsi], _forms(shared_data, tmp_path / "forms", amsi=True), tmp_path / "cache")
    assert fired == {form: {_rule_id(amsi)} for form in ("xml", "json", "nxlog", "winlogbeat")}
