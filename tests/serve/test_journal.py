"""The segment journal on real files: round trip, restarts, torn tails, corruption, checkpoints, kill -9 and
a full disk."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rempart
from rempart.serve.contracts import Backpressure, IntakeRecord, Sender
from rempart.serve.journal import FRAME, JournalError, JournalSink, SegmentJournal
from tests.conftest import need

SENDER = Sender("rsyslog-capitouls", "capitouls", "10.1.2.3:51514")
SRC = str(Path(rempart.__file__).resolve().parents[1])


def record(text: str) -> IntakeRecord:
    return IntakeRecord("syslog-tcp", "syslog", SENDER, 1_764_000_000.5, text.encode())


def open_journal(path: Path, **kw: int) -> SegmentJournal:
    return SegmentJournal(path, min_free_bytes=0, **kw)


def payloads(j: SegmentJournal) -> list[str]:
    return [IntakeRecord.decode(b).payload.decode() for _, b in j.read_from(1, 10**9)]


def fill(j: SegmentJournal, texts: list[str]) -> None:
    async def go() -> None:
        await JournalSink(j).accept([record(t) for t in texts])
    asyncio.run(go())


def test_records_come_back_as_they_went_in(tmp_path: Path) -> None:
    sent = [IntakeRecord("http", "json", Sender("winlogbeat", None, "[::1]:4711"), 1_764_000_123.25,
                         b'{"EventID": 4625, "n": %d}' % i) for i in range(300)]
    with open_journal(tmp_path / "j", segment_bytes=4096) as j:
        async def go() -> None:
            sink = JournalSink(j)
            for k in range(0, 300, 50):
                await sink.accept(sent[k:k + 50])
        asyncio.run(go())
        got = j.read_from(1, 1000)
        assert [o for o, _ in got] == list(range(1, 301))
        assert [IntakeRecord.decode(b) for _, b in got] == sent
        assert [o for o, _ in j.read_from(123, 7)] == list(range(123, 130))
        assert j.stats().segments > 5  # 4 KiB segments: the reads above crossed segment boundaries


def test_offsets_survive_restarts(tmp_path: Path) -> None:
    for round_ in range(3):
        with open_journal(tmp_path / "j", segment_bytes=300) as j:
            fill(j, [f"r{round_}-{i}" for i in range(7)])
            assert j.end_offset == 7 * (round_ + 1)
    with open_journal(tmp_path / "j") as j:
        assert payloads(j) == [f"r{r}-{i}" for r in range(3) for i in range(7)]
        assert [o for o, _ in j.read_from(1, 100)] == list(range(1, 22))


def test_a_torn_tail_of_every_length_is_cut(tmp_path: Path) -> None:
    base = tmp_path / "base"
    with open_journal(base) as j:
        fill(j, ["one", "two"])
        two_end = j.stats().bytes
        fill(j, ["three-" * 5])
        full = j.stats().bytes
    (seg,) = base.glob("*.seg")
    whole = seg.read_bytes()
    assert len(whole) == full
    torn_tails = [whole[:n] for n in range(two_end + 1, full)]
    torn_tails.append(whole[:two_end] + b"\0" * 100)  # the size reached disk, the data did not
    for k, torn in enumerate(torn_tails):
        case = tmp_path / f"case{k}"
        case.mkdir()
        (case / seg.name).write_bytes(torn)
        with open_journal(case) as j:
            assert (case / seg.name).stat().st_size == two_end
            assert payloads(j) == ["one", "two"], f"cut at {len(torn)}"
            assert j.stats().tail_bytes_cut == len(torn) - two_end
            assert j.stats().quarantined == 0
            fill(j, ["after"])
            assert [o for o, _ in j.read_from(1, 10)] == [1, 2, 3]
        with open_journal(case) as j:
            assert payloads(j) == ["one", "two", "after"]


def test_a_flipped_byte_in_a_middle_segment_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "j"
    texts = [f"event-{i:03d}" for i in range(100)]
    with open_journal(path, segment_bytes=600) as j:
        for t in texts:
            fill(j, [t])
    segments = sorted(path.glob("*.seg"))
    assert len(segments) >= 8
    middle = segments[len(segments) // 2]
    first = int(middle.stem)
    data = bytearray(middle.read_bytes())
    # The third record of that segment: header 16 bytes, then frames of FRAME.size + len(payload).
    size = FRAME.size + len(record(texts[0]).encode())
    at = 16 + 2 * size + FRAME.size + 10
    data[at] ^= 0x01
    middle.write_bytes(bytes(data))
    with open_journal(path, segment_bytes=600) as j:
        # Only the damaged record is lost: the ones after it are found again by their offsets and checksums.
        assert payloads(j) == texts[:first + 1] + texts[first + 2:]
        st = j.stats()
        assert st.quarantined == 1
        reason = next((path / "quarantine").glob("*.reason.txt")).read_text()
        assert f"record {first + 2} at byte" in reason and "bad checksum" in reason
        assert f"continue in segment {first + 3:020d}.seg" in reason
        assert [o for o, _ in j.read_from(first, 4)] == [first, first + 1, first + 3, first + 4]
        fill(j, ["after"])
        assert j.end_offset == 101
    with open_journal(path) as j:
        assert j.stats().quarantined == 1  # counted once, not again on the next open
        assert payloads(j) == texts[:first + 1] + texts[first + 2:] + ["after"]


def test_a_damaged_segment_header_loses_no_record(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with open_journal(path, segment_bytes=300) as j:
        for i in range(10):
            fill(j, [f"e{i}"])
    victim = sorted(path.glob("*.seg"))[1]
    data = bytearray(victim.read_bytes())
    data[2] ^= 0x20
    victim.write_bytes(bytes(data))
    with open_journal(path) as j:
        assert payloads(j) == [f"e{i}" for i in range(10)]
        assert j.stats().quarantined == 1


def test_damage_in_the_last_segment_never_reuses_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with open_journal(path) as j:
        fill(j, [f"e{i}" for i in range(10)])
    (seg,) = path.glob("*.seg")
    data = seg.read_bytes()
    cut = 16 + FRAME.size + 3  # from inside the first record's payload on, nothing is left to find again
    seg.write_bytes(data[:cut] + b"\xff" * (len(data) - cut))
    with open_journal(path) as j:
        assert payloads(j) == []
        assert j.stats().quarantined == 1
        fill(j, ["new"])
        ((offset, _),) = j.read_from(1, 10)
        assert offset > 10  # a consumer may have processed 1..10 already


def test_checkpoint_is_atomic_and_survives_restarts(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with open_journal(path) as j:
        assert j.checkpoint() == (0, b"")
        fill(j, ["a", "b", "c"])
        j.commit(2, b"windows-v1")
    # A crash while the next checkpoint was being written leaves only its tmp file.
    (path / "checkpoint.tmp").write_bytes(b"RMPJCKP1\0\0\0")
    with open_journal(path) as j:
        assert j.checkpoint() == (2, b"windows-v1")
        assert not (path / "checkpoint.tmp").exists()
        assert [b for _, b in j.read_from(j.checkpoint()[0] + 1)] == [record("c").encode()]
        with pytest.raises(ValueError):
            j.commit(1)
        with pytest.raises(ValueError):
            j.commit(4)
        j.commit(3, b"")
    with open_journal(path) as j:
        assert j.checkpoint() == (3, b"")
    raw = bytearray((path / "checkpoint").read_bytes())
    raw[9] ^= 0x10
    (path / "checkpoint").write_bytes(bytes(raw))
    with pytest.raises(JournalError, match="checkpoint is damaged"):
        open_journal(path)


def test_retention_deletes_only_processed_segments(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j", segment_bytes=200) as j:
        for i in range(40):
            fill(j, [f"x{i}"])
        before = j.stats().segments
        j.commit(25)
        st = j.stats()
        assert st.segments < before
        left = j.read_from(1, 100)
        assert left[0][0] <= 26 and [o for o, _ in left if o > 25] == list(range(26, 41))
        j.commit(40)
        assert j.stats().segments == 1  # the active segment always stays
        fill(j, ["y"])
        assert j.read_from(41)[0][0] == 41


def test_a_second_process_cannot_open_the_journal(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j"), pytest.raises(JournalError, match="already open"):
        open_journal(tmp_path / "j")


def test_concurrent_accepts_share_one_fsync_and_wake_the_reader(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j") as j:
        async def go() -> tuple[float, int]:
            sink = JournalSink(j)
            woke: list[float] = []

            async def reader() -> None:
                await j.wait(0, timeout=5)
                woke.append(time.perf_counter())

            task = asyncio.create_task(reader())
            await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            await asyncio.gather(*(sink.accept([record(f"c{i}")]) for i in range(100)))
            await task
            return woke[0] - t0, sink.fsyncs
        delay, fsyncs = asyncio.run(go())
        assert fsyncs <= 2
        assert delay < 0.5
        assert sorted(payloads(j)) == sorted(f"c{i}" for i in range(100))


def test_lag_over_the_limit_refuses_the_whole_batch_until_the_consumer_catches_up(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j", max_lag=5) as j:
        fill(j, ["1", "2", "3", "4"])
        with pytest.raises(Backpressure, match="detection is behind") as info:
            fill(j, ["5", "6"])
        assert info.value.retry_after > 0
        assert j.end_offset == 4
        j.commit(3)
        fill(j, ["5", "6"])
        assert payloads(j) == ["1", "2", "3", "4", "5", "6"]


def test_free_space_under_the_threshold_refuses_intake(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j") as j:
        fill(j, ["kept"])
        j.min_free_bytes = shutil.disk_usage(tmp_path).free * 4
        with pytest.raises(Backpressure, match="almost full"):
            fill(j, ["refused"])
        j.min_free_bytes = 0
        fill(j, ["later"])
        assert payloads(j) == ["kept", "later"]


CHILD = """
import asyncio, sys
from rempart.serve.contracts import IntakeRecord, Sender
from rempart.serve.journal import JournalSink, SegmentJournal

async def main() -> None:
    sink = JournalSink(SegmentJournal(sys.argv[1], segment_bytes=16384, min_free_bytes=0))
    sender = Sender("t", None, "127.0.0.1:1")
    async def worker(w: int) -> None:
        i = 0
        while True:
            batch = [IntakeRecord("t", "json", sender, 0.0, f"{sys.argv[2]}:{w}:{i + k}".encode())
                     for k in range(1 + i % 3)]
            offsets = await sink.append([r.encode() for r in batch])
            for offset, r in zip(offsets, batch):
                sys.stdout.write(f"{offset} {r.payload.decode()}\\n")
            sys.stdout.flush()
            i += len(batch)
    print("ready", flush=True)
    await asyncio.gather(*(worker(w) for w in range(20)))

asyncio.run(main())
"""


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_record_and_repeats_none(tmp_path: Path) -> None:
    path = tmp_path / "j"
    rng = random.Random(15)
    acked: list[tuple[int, str]] = []
    env = {**os.environ, "PYTHONPATH": SRC}
    for run in range(12):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(run)], env=env,
                                 stdout=subprocess.PIPE)
        assert child.stdout is not None
        if run % 4 != 3:  # every fourth kill lands during start-up and recovery
            assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.02, 0.15))
        child.send_signal(signal.SIGKILL)
        out = child.stdout.read()
        child.wait()
        lines = out.split(b"\n")[:-1]  # the last piece may be a half-written line
        acked += [(int(o), p) for o, p in (x.decode().split() for x in lines if x != b"ready")]
        with open_journal(path) as j:
            at = {o: IntakeRecord.decode(b).payload.decode() for o, b in j.read_from(1, 10**9)}
        journaled = list(at.values())
        assert len(journaled) == len(set(journaled)), f"run {run}: a record journaled twice"
        wrong = [(o, p) for o, p in acked if at.get(o) != p]
        assert not wrong, f"run {run}: {len(wrong)} acknowledged records lost or moved, e.g. {wrong[:3]}"
        per_sender: dict[str, list[int]] = {}
        for p in journaled:
            r, w, i = p.split(":")
            per_sender.setdefault(f"{r}:{w}", []).append(int(i))
        assert all(v == sorted(v) for v in per_sender.values()), f"run {run}: out of order"
    assert len(acked) > 1000  # the kills hit a journal under load


@pytest.mark.root
@pytest.mark.parametrize(("segment_bytes", "reason"), [
    (64 << 20, "disk full"),  # one segment bigger than the disk: the write itself fails (short, then ENOSPC)
    (256 << 10, "new segment"),  # small segments: starting the next one fails
])
def test_a_full_disk_refuses_intake_loses_nothing_and_recovers(tmp_path: Path, segment_bytes: int,
                                                               reason: str) -> None:
    need(os.geteuid() == 0 and shutil.which("mount") is not None,
         "mounting a 4 MiB tmpfs needs root (and mount)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (1 << 20))
        acked: list[str] = []
        with SegmentJournal(disk / "j", segment_bytes=segment_bytes, min_free_bytes=0) as j:
            async def until_full() -> Backpressure:
                sink = JournalSink(j)
                for n in range(10_000):
                    batch = [f"{n}-{k}-" + "x" * 3000 for k in range(4)]
                    try:
                        await sink.accept([record(t) for t in batch])
                    except Backpressure as e:
                        return e
                    acked.extend(batch)
                raise AssertionError("4 MiB never filled up")
            refused = asyncio.run(until_full())
            assert reason in refused.reason
            on_disk = sum(p.stat().st_size for p in (disk / "j").glob("*.seg"))
            assert on_disk == j.stats().bytes  # the partial write was rolled back
            assert payloads(j) == acked
            j.min_free_bytes = 512 * 1024
            with pytest.raises(Backpressure, match="almost full"):
                fill(j, ["under the threshold"])
            filler.unlink()
            fill(j, ["after", "space", "returned"])
        with SegmentJournal(disk / "j", min_free_bytes=0) as j:
            assert payloads(j) == [*acked, "after", "space", "returned"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
