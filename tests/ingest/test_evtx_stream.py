"""EVTX read chunk by chunk, where a bad record or chunk costs at most itself (issue 13, findings 5, 7)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import orjson
import pyarrow as pa
from evtx import PyEvtxParser

from rempart.ingest import IngestReport
from rempart.ingest.fields import FieldCanon
from rempart.ingest.interface import ReaderContext
from rempart.ingest.readers.evtx import CHUNK_BYTES, HEADER_BYTES, EventPool, file_header
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source

from .conftest import read_all

SAMPLE = "evtx-attack-samples/Credential Access/sysmon_10_11_lsass_memdump.evtx"
BIG = "evtx-attack-samples/Command and Control/bits_openvpn.evtx"  # 16 chunks


def _bare(data: bytes) -> list[dict[str, object]]:
    return [orjson.loads(r["data"]) for r in PyEvtxParser(io.BytesIO(data)).records_json()]


def _chunks(data: bytes) -> list[bytes]:
    return [data[o : o + CHUNK_BYTES] for o in range(HEADER_BYTES, len(data) - CHUNK_BYTES + 1, CHUNK_BYTES)]


def _with_record_id(data: bytes, new_id: int) -> bytes:
    """`data` with its first record's EventRecordID (the BinXML value, not the record header's) replaced."""
    first = _bare(data)[0]["Event"]["System"]["EventRecordID"]  # type: ignore[index]
    start = HEADER_BYTES + 512  # the first record of the first chunk
    size = struct.unpack_from("<I", data, start + 4)[0]
    at = data.find(struct.pack("<Q", first), start + 24, start + size)
    assert at > 0
    return data[:at] + struct.pack("<Q", new_id) + data[at + 8 :]


def test_a_record_id_beyond_64_bits_costs_its_record_not_the_pool(shared_data: Path, tmp_path: Path) -> None:
    good = shared_data / SAMPLE
    data = good.read_bytes()
    bad = tmp_path / "bad.evtx"
    bad.write_bytes(_with_record_id(data, (1 << 64) - 5))  # an OverflowError used to lose both files
    table, report = read_all([bad, good])
    n = len(_bare(data))
    assert report.events[(str(good), "evtx")] == n  # the intact file pooled with it: every event kept
    assert report.events[(str(bad), "evtx")] == n - 1  # the bad file's other records kept
    (q,) = report.quarantined
    assert q.source == str(bad) and "EventRecordID 18446744073709551611" in q.reason
    assert table is not None and table.num_rows == 2 * n - 1 and not report.failed


def test_a_record_no_column_takes_is_found_and_quarantined_alone(shared_data: Path) -> None:
    # what the pool does when building a batch fails for one record (any reader that pools, XML too)
    events = _bare((shared_data / BIG).read_bytes())[:300]
    pool = EventPool()
    for i, event in enumerate(events):
        pool.add(event, (1 << 63) + 7 if i == 123 else i, "a.evtx" if i < 150 else "b.evtx")
    report = IngestReport()
    ctx = ReaderContext(report, FieldCanon(()), None, 65536)
    batches = list(pool.drain(ctx))
    kept = pa.concat_arrays([b.record for b in batches]).to_pylist()
    assert sorted(kept) == [i for i in range(300) if i != 123]
    (q,) = report.quarantined
    assert q.source == "a.evtx" and "not turned into columns" in q.reason and "OverflowError" in q.reason
    assert len(pool) == 0


def test_a_chunk_without_its_signature_is_quarantined_and_the_others_read(
    shared_data: Path, tmp_path: Path
) -> None:
    data = bytearray((shared_data / BIG).read_bytes())
    chunks = _chunks(bytes(data))
    third = HEADER_BYTES + 2 * CHUNK_BYTES
    data[third : third + 8] = b"\xa5" * 8
    path = tmp_path / "chunk.evtx"
    path.write_bytes(bytes(data))
    _, report = read_all([path])
    others = sum(len(_bare(file_header(1) + c)) for i, c in enumerate(chunks) if i != 2)
    assert report.events[(str(path), "evtx")] == others > 0  # every other chunk read
    (q,) = report.quarantined
    assert "EVTX chunk 2 (at byte 135,168) not parsed: no chunk signature" in q.reason


def test_a_damaged_free_space_offset_is_mended_and_its_chunk_read(shared_data: Path, tmp_path: Path) -> None:
    data = bytearray((shared_data / BIG).read_bytes())
    whole = len(_bare(bytes(data)))
    struct.pack_into("<I", data, HEADER_BYTES + 2 * CHUNK_BYTES + 48, 0)  # the parser then read none of it
    path = tmp_path / "free.evtx"
    path.write_bytes(bytes(data))
    _, report = read_all([path])
    assert report.events[(str(path), "evtx")] == whole
    (failure,) = report.failed
    assert "chunk 2: free-space offset 0 outside the chunk" in failure.reason


def test_unwritten_chunks_of_zeros_are_skipped_and_the_others_read(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / BIG).read_bytes()
    chunks = _chunks(data)
    path = tmp_path / "live-copy.evtx"
    path.write_bytes(file_header(len(chunks) + 1) + chunks[0] + bytes(CHUNK_BYTES) + b"".join(chunks[1:]))
    _, report = read_all([path])
    assert report.events[(str(path), "evtx")] == len(_bare(data)) and not report.skipped


class _BoundedReadsOnly(io.BufferedReader):
    """A stream that refuses to be read whole: a reader holding the file in memory fails here."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, "unbounded read of a stream"
        _BoundedReadsOnly.largest = max(_BoundedReadsOnly.largest, size)
        return super().read(size)

    def readall(self) -> bytes:
        raise AssertionError("unbounded read of a stream")


def test_a_large_evtx_is_read_a_chunk_at_a_time(shared_data: Path, tmp_path: Path) -> None:
    chunks = _chunks((shared_data / BIG).read_bytes())
    path = tmp_path / "big.evtx"
    count = 160  # 10 MB
    path.write_bytes(file_header(count) + b"".join(chunks[i % len(chunks)] for i in range(count)))
    report = IngestReport()
    ctx = ReaderContext(report, FieldCanon(()), None, 65536)
    stream = _BoundedReadsOnly(io.FileIO(path), 1 << 16)
    source = Source(str(path), path, None, 0.0, stream)
    reader = registry.get("evtx")
    rows = sum(b.num_rows for b in reader.read(source, ctx)) + sum(b.num_rows for b in reader.flush(ctx))
    assert rows == len(_bare(path.read_bytes())) > 10 * len(chunks)
    assert 0 < _BoundedReadsOnly.largest <= CHUNK_BYTES and not report.skipped
