"""A big EVTX file read in shares of its chunks by the parsing workers (issue 17): the same events, in
the same order, and the file's own faults reported once."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rempart.ingest import IngestReport, parallel, read_paths
from rempart.ingest.readers.evtx import CHUNK_BYTES, HEADER_BYTES, chunk_window, file_header

SAMPLE = "evtx-attack-samples/Command and Control/bits_openvpn.evtx"  # 16 full chunks


def _big(shared_data: Path, tmp_path: Path, chunks: int = 20) -> Path:
    data = (shared_data / SAMPLE).read_bytes()
    own = [data[o : o + CHUNK_BYTES] for o in range(HEADER_BYTES, len(data) - CHUNK_BYTES + 1, CHUNK_BYTES)]
    path = tmp_path / "big.evtx"
    path.write_bytes(file_header(chunks) + b"".join(own[i % len(own)] for i in range(chunks)))
    return path


def _read(path: Path, **kwargs: object) -> tuple[list[tuple[str, int, str]], IngestReport]:
    report = IngestReport()
    tables = list(read_paths([path], report=report, **kwargs))  # type: ignore[arg-type]
    table = pa.concat_tables(tables, promote_options="default")
    rows = zip(table["_source"].to_pylist(), table["_record"].to_pylist(), table["_raw"].to_pylist(),
               strict=True)
    return list(rows), report


def test_shares_give_the_events_of_the_whole_file(shared_data: Path, tmp_path: Path) -> None:
    path = _big(shared_data, tmp_path)
    whole, report = _read(path)
    shares: list[tuple[str, int, str]] = []
    for window in ((0, 7), (7, 14), (14, None)):
        with chunk_window(*window):
            part, sub = _read(path)
        shares += part
        assert not sub.failed
    assert shares == whole and len(whole) > 1000 and not report.failed


def test_a_cut_file_or_a_bad_header_is_reported_once(shared_data: Path, tmp_path: Path) -> None:
    path = _big(shared_data, tmp_path)
    data = bytearray(path.read_bytes()[: -CHUNK_BYTES // 2])  # the last chunk cut in half
    data[32:36] = b"\xff" * 4  # and the header's size wrong
    path.write_bytes(bytes(data))
    whole, report = _read(path)
    failures: list[str] = []
    shares = []
    for window in ((0, 7), (7, 14), (14, None)):
        with chunk_window(*window):
            part, sub = _read(path)
        shares += part
        failures += [f.reason for f in sub.failed]
    assert shares == whole
    assert sorted(failures) == sorted(f.reason for f in report.failed)
    assert len(failures) == 2 and any("truncated" in f for f in failures)


def test_the_parsing_workers_share_a_big_file(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big(shared_data, tmp_path)
    monkeypatch.setattr(parallel, "SPLIT_BYTES", 3 * CHUNK_BYTES)  # 7 shares instead of one file
    assert len(parallel._shares(path)) == 7
    whole, report = _read(path)
    shared, sub = _read(path, workers=2)
    assert shared == whole and not sub.failed and sub.events == report.events
