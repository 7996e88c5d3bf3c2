"""read_paths as a whole: attribution, archives, progress, missing paths, the report."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pyarrow.compute as pc

from rempart.ingest import iter_files
from rempart.ingest.report import IngestReport
from rempart.ingest.sources import open_sources
from rempart.inventory import Resolver, load_group

from .conftest import read_all, rows


def _resolver(example_group_path: Path) -> Resolver:
    return Resolver(load_group(example_group_path))


def test_events_are_attributed_by_hostname_or_ip(fixtures: Path, example_group_path: Path) -> None:
    resolver = _resolver(example_group_path)
    table, report = read_all([fixtures / "windows.jsonl", fixtures / "conn.log"], resolver)
    got = rows(table)
    windows = [r for r in got if r["_product"] == "windows"]
    assert [r["_establishment"] for r in windows] == ["capitouls"] * 3 + [None]
    assert windows[0]["_asset"] == "tls-cap-dc01"
    zeek = [r for r in got if r["_product"] == "zeek"]
    assert [r["_establishment"] for r in zeek] == ["capitouls", "capitouls"]  # 10.11.0.0/16
    assert zeek[0]["_asset"] == "tls-cap-dpi01" and zeek[1]["_asset"] is None  # network match only
    assert report.unattributed == 1 and report.unattributed_hosts == {"unknown-host.example": 1}
    assert "not attributed" in report.summary()
    alone = read_all([fixtures / "windows.jsonl"], resolver)[1]
    assert alone.unattributed == 1 and alone.exit_code() == 0  # kept, so nothing was skipped


def test_vpn_events_fall_back_to_the_remote_address(fixtures: Path, example_group_path: Path) -> None:
    got = rows(read_all([fixtures / "fortigate.log"], _resolver(example_group_path))[0])
    assert {r["_establishment"] for r in got} == {"capitouls"}  # devname tls-cap-fw01
    assert {r["_asset"] for r in got} == {"tls-cap-fw01"}


def test_without_inventory_every_event_is_kept_unattributed(fixtures: Path) -> None:
    table, report = read_all([fixtures / "auth.log"], None)
    assert table is not None and table.column("_establishment").null_count == table.num_rows
    assert report.unattributed == table.num_rows


def test_archives_are_read_directly(fixtures: Path, tmp_path: Path) -> None:
    auth = (fixtures / "auth.log").read_bytes()
    fortigate = (fixtures / "fortigate.log").read_bytes()
    (tmp_path / "auth.log.gz").write_bytes(gzip.compress(auth))
    with zipfile.ZipFile(tmp_path / "logs.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("fw/fortigate.log", fortigate)
        z.writestr("__MACOSX/fw/._fortigate.log", b"\x00\x05\x16\x07 resource fork")
    with tarfile.open(tmp_path / "logs.tar.gz", "w:gz") as t:
        for name, data in (("a/conn.log", (fixtures / "conn.log").read_bytes()), ("b/auth.log", auth)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    table, report = read_all([tmp_path], reference_year=2026)
    assert table is not None
    by_source = report.events
    assert by_source[(str(tmp_path / "auth.log.gz"), "syslog")] == 7
    assert by_source[(f"{tmp_path / 'logs.zip'}!fw/fortigate.log", "fortigate")] == 3
    assert by_source[(f"{tmp_path / 'logs.tar.gz'}!a/conn.log", "zeek")] == 2
    assert by_source[(f"{tmp_path / 'logs.tar.gz'}!b/auth.log", "syslog")] == 7
    assert not report.failed  # the macOS resource fork is not a log and not a failure


def test_a_tar_gz_cut_in_its_second_member_keeps_the_first(fixtures: Path, tmp_path: Path) -> None:
    first = (fixtures / "windows.jsonl").read_bytes()
    lines = b"".join(
        b'{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":%d,"Computer":"h"}\n' % i
        for i in range(20000)
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in (("one.json", first), ("two.json", lines)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    whole = buffer.getvalue()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    table, report = read_all([cut])
    assert table is not None
    assert report.events[(f"{cut}!one.json", "winjson")] == 4
    second = report.events[(f"{cut}!two.json", "winjson")]
    assert 0 < second < 20000
    assert any("truncated" in f.reason for f in report.failed)
    assert all(str(cut) in f.source for f in report.failed)


def test_missing_path_is_reported_and_the_run_goes_on(fixtures: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    table, report = read_all([missing, fixtures / "auth.log"])
    assert table is not None and table.num_rows == 7
    assert [(f.source, f.reason) for f in report.failed] == [(str(missing), "no such file or directory")]
    assert report.exit_code() == 1 and str(missing) in report.summary()


def test_unknown_format_named_fails_met_in_a_folder_is_ignored(tmp_path: Path) -> None:
    picture = tmp_path / "picture.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (tmp_path / "empty.log").write_bytes(b"")
    table, report = read_all([picture])
    assert table is None
    assert [f.source for f in report.failed] == [str(picture)]
    assert "unknown format" in report.failed[0].reason and report.exit_code() == 1
    table, report = read_all([tmp_path])
    assert table is None and not report.failed and report.exit_code() == 0
    assert report.ignored == [str(picture)] and "1 files ignored" in report.summary()


def test_progress_counts_every_byte_on_disk(fixtures: Path, tmp_path: Path) -> None:
    (tmp_path / "auth.log.gz").write_bytes(gzip.compress((fixtures / "auth.log").read_bytes()))
    paths = [fixtures, tmp_path]
    seen: list[int] = []
    read_all(paths, on_progress=seen.append)
    assert sum(seen) == sum(p.stat().st_size for p in iter_files(paths))
    assert all(n > 0 for n in seen)


def test_batches_respect_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    path.write_text(
        "".join(
            f'{{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":{i},"Computer":"h"}}\n'
            for i in range(1000)
        )
    )
    from rempart.ingest import IngestReport, read_paths

    report = IngestReport()
    sizes = [t.num_rows for t in read_paths([path], batch_size=300, report=report)]
    assert sizes == [300, 300, 300, 100]


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _events(n: int, start: int = 0) -> bytes:
    return b"".join(
        b'{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":%d,"Computer":"h"}\n' % i
        for i in range(start, start + n)
    )


def test_zip_members_inflate_whole_deflated_or_stored(tmp_path: Path) -> None:
    big = _events(60000)  # several MB inflated: many reads, each within the caller's size
    _zip(tmp_path / "d.zip", {"a.json": big, "b.json": _events(3)})
    _zip(tmp_path / "s.zip", {"c.json": _events(5)}, zipfile.ZIP_STORED)
    table, report = read_all([tmp_path])
    assert table is not None and not report.failed
    assert report.events[(f"{tmp_path / 'd.zip'}!a.json", "winjson")] == 60000
    assert report.events[(f"{tmp_path / 'd.zip'}!b.json", "winjson")] == 3
    assert report.events[(f"{tmp_path / 's.zip'}!c.json", "winjson")] == 5
    records = table.filter(pc.equal(table["_source"], f"{tmp_path / 'd.zip'}!a.json"))["_record"]
    assert records.to_pylist() == list(range(1, 60001))


def test_corrupt_zip_member_is_reported_and_the_next_member_still_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    _zip(path, {"a.json": _events(2000), "b.json": _events(4)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a.json")
    middle = info.header_offset + 30 + len("a.json") + info.compress_size // 2
    data[middle] ^= 0xFF  # one flipped byte in a.json's compressed data
    path.write_bytes(bytes(data))
    table, report = read_all([path])
    assert table is not None
    assert report.events[(f"{path}!b.json", "winjson")] == 4
    assert report.events[(f"{path}!a.json", "winjson")] < 2000  # what came before the damage, at most
    failed = {f.source: f.reason for f in report.failed}
    assert list(failed) == [f"{path}!a.json"]
    assert "truncated or corrupt" in failed[f"{path}!a.json"]


def test_zip_member_with_a_wrong_crc_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "crc.zip"
    _zip(path, {"a.json": _events(10)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a.json")
    central = data.rfind(b"PK\x01\x02")
    data[central + 16] ^= 0xFF  # the CRC-32 the central directory states
    path.write_bytes(bytes(data))
    _, report = read_all([path])
    assert [f.source for f in report.failed] == [f"{path}!a.json"]
    assert "bad CRC-32" in report.failed[0].reason and info.CRC


def test_zip_members_inflating_to_just_over_a_read_step_come_out_whole(tmp_path: Path) -> None:
    # very compressible data whose inflated size ends just past the 4 MB a single inflate call may
    # return: the last bytes are held back by the inflater and must be flushed, not reported as a cut
    step = 4 << 20
    for size in (step - 1, step, step + 1, step + 8, 2 * step + 1):
        path = tmp_path / f"{size}.zip"
        _zip(path, {"m.json": b"a" * size})
        report = IngestReport()
        got = [source.stream.read() for source in open_sources(path, report)]
        assert not report.failed, (size, report.failed)
        assert got == [b"a" * size]


def test_zip_member_with_a_broken_local_header_is_reported_and_the_others_read(tmp_path: Path) -> None:
    path = tmp_path / "header.zip"
    _zip(path, {"a.json": _events(3), "b.json": _events(5), "c.json": _events(2)})
    with zipfile.ZipFile(path) as z:
        offset = z.getinfo("b.json").header_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = b"XXXX"  # b.json's local header signature
    path.write_bytes(bytes(data))
    _, report = read_all([path])
    assert report.events[(f"{path}!a.json", "winjson")] == 3
    assert report.events[(f"{path}!c.json", "winjson")] == 2
    failed = {f.source: f.reason for f in report.failed}
    assert list(failed) == [f"{path}!b.json"]
    reason = failed[f"{path}!b.json"]
    assert "unreadable zip member" in reason and "bad local file header" in reason
