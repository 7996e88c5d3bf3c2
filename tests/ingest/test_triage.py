"""Triage collections (Velociraptor's offline collector, KAPE) hunt as the loose files they hold.

The collections are built here, in tmp, from the public EVTX samples, laid out as the collectors lay them out
(see :mod:`rempart.ingest.triage` for the layouts and where they come from).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rempart.detect import DetectionPlan, compile_rules, load_rules
from rempart.events import EventStore
from rempart.ingest import IngestReport, read_paths
from rempart.inventory import Resolver, load_group

from .conftest import read_all, rows

REPO = Path(__file__).resolve().parents[2]
LOGS = "Windows/System32/winevt/Logs"
HOST = "tls-cap-dc01"  # an asset of the example group (establishment capitouls)
FQDN = f"{HOST}.horizon-sante.example"
STAMP = "2026-12-03T09_15_02_1234567"


def vr_escape(component: str) -> str:
    """Velociraptor's ``SanitizeStringForZip`` (utils/sanitize.go), for the names of the test's zip."""
    out = "".join(f"%{ord(c):02X}" if c in '?"*:|<>%/\\' else c for c in component)
    if out[:1] in (".", " "):
        out = f"%{ord(out[0]):02X}" + out[1:]
    if out[-1:] in (".", " "):
        out = out[:-1] + f"%{ord(out[-1]):02X}"
    return out


def flat_names(samples: list[Path]) -> Iterator[tuple[Path, str]]:
    """Each sample under a name of its own in one winevt/Logs folder, with Windows' ``%4`` for a '/' as in
    ``Microsoft-Windows-Sysmon%4Operational.evtx`` (which Velociraptor escapes again)."""
    for i, sample in enumerate(samples):
        yield sample, f"{i:03d}-Sample%4{sample.name}"


def velociraptor_zip(path: Path, samples: list[Path], info: dict[str, str] | None = None) -> dict[str, Path]:
    """An offline collector's zip; returns each member's expected source name → its sample."""
    expected: dict[str, Path] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (sample, flat) in enumerate(flat_names(samples)):
            if i % 2:  # the ntfs accessor, for locked files
                member = f"uploads/ntfs/%5C%5C.%5CC%3A/{LOGS}/{vr_escape(flat)}"
                shown = f"uploads/ntfs/\\\\.\\C:/{LOGS}/{flat}"
            else:
                member = f"uploads/auto/C%3A/{LOGS}/{vr_escape(flat)}"
                shown = f"uploads/auto/C:/{LOGS}/{flat}"
            z.writestr(member, sample.read_bytes())
            expected[f"{path}!{shown}"] = sample
        z.writestr("client_info.json", json.dumps(info or {
            "Hostname": HOST.upper(), "OS": "windows", "Platform": "Microsoft Windows Server 2019 Standard",
            "HostID": "5a1b0c2d-0000-4000-8000-000000000001", "Fqdn": FQDN, "Architecture": "amd64",
        }, indent=1))
        z.writestr("collection_context.json", json.dumps({"session_id": "F.CT1", "total_uploaded_files": 9}))
        z.writestr("requests.json", json.dumps({"items": [{"session_id": "F.CT1", "Query": []}]}))
        z.writestr("log.json", '{"_ts":1764753302,"client_time":1764753302,"level":"DEFAULT",'
                               '"message":"Collecting file C:\\\\Windows\\\\System32 into uploads/auto"}\n')
        z.writestr("log.json.index", b"\x00" * 8)
        z.writestr("uploads.json", '{"Timestamp":"2026-12-03T09:15:03Z","started":"2026-12-03 09:15:03",'
                                   '"vfs_path":"C:\\\\Windows\\\\System32\\\\winevt\\\\Logs\\\\Security.evtx",'
                                   '"_Components":["uploads","auto","C:"],"file_size":69632}\n')
        z.writestr("uploads.json.index", b"\x00" * 8)
        z.writestr("results/Windows.KapeFiles.Targets%2FAll File Metadata.json",
                   '{"Created":"2026-11-02T08:00:00Z","SourceFile":"C:\\\\Windows\\\\System32\\\\winevt\\\\Logs'
                   '\\\\Security.evtx","Size":69632}\n')
        z.writestr("results/Windows.KapeFiles.Targets%2FAll File Metadata.json.index", b"\x00" * 8)
    return expected


VR_COLLECTOR_FILES = 9


def kape_folder(tdest: Path, samples: list[Path], tsource: str = "C:", machine: str = HOST.upper()
                ) -> dict[str, Path]:
    """A KAPE target collection (``--tdest``): KAPE's three logs, then the copies under ``C/``."""
    logs = tdest / "C" / LOGS
    logs.mkdir(parents=True)
    expected: dict[str, Path] = {}
    copied = []
    for sample, flat in flat_names(samples):
        (logs / flat).write_bytes(sample.read_bytes())
        expected[str(logs / flat)] = sample
        copied.append(f"2026-12-03 09:15:04.1234567,C:\\{LOGS}\\{flat},{tdest}\\C\\{LOGS}\\{flat},"
                      f"{sample.stat().st_size},da39a3ee5e6b4b0d3255bfef95601890afd80709,False,"
                      "2026-11-02 08:00:00.0000000,2026-12-03 09:00:00.0000000,2026-12-03 09:00:00.0000000,"
                      "00:00:00.0012345")
    (tdest / f"{STAMP}_ConsoleLog.txt").write_text(
        "KAPE version 1.3.0.2, Author: Eric Zimmerman, Contact: https://www.kroll.com/kape "
        "(kape@kroll.com)\n\n"
        "KAPE directory: E:\\kape\n"
        f"Command line:   --tsource {tsource} --tdest E:\\collectes\\%m --target EventLogs\n\n"
        f"System info: Machine name: {machine}, 64-bit: True, User: expert OS: Windows2019Server\n\n"
        "Using Target operations\nFound 1 targets. Expanding targets to file list...\n", encoding="utf-8")
    (tdest / f"{STAMP}_CopyLog.csv").write_text(
        "\ufeffCopiedTimestamp,SourceFile,DestinationFile,FileSize,SourceFileSha1,DeferredCopy,CreatedOnUtc,"
        "ModifiedOnUtc,LastAccessedOnUtc,CopyDuration\r\n" + "\r\n".join(copied) + "\r\n", encoding="utf-8")
    (tdest / f"{STAMP}_SkipLog.csv.csv").write_text(
        "SourceFile,Reason\r\nC:\\pagefile.sys,File in use\r\n", encoding="utf-8")
    return expected


KAPE_COLLECTOR_FILES = 3


def inventory(tmp_path: Path, example_group_path: Path) -> Resolver:
    """The example group, plus one of the samples' computers (IEWIN7) as a workstation of saint-cyprien."""
    data = yaml.safe_load(example_group_path.read_text(encoding="utf-8"))
    for pole in data["poles"]:
        for est in pole["establishments"]:
            if est["id"] == "saint-cyprien":
                est["assets"].append({"hostname": "iewin7", "role": "workstation"})
    path = tmp_path / "group.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Resolver(load_group(path))


def hunt(plan: DetectionPlan, paths: list[Path], expected: dict[str, Path] | None
         ) -> tuple[set[tuple[str, str, int, str]], IngestReport]:
    """Alerts as (rule, sample, record, time), the sample found from the event's source name."""
    store = EventStore()
    report = IngestReport()
    for table in read_paths(paths, fields=plan.fields, report=report):
        store.append(table)
    alerts = plan.evaluate(store)
    store.close()
    assert not plan.runtime_failures, plan.runtime_failures
    out = set()
    for alert in alerts:
        for event in alert.events:
            sample = Path(event.source) if expected is None else expected[event.source]
            out.add((alert.rule_id, str(sample), event.record, alert.time.isoformat()))
    return out, report


@pytest.fixture
def samples(shared_data: Path) -> list[Path]:
    found = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    assert len(found) > 150
    return found


@pytest.mark.shared
def test_a_velociraptor_zip_and_a_kape_folder_hunt_to_the_alerts_of_the_loose_files(
        shared_data: Path, samples: list[Path], tmp_path: Path) -> None:
    plan = compile_rules(load_rules([shared_data / "sigma/rules/windows/builtin", REPO / "rules/windows"]),
                         tmp_path / "cache")
    assert not plan.failures and not plan.load_errors
    loose, loose_report = hunt(plan, samples, None)
    vr = velociraptor_zip(tmp_path / f"Collection-{FQDN}-2026-12-03T09_15_02Z.zip", samples)
    from_zip, zip_report = hunt(plan, [tmp_path / f"Collection-{FQDN}-2026-12-03T09_15_02Z.zip"], vr)
    kape = kape_folder(tmp_path / "collectes" / HOST, samples)
    from_kape, kape_report = hunt(plan, [tmp_path / "collectes"], kape)

    assert len(loose) > 300 and len({rule for rule, *_ in loose}) > 20
    assert from_zip == loose
    assert from_kape == loose
    for report in (zip_report, kape_report):
        assert report.total_events == loose_report.total_events
        assert not report.quarantined_count and report.failed == loose_report.failed
        assert report.ignored == [] and report.exit_code() == loose_report.exit_code()
    assert len(zip_report.collector_files) == VR_COLLECTOR_FILES
    assert len(kape_report.collector_files) == KAPE_COLLECTOR_FILES
    assert "files of a triage collector skipped" in kape_report.summary()
    assert zip_report.collections == {
        f"{tmp_path}/Collection-{FQDN}-2026-12-03T09_15_02Z.zip":
            f"Velociraptor, collected host {FQDN} or TLS-CAP-DC01",
    }
    assert kape_report.collections == {f"{tmp_path}/collectes/{HOST}": f"KAPE, collected host {HOST}"}
    assert f"{tmp_path}/collectes/{HOST}: KAPE, collected host {HOST}" in kape_report.summary()


@pytest.mark.shared
def test_the_collected_host_takes_the_events_whose_computer_the_inventory_does_not_know(
        samples: list[Path], tmp_path: Path, example_group_path: Path) -> None:
    resolver = inventory(tmp_path, example_group_path)
    some = [s for s in samples if s.stat().st_size < 200_000][:40]
    zipped = tmp_path / "collection.zip"
    velociraptor_zip(zipped, some)
    kape_folder(tmp_path / "collectes" / HOST, some)
    for path in (zipped, tmp_path / "collectes"):
        table, report = read_all([path], resolver)
        got = rows(table)
        assert {r["_host"] for r in got} > {"IEWIN7", "MSEDGEWIN10"}  # each event keeps its own Computer
        iewin7 = [r for r in got if r["_host"] == "IEWIN7"]
        others = [r for r in got if r["_host"] != "IEWIN7"]
        assert iewin7
        assert {(r["_establishment"], r["_asset"]) for r in iewin7} == {("saint-cyprien", "iewin7")}
        assert {(r["_establishment"], r["_asset"]) for r in others} == {("capitouls", HOST)}
        assert report.unattributed == 0
    _, loose = read_all(some, resolver)  # the same files, out of any collection: attributed to nobody
    assert loose.unattributed == len(others)


@pytest.mark.shared
def test_a_kape_folder_hunted_from_inside_with_a_relative_path(
        samples: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kape_folder(tmp_path / HOST, samples[:3])
    monkeypatch.chdir(tmp_path / HOST)
    table, report = read_all([Path(".")])
    assert table is not None and table.num_rows > 0
    assert len(report.collector_files) == KAPE_COLLECTOR_FILES and not report.ignored
    assert report.collections == {str(tmp_path / HOST): f"KAPE, collected host {HOST}"}


@pytest.mark.shared
def test_kape_names_the_host_from_its_console_log_only_when_it_collected_that_machine(
        samples: list[Path], tmp_path: Path, example_group_path: Path) -> None:
    resolver = inventory(tmp_path, example_group_path)
    one = [s for s in samples if "MSEDGEWIN10" in s.read_bytes().decode("utf-16-le", "ignore")][:1]
    assert one
    kape_folder(tmp_path / "live" / "2026-12-03T091502_triage", one, tsource="C:")
    # an image of the DC mounted as G: on the clinic's downtime PC: the console log names that PC, not the DC
    kape_folder(tmp_path / "image" / "2026-12-03T091502_triage", one, tsource="G:",
                machine="TLS-CAP-PCSECOURS")
    live = rows(read_all([tmp_path / "live"], resolver)[0])
    assert {(r["_establishment"], r["_asset"]) for r in live} == {("capitouls", HOST)}
    image = rows(read_all([tmp_path / "image"], resolver)[0])
    assert {r["_establishment"] for r in image} == {None}


@pytest.mark.shared
def test_an_extracted_velociraptor_folder_and_a_case_zip_of_kape_folders(
        samples: list[Path], tmp_path: Path, example_group_path: Path) -> None:
    resolver = inventory(tmp_path, example_group_path)
    two = [s for s in samples if "MSEDGEWIN10" in s.read_bytes().decode("utf-16-le", "ignore")][:2]
    zipped = tmp_path / "collection.zip"
    velociraptor_zip(zipped, two, info={"Hostname": "TLS-CAP-FS01"})
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(zipped) as z:
        z.extractall(folder)  # names on disk keep their escapes: uploads/auto/C%3A/…
    zipped.unlink()
    table, report = read_all([folder], resolver)
    assert {(r["_establishment"], r["_asset"]) for r in rows(table)} == {("capitouls", "tls-cap-fs01")}
    assert len(report.collector_files) == VR_COLLECTOR_FILES and not report.quarantined_count
    assert any("uploads/auto/C%3A/" in source for source, _ in report.events)

    case = tmp_path / "case"
    kape_folder(case / "tls-cap-dc01", two[:1])
    kape_folder(case / "tls-cap-ws001", two[1:])
    with zipfile.ZipFile(tmp_path / "case.zip", "w") as z:
        for path in sorted(case.rglob("*")):
            if path.is_file():
                z.write(path, f"expertise/{path.relative_to(case)}")
    table, report = read_all([tmp_path / "case.zip"], resolver)
    by_asset = {(r["_source"].split("!")[1].split("/")[1], r["_asset"]) for r in rows(table)}
    assert by_asset == {("tls-cap-dc01", "tls-cap-dc01"), ("tls-cap-ws001", "tls-cap-ws001")}
    assert len(report.collector_files) == 2 * KAPE_COLLECTOR_FILES and not report.ignored
    assert report.collections == {
        f"{tmp_path}/case.zip!expertise/tls-cap-dc01": "KAPE, collected host tls-cap-dc01",  # one name, twice
        f"{tmp_path}/case.zip!expertise/tls-cap-ws001": "KAPE, collected host tls-cap-ws001 or TLS-CAP-DC01",
    }
