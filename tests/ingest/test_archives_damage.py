"""Damaged archives (issue 13, findings 3 and 4): the intact text before a bad gzip trailer or CRC-32 is
kept and the damage reported; zip members that cannot be read are reported one by one, their siblings read;
bzip2 and xz like gzip. Nothing raises out of the reading."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from rempart.ingest import IngestReport
from rempart.ingest.sources import open_sources

from .conftest import read_all

LINES = 3000


def _events(n: int, start: int = 0) -> bytes:
    return b"".join(
        b'{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":%d,"Computer":"h"}\n' % i
        for i in range(start, start + n)
    )


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _kept(path: Path, member: str | None = None) -> tuple[int, dict[str, str]]:
    _, report = read_all([path])
    name = f"{path}!{member}" if member else str(path)
    return report.events[(name, "winjson")], {f.source: f.reason for f in report.failed}


def test_gzip_missing_its_last_trailer_byte_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "security.json.gz"
    path.write_bytes(_gz(_events(LINES))[:-1])  # copied while gzip was still writing its trailer
    kept, failed = _kept(path)
    assert kept == LINES
    assert list(failed) == [str(path)] and "trailer cut short" in failed[str(path)]
    assert "7 of its 8 bytes" in failed[str(path)]


def test_gzip_with_a_wrong_crc_keeps_every_line_and_says_so(tmp_path: Path) -> None:
    data = bytearray(_gz(_events(LINES)))
    data[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "security.json.gz"
    path.write_bytes(bytes(data))
    kept, failed = _kept(path)
    assert kept == LINES
    assert "CRC-32 wrong" in failed[str(path)] and "may be damaged" in failed[str(path)]


def test_gzip_cut_in_its_compressed_data_keeps_every_whole_line_before_the_cut(tmp_path: Path) -> None:
    whole = _gz(_events(40_000))
    cut = whole[: len(whole) * 3 // 5]
    inflated = zlib.decompressobj(31).decompress(cut)  # what the cut file still holds
    path = tmp_path / "security.json.gz"
    path.write_bytes(cut)
    report = IngestReport()
    got = [source.stream.read() for source in open_sources(path, report)]
    assert got == [inflated]  # every inflated byte, not the last megabyte dropped
    assert "gzip data cut short" in report.failed[0].reason
    kept, _ = _kept(path)
    assert kept == inflated.count(b"\n") > 20_000  # the cut last line is quarantined, the rest kept


def test_gzip_members_one_after_the_other_and_zero_padding_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "joined.json.gz"
    path.write_bytes(_gz(_events(10)) + _gz(_events(7, 10)) + b"\x00" * 512)
    kept, failed = _kept(path)
    assert kept == 17 and not failed


def test_gzip_followed_by_garbage_keeps_its_text_and_reports_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "tail.json.gz"
    path.write_bytes(_gz(_events(10)) + b"garbage!")
    kept, failed = _kept(path)
    assert kept == 10 and "unexpected bytes after the compressed data" in failed[str(path)]


@pytest.mark.parametrize("size", [(4 << 20) - 1, 4 << 20, (4 << 20) + 1, (8 << 20) + 1])
def test_gzip_inflating_to_just_over_a_read_step_comes_out_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "a.json.gz"
    path.write_bytes(_gz(b"a" * size))
    report = IngestReport()
    got = [source.stream.read() for source in open_sources(path, report)]
    assert not report.failed and got == [b"a" * size]


def test_tar_gz_missing_its_last_trailer_byte_keeps_every_member(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as t:
        for name, data in {"a.json": _events(LINES), "b.json": _events(5)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    path = tmp_path / "logs.tar.gz"
    path.write_bytes(_gz(buffer.getvalue())[:-1])
    assert _kept(path, "a.json")[0] == LINES
    kept, failed = _kept(path, "b.json")
    assert kept == 5 and list(failed) == [str(path)]
    assert "trailer cut short" in failed[str(path)] and "every member was read" in failed[str(path)]


def _tar(members: dict[str, bytes]) -> bytearray:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return bytearray(buffer.getvalue())


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz"])
def test_a_broken_tar_header_costs_its_member_and_the_next_ones_are_read(tmp_path: Path, suffix: str) -> None:
    data = _tar({"a.json": _events(3), "b.json": _events(40), "c.json": _events(5)})
    b = data.find(b"b.json")
    data[b + 148 : b + 156] = b"garbage!"  # b.json's header checksum: tarfile used to stop there, silently
    path = tmp_path / f"logs{suffix}"
    path.write_bytes(_gz(bytes(data)) if suffix.endswith(".gz") else bytes(data))
    assert _kept(path, "a.json")[0] == 3
    kept, failed = _kept(path, "c.json")
    assert kept == 5
    assert list(failed) == [str(path)] and f"broken tar header at byte {b:,}" in failed[str(path)]
    assert "the member there is lost" in failed[str(path)]


def test_bytes_after_the_end_of_a_tar_are_reported_and_every_member_read(tmp_path: Path) -> None:
    path = tmp_path / "logs.tar"
    path.write_bytes(bytes(_tar({"a.json": _events(3)})) + b"junk" * 256)
    kept, failed = _kept(path, "a.json")
    assert kept == 3 and "unexpected bytes after the end of the archive" in failed[str(path)]


def _zip_with(path: Path, members: dict[str, bytes], patch: dict[str, tuple[int, int]]) -> None:
    """A zip whose members named in `patch` get (flag bits or-ed in, compression method) in both their
    local and central headers: what an encrypting or exotic archiver writes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(name, text)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        infos = {i.filename: i for i in z.infolist()}
    for name, (flags, method) in patch.items():
        local = infos[name].header_offset
        central = data.find(b"PK\x01\x02" + data[local + 4 : local + 6])
        while data[central + 46 : central + 46 + len(name)] != name.encode():
            central = data.find(b"PK\x01\x02", central + 4)
        for at in (local + 6, central + 8):  # general-purpose flags, then the method
            old_flags, _ = struct.unpack_from("<HH", data, at)
            struct.pack_into("<HH", data, at, old_flags | flags, method)
    path.write_bytes(bytes(data))


def test_zip_members_of_an_unknown_method_or_encrypted_are_reported_and_siblings_read(tmp_path: Path) -> None:
    path = tmp_path / "collecte.zip"
    members = {"a.json": _events(3), "zstd.json": _events(4), "secret.json": _events(6), "b.json": _events(5)}
    _zip_with(path, members, {"zstd.json": (0, 93), "secret.json": (0x1, 8)})
    _, report = read_all([path])  # NotImplementedError used to end the run with a traceback
    assert report.events[(f"{path}!a.json", "winjson")] == 3
    assert report.events[(f"{path}!b.json", "winjson")] == 5
    failed = {f.source: f.reason for f in report.failed}
    assert set(failed) == {f"{path}!zstd.json", f"{path}!secret.json"}
    assert "method 93 (Zstandard)" in failed[f"{path}!zstd.json"] and "7-Zip" in failed[f"{path}!zstd.json"]
    assert "encrypted zip member" in failed[f"{path}!secret.json"]
    assert report.exit_code() == 1


def test_an_exotic_zip_inside_a_tar_costs_only_its_own_member(tmp_path: Path) -> None:
    inner = tmp_path / "inner.zip"
    _zip_with(inner, {"c.json": _events(2)}, {"c.json": (0, 98)})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        t.add(inner, "srv/inner.zip")
        info = tarfile.TarInfo("srv/d.json")
        info.size = len(_events(4))
        t.addfile(info, io.BytesIO(_events(4)))
    path = tmp_path / "logs.tgz"
    path.write_bytes(buffer.getvalue())
    kept, failed = _kept(path, "srv/d.json")
    assert kept == 4
    member = f"{path}!srv/inner.zip!c.json"
    assert list(failed) == [member] and "(PPMd)" in failed[member]


@pytest.mark.parametrize(("suffix", "compress"), [(".bz2", bz2.compress), (".xz", lzma.compress)])
def test_bzip2_and_xz_read_and_their_damage_keeps_the_text_before(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    pack = compress
    whole = tmp_path / f"whole.json{suffix}"
    whole.write_bytes(pack(_events(LINES)) + pack(_events(2, LINES)))
    assert _kept(whole) == (LINES + 2, {})
    big = pack(_events(40_000))
    cut = tmp_path / f"cut.json{suffix}"
    cut.write_bytes(big[: len(big) * 3 // 5])
    kept, failed = _kept(cut)
    assert kept > 10_000 and "cut short" in failed[str(cut)]
    tail = tmp_path / f"tail.json{suffix}"
    tail.write_bytes(pack(_events(LINES)) + b"garbage!")
    kept, failed = _kept(tail)
    assert kept == LINES and "unexpected bytes" in failed[str(tail)]


def test_tar_xz_is_read(tmp_path: Path) -> None:
    path = tmp_path / "logs.tar.xz"
    with tarfile.open(path, mode="w:xz") as t:
        info = tarfile.TarInfo("var/log/a.json")
        info.size = len(_events(9))
        t.addfile(info, io.BytesIO(_events(9)))
    assert _kept(path, "var/log/a.json") == (9, {})


def _corrupt_deflate(raw_deflate_start: int, data: bytearray) -> int:
    """Flip a byte two thirds into the deflate data of `data` (starting at `raw_deflate_start`) until
    zlib calls the stream corrupt (not merely changed); returns where."""
    for at in range(raw_deflate_start + (len(data) - raw_deflate_start) * 2 // 3, len(data) - 8):
        trial = bytearray(data)
        trial[at] ^= 0xFF
        try:
            zlib.decompressobj(-15).decompress(bytes(trial[raw_deflate_start:]))
        except zlib.error:
            data[at] ^= 0xFF
            return at
    raise AssertionError("no corrupting byte found")


def _prefix_before_error(raw: bytes) -> bytes:
    """What zlib inflates of `raw` before it finds the damage, fed one byte at a time (the reference)."""
    inflater, out = zlib.decompressobj(-15), []
    for i in range(len(raw)):
        try:
            out.append(inflater.decompress(raw[i : i + 1]))
        except zlib.error:
            break
    return b"".join(out)


def test_gzip_with_corrupt_compressed_data_keeps_the_lines_inflated_before_the_damage(tmp_path: Path) -> None:
    data = bytearray(_gz(_events(200)))  # small: one read used to hold the whole file, and lose it
    _corrupt_deflate(10, data)
    before = _prefix_before_error(bytes(data[10:]))
    path = tmp_path / "security.json.gz"
    path.write_bytes(bytes(data))
    kept, failed = _kept(path)
    assert before.count(b"\n") > 100
    assert kept == before.count(b"\n")  # every whole line before the damage
    assert "corrupt gzip data" in failed[str(path)] and f"{len(before):,} bytes" in failed[str(path)]


def test_zip_member_with_corrupt_compressed_data_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.json", _events(200))
        z.writestr("b.json", _events(5))
    data = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("a.json")
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    end = start + info.compress_size
    member = bytearray(data[start:end])
    _corrupt_deflate(0, member)
    data[start:end] = member
    before = _prefix_before_error(bytes(member))
    path = tmp_path / "collecte.zip"
    path.write_bytes(bytes(data))
    kept, failed = _kept(path, "a.json")
    assert before.count(b"\n") > 100 and kept == before.count(b"\n")
    assert "corrupt compressed data in zip member 'a.json'" in failed[f"{path}!a.json"]
    assert _kept(path, "b.json")[0] == 5  # its sibling is whole


def test_tar_gz_cut_inside_a_member_keeps_that_members_lines_before_the_cut(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as t:
        for name, data in {"a.json": _events(5), "b.json": _events(300)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    tar = buffer.getvalue()
    whole = _gz(tar)
    cut = whole[: len(whole) * 3 // 4]
    inflated = zlib.decompressobj(31).decompress(cut)
    b_start = tar.index(b'{"@timestamp"', 1024)  # b.json's data, after a.json and b.json's header
    assert b_start < len(inflated) < len(tar)  # the cut falls inside b.json
    path = tmp_path / "logs.tar.gz"
    path.write_bytes(cut)
    assert _kept(path, "a.json")[0] == 5
    kept, failed = _kept(path, "b.json")
    assert kept == inflated[b_start:].count(b"\n") > 100  # b.json's whole lines before the cut
    assert "the archive ends inside member 'b.json'" in failed[f"{path}!b.json"]
    assert "gzip data cut short" in failed[str(path)]
