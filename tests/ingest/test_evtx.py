"""EVTX through the evtx package: flattening to EVTX names, and truncated / corrupt files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import orjson
from evtx import PyEvtxParser

from .conftest import read_all, rows

SAMPLE = "evtx-attack-samples/Credential Access/sysmon_10_11_lsass_memdump.evtx"
BIG = "evtx-attack-samples/Command and Control/bits_openvpn.evtx"  # 16 chunks


def _bare(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(r["data"]) for r in PyEvtxParser(str(path)).records_json()]


def test_sysmon_evtx_flattened_to_evtx_names(shared_data: Path) -> None:
    path = shared_data / SAMPLE
    table, report = read_all([path])
    got = rows(table)
    bare = _bare(path)
    assert len(got) == len(bare) > 0 and not report.skipped
    for row, event in zip(got, bare, strict=True):
        system = event["Event"]["System"]  # type: ignore[index]
        assert row["EventID"] == str(system["EventID"])
        assert row["Channel"] == system["Channel"] == "Microsoft-Windows-Sysmon/Operational"
        assert row["_service"] == "microsoft-windows-sysmon/operational" and row["_product"] == "windows"
        assert row["_host"] == system["Computer"] and row["Computer"] == system["Computer"]
        assert row["Provider_Name"] == "Microsoft-Windows-Sysmon"
        assert row["_record"] == system["EventRecordID"]
        for key, value in event["Event"]["EventData"].items():  # type: ignore[index]
            assert row[key] == str(value)
        assert orjson.loads(str(row["_raw"])) == event
    lsass = [r for r in got if r["EventID"] == "10"]
    assert lsass and all(str(r["TargetImage"]).lower().endswith("lsass.exe") for r in lsass)
    assert all(r["GrantedAccess"] for r in lsass)


def test_evtx_inside_a_zip(shared_data: Path, tmp_path: Path) -> None:
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(shared_data / SAMPLE, "dc01/Sysmon.evtx")
    table, report = read_all([archive])
    assert table is not None and table.num_rows == len(_bare(shared_data / SAMPLE))
    assert set(table.column("_source").to_pylist()) == {f"{archive}!dc01/Sysmon.evtx"}
    assert not report.skipped


def test_truncated_evtx_keeps_whole_chunks_and_is_reported(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / BIG
    data = source.read_bytes()
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(data[: 4096 + 2 * 65536 + 30000])  # two whole chunks, then a third cut short
    table, report = read_all([cut, source])
    assert table is not None
    sources = table.column("_source").to_pylist()
    whole = [r for r in _bare(cut) if r]  # what the parser itself can still read
    assert sources.count(str(cut)) == len(whole) > 0
    assert sources.count(str(source)) == len(_bare(source))  # the file after the cut one is read whole
    assert report.events[(str(source), "evtx")] == len(_bare(source))  # counted per file, though pooled
    assert report.events[(str(cut), "evtx")] == len(whole)
    assert [f.source for f in report.failed] == [str(cut)]
    assert "truncated EVTX" in report.failed[0].reason and "2 whole chunks" in report.failed[0].reason
    assert report.exit_code() == 1


def test_corrupt_evtx_header_and_garbage_chunk(shared_data: Path, tmp_path: Path) -> None:
    data = bytearray((shared_data / SAMPLE).read_bytes())
    header = tmp_path / "header.evtx"
    header.write_bytes(b"ElfFile\x00" + b"\xff" * 4088 + bytes(data[4096:]))
    chunk = tmp_path / "chunk.evtx"
    data[4096 + 600 : 4096 + 9000] = b"\xa5" * 8400  # overwrite records inside the first chunk
    chunk.write_bytes(bytes(data))
    table, report = read_all([header, chunk])
    failed = {f.source: f.reason for f in report.failed}
    assert "corrupt EVTX file header" in failed[str(header)]
    assert table is not None and str(header) in set(table.column("_source").to_pylist())  # chunks still read
    assert "corrupt EVTX" in failed[str(chunk)] and "Failed to parse chunk" in failed[str(chunk)]
    assert report.exit_code() == 1
