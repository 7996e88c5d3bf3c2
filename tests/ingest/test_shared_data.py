"""The readers on the public corpora in ../shared/data (skipped when absent, required under CI)."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import pytest

from rempart.ingest import RAW

from .conftest import read_all, rows

ATOMIC = "security-datasets/atomic/windows"
ZIP = f"{ATOMIC}/execution/host/cmd_sharpview_pcre_net.zip"
CUT_TAR = f"{ATOMIC}/defense_evasion/host/empire_enable_rdp.tar.gz"  # Winlogbeat 6.7, trailing byte
APT29_ZEEK = "security-datasets/compound/apt29/day1/zeek/combined_zeek.log"


def _member_lines(path: Path) -> int:
    """Lines of the (single) member, decompressed with zlib directly, independently of our reader."""
    raw = zlib.decompressobj(31).decompress(path.read_bytes())
    header = tarfile.TarInfo.frombuf(raw[:512], "utf-8", "surrogateescape")
    return raw[512 : 512 + header.size].count(b"\n")


@pytest.mark.shared
def test_security_datasets_zip(shared_data: Path) -> None:
    table, report = read_all([shared_data / ZIP], fields=["EventID", "Channel", "CommandLine", "ProcessId"])
    got = rows(table)
    assert len(got) == 267 and not report.skipped
    assert {r["_service"] for r in got} >= {"security"}
    assert any("SharpView.exe" in str(r["CommandLine"]) for r in got)
    assert all(r["_ts"] is not None and r["_host"] for r in got)
    assert all(str(r["_source"]).endswith(".zip!cmd_sharpview_pcre_net_2020-10-2920232423.json") for r in got)


@pytest.mark.shared
def test_cut_tar_gz_reads_its_whole_member_and_reports_the_rest(shared_data: Path) -> None:
    path = shared_data / CUT_TAR
    table, report = read_all([path], fields=["EventID", "Channel", "Image"])
    assert table is not None and table.num_rows == _member_lines(path) == 2668
    assert [f.source for f in report.failed] == [str(path)]
    assert "after the compressed data" in report.failed[0].reason


@pytest.mark.shared
def test_winlogbeat6_maps_to_the_evtx_names(shared_data: Path) -> None:
    table, _ = read_all(
        [shared_data / CUT_TAR], fields=["EventID", "Channel", "Image", "Computer", "DestinationIp"]
    )
    got = rows(table)
    sysmon3 = [
        r for r in got if r["Channel"] == "Microsoft-Windows-Sysmon/Operational" and r["EventID"] == "3"
    ]
    assert sysmon3, "no Sysmon network events in the Winlogbeat archive"
    first = sysmon3[0]
    assert first["Image"] and first["DestinationIp"] and first["Computer"] == first["_host"]
    assert first["_service"] == "microsoft-windows-sysmon/operational"
    assert '"log_name"' in str(first[RAW])  # the original document is kept


@pytest.mark.shared
def test_regression_json_and_its_evtx_give_the_same_fields(shared_data: Path) -> None:
    samples = sorted((shared_data / "sigma-regression").rglob("*.json"))  # all 135, a few seconds
    assert samples
    for sample in samples:
        evtx = sample.with_suffix(".evtx")
        from_json = rows(read_all([sample])[0])
        from_evtx = rows(read_all([evtx])[0])
        assert from_json and from_evtx
        # the published JSON and EVTX were exported separately (values sometimes differ in case or
        # trailing blanks), so compare what our readers decide: the column names and the core values
        json_keys = {k for k, v in from_json[0].items() if v is not None}
        evtx_keys = {k for k, v in from_evtx[0].items() if v is not None}
        assert json_keys <= evtx_keys | {"_raw"}, (sample, json_keys - evtx_keys)
        for core in ("EventID", "Channel", "Computer", "Provider_Name", "_host", "_service", "_product"):
            assert from_json[0][core] == from_evtx[0][core], (sample, core)


@pytest.mark.shared
def test_apt29_zeek_json(shared_data: Path) -> None:
    table, report = read_all(
        [shared_data / APT29_ZEEK], fields=["id.orig_h", "id.resp_h", "orig_bytes", "query"]
    )
    got = rows(table)
    assert len(got) == sum(1 for _ in (shared_data / APT29_ZEEK).open("rb")) and not report.skipped
    services = {r["_service"] for r in got}
    assert {"conn", "dns"} <= services
    conn = [r for r in got if r["_service"] == "conn"]
    assert all(r["id.orig_h"] for r in conn) and any(r["orig_bytes"] for r in conn)
