"""Sources: text written by Windows tools (UTF-16, byte-order marks) and archives inside archives."""

from __future__ import annotations

import codecs
import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import read_all, rows


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _comparable(path: Path) -> list[dict[str, object]]:
    table, report = read_all([path])
    assert not report.failed and not report.quarantined, report.summary()
    return [{k: v for k, v in r.items() if k != "_source"} for r in rows(table)]


@pytest.mark.parametrize(
    ("label", "encode"),
    [
        ("UTF-8 with a byte-order mark", lambda t: codecs.BOM_UTF8 + t.encode("utf-8")),
        ("UTF-16 LE, as PowerShell 5.1 writes", lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le")),
        ("UTF-16 BE with its mark", lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be")),
        ("UTF-16 LE without a mark", lambda t: t.encode("utf-16-le")),
    ],
)
def test_windows_text_encodings_read_as_the_utf8_file(
    fixtures: Path, tmp_path: Path, label: str, encode: object
) -> None:
    text = (fixtures / "windows.jsonl").read_text("utf-8").replace("\n", "\r\n")  # PowerShell ends lines so
    text = text.replace("whoami", "whoami-é")  # a character outside ASCII must come out the same
    (tmp_path / "utf8.json").write_text(text, "utf-8", newline="")
    (tmp_path / "other.json").write_bytes(encode(text))  # type: ignore[operator]
    expected = _comparable(tmp_path / "utf8.json")
    assert len(expected) == 4 and any("whoami-é" in str(r.get("CommandLine")) for r in expected)
    assert _comparable(tmp_path / "other.json") == expected, label  # fields, line numbers and _raw


def test_a_utf16_line_that_is_not_text_is_quarantined_and_the_others_read(tmp_path: Path) -> None:
    good = '{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":4624,"Computer":"h"}'
    lone_surrogate = b"\x00\xd8"  # the first half of a pair, with no second half
    data = (
        codecs.BOM_UTF16_LE + (good + "\r\n").encode("utf-16-le")
        + '{"x":"'.encode("utf-16-le") + lone_surrogate + '"}\r\n'.encode("utf-16-le")
        + (good + "\r\n").encode("utf-16-le")
    )
    (tmp_path / "export.json").write_bytes(data)
    table, report = read_all([tmp_path / "export.json"])
    assert [r["_record"] for r in rows(table)] == [1, 3]
    assert [(q.record, q.reason) for q in report.quarantined] == [(2, "binary data (not UTF-8 text)")]


def test_utf16_cut_in_the_middle_of_a_character_keeps_the_text_before(tmp_path: Path) -> None:
    line = '{"@timestamp":"2026-11-28T10:00:00Z","Channel":"Security","EventID":4624,"Computer":"h"}\r\n'
    (tmp_path / "cut.json").write_bytes((codecs.BOM_UTF16_LE + (line * 3).encode("utf-16-le"))[:-1])
    table, report = read_all([tmp_path / "cut.json"])
    assert table is not None and table.num_rows == 3  # the last line lost only its '\n'
    assert len(report.failed) == 1 and "truncated UTF-16 text" in report.failed[0].reason
    assert report.exit_code() == 1


def test_binary_data_is_not_taken_for_utf16(tmp_path: Path) -> None:
    blob = tmp_path / "blob.json"
    blob.write_bytes(bytes(range(1, 256)) * 10)  # no NUL beside every byte: not text in any encoding
    _, report = read_all([blob])
    assert "unknown format" in report.failed[0].reason


def test_archives_inside_archives_are_read(fixtures: Path, tmp_path: Path) -> None:
    auth = (fixtures / "auth.log").read_bytes()
    collected = _tar_gz({
        "var/log/auth.log.2.gz": gzip.compress(auth),  # a rotated log, as logrotate leaves it
        "var/log/fw/fortigate.log": (fixtures / "fortigate.log").read_bytes(),
    })
    inner_zip = _zip({"windows.jsonl": (fixtures / "windows.jsonl").read_bytes()})
    (tmp_path / "collection.zip").write_bytes(
        _zip({"srv1/logs.tar.gz": collected, "ws1/events.zip": inner_zip})
    )
    table, report = read_all([tmp_path / "collection.zip"], reference_year=2026)
    assert table is not None and not report.failed and not report.ignored
    top = tmp_path / "collection.zip"
    assert report.events == {
        (f"{top}!srv1/logs.tar.gz!var/log/auth.log.2.gz", "syslog"): 7,
        (f"{top}!srv1/logs.tar.gz!var/log/fw/fortigate.log", "fortigate"): 3,
        (f"{top}!ws1/events.zip!windows.jsonl", "winjson"): 4,
    }
    assert report.bytes_read == top.stat().st_size  # the file on disk, counted once


def test_a_broken_archive_inside_an_archive_is_reported_and_its_siblings_read(
    fixtures: Path, tmp_path: Path
) -> None:
    good = (fixtures / "windows.jsonl").read_bytes()
    (tmp_path / "mixed.zip").write_bytes(
        _zip({"a/broken.zip": b"PK\x03\x04 not a zip at all", "b/events.json": good})
    )
    table, report = read_all([tmp_path / "mixed.zip"])
    assert table is not None and table.num_rows == 4
    assert [(f.source, f.reason.split(":")[0]) for f in report.failed] == [
        (f"{tmp_path / 'mixed.zip'}!a/broken.zip", "unreadable archive")
    ]


def test_archives_nested_too_deep_are_reported_not_opened(fixtures: Path, tmp_path: Path) -> None:
    data = _zip({"events.json": (fixtures / "windows.jsonl").read_bytes()})  # level 3: still read
    data = _zip({"level3.zip": data})
    data = _zip({"level2.zip": _zip({"level3b.zip": _zip({"deep.zip": b"..."})}), "also.zip": data})
    (tmp_path / "outer.zip").write_bytes(data)
    table, report = read_all([tmp_path / "outer.zip"])
    assert table is not None and table.num_rows == 4
    assert len(report.failed) == 1
    assert report.failed[0].source.endswith("!level2.zip!level3b.zip!deep.zip")
    assert "nested more than 3 levels" in report.failed[0].reason


def test_a_zip_inside_an_archive_too_big_for_memory_is_reported_not_opened(
    fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rempart.ingest import sources

    monkeypatch.setattr(sources, "NESTED_ZIP_BYTES", 100)  # the real limit is 512 MB
    inner = _zip({"events.json": (fixtures / "windows.jsonl").read_bytes()})
    assert len(inner) > 100
    (tmp_path / "outer.zip").write_bytes(_zip({"big.zip": inner, "also.json": (fixtures / "windows.jsonl")
                                               .read_bytes()}))
    table, report = read_all([tmp_path / "outer.zip"])
    assert table is not None and table.num_rows == 4  # the sibling is read
    (failure,) = report.failed
    assert failure.source.endswith("outer.zip!big.zip") and "extract it" in failure.reason
