"""File tailing on real files: rotation by rename, copytruncate, deletion, restart, split lines."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from rempart.errors import StateError
from rempart.serve.contracts import Backpressure, IntakeRecord
from rempart.serve.tail import FileTail, TailInput


class Collect:
    """A sink that keeps what it accepts (the journal is tested on its own); it can refuse for a while."""

    def __init__(self, refuse: int = 0) -> None:
        self.records: list[IntakeRecord] = []
        self.refuse = refuse
        self.refused = 0

    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        if self.refused < self.refuse:
            self.refused += 1
            raise Backpressure("journal full", retry_after=0.01)
        self.records.extend(records)

    @property
    def lines(self) -> list[str]:
        return [r.payload.decode() for r in self.records]


def tail(tmp_path: Path, sink: Collect, pattern: str = "app.log", kind: str = "syslog") -> FileTail:
    config = TailInput.model_validate(
        {"name": "app", "paths": [str(tmp_path / "logs" / pattern)], "kind": kind,
         "establishment": "capitouls"}
    )
    return FileTail(config, sink, tmp_path / "state" / "tail-app.json")


def write(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def poll(t: FileTail) -> int:
    return asyncio.run(t.poll())


@pytest.fixture
def log(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs" / "app.log"


def test_lines_arrive_as_records_of_the_configured_kind(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink, kind="json")
    write(log, '{"a": 1}\n\n{"a": 2}\r\n')
    assert poll(t) == 2
    assert sink.lines == ['{"a": 1}', '{"a": 2}']
    r = sink.records[0]
    assert (r.input, r.kind, r.sender.establishment) == ("app", "json", "capitouls")
    assert r.sender.address == f"file:{log}"
    t.close()


def test_a_line_written_in_two_pieces_arrives_once(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink)
    write(log, "first\nsec")
    assert poll(t) == 1 and sink.lines == ["first"]
    assert poll(t) == 0
    write(log, "ond\n")
    poll(t)
    assert sink.lines == ["first", "second"]
    t.close()


def test_rotation_by_rename_loses_and_repeats_nothing(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink)
    write(log, "a1\na2\n")
    poll(t)
    with log.open("a", encoding="utf-8") as old:  # the writer keeps its descriptor across the rename
        old.write("a3\n")
        old.flush()
        log.rename(log.with_name("app.log.1"))
        write(log, "b1\n")
        old.write("a4\n")  # written to the renamed file before the writer reopens
        old.flush()
        poll(t)
    write(log, "b2\n")
    poll(t)
    poll(t)
    assert sorted(sink.lines) == ["a1", "a2", "a3", "a4", "b1", "b2"]
    assert [x for x in sink.lines if x.startswith("a")] == ["a1", "a2", "a3", "a4"]
    t.close()


def test_copytruncate_reads_the_file_again_from_its_start(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink)
    write(log, "".join(f"old {i}\n" for i in range(5)))
    poll(t)
    shutil.copy(log, log.with_name("app.log.1"))
    os.truncate(log, 0)
    # the writer is quick: the file is already longer than the old position when we look again
    write(log, "".join(f"new {i}\n" for i in range(20)))
    poll(t)
    assert sink.lines == [f"old {i}" for i in range(5)] + [f"new {i}" for i in range(20)]
    t.close()


def test_a_deleted_file_is_read_to_its_end_then_dropped(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink)
    write(log, "x1\n")
    poll(t)
    write(log, "x2\nx3 no newline")
    log.unlink()
    poll(t)
    poll(t)
    assert sink.lines == ["x1", "x2", "x3 no newline"]
    write(log, "y1\n")  # a new file by the same name
    poll(t)
    assert sink.lines[-1] == "y1" and len(sink.lines) == 4
    t.close()


def test_a_restart_resumes_exactly_where_the_sink_took_the_lines(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink)
    write(log, "1\n2\n")
    poll(t)
    t.close()
    write(log, "3\n4\n")
    again = Collect()
    t2 = tail(tmp_path, again)
    poll(t2)
    t2.close()
    assert sink.lines == ["1", "2"] and again.lines == ["3", "4"]
    # a file replaced while rempart was down (same name, new content) is read from its start
    log.unlink()
    write(log, "fresh\n")
    third = Collect()
    t3 = tail(tmp_path, third)
    poll(t3)
    t3.close()
    assert third.lines == ["fresh"]


def test_backpressure_waits_and_offers_the_same_lines_again(tmp_path: Path, log: Path) -> None:
    sink = Collect(refuse=3)
    t = tail(tmp_path, sink)
    write(log, "p1\np2\n")
    assert poll(t) == 2
    assert sink.refused == 3 and sink.lines == ["p1", "p2"]
    t.close()


def test_run_follows_until_stopped(tmp_path: Path, log: Path) -> None:
    sink = Collect()
    t = tail(tmp_path, sink, pattern="*.log")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(t.run(stop))
        write(log, "live 1\n")
        for _ in range(200):
            await asyncio.sleep(0.01)
            if sink.lines:
                break
        stop.set()
        await task

    asyncio.run(scenario())
    assert sink.lines == ["live 1"]


def test_the_input_model_refuses_a_wrong_field() -> None:
    with pytest.raises(ValidationError, match="kind"):
        TailInput.model_validate({"name": "app", "paths": ["/var/log/*.log"], "kind": "csv"})
    with pytest.raises(ValidationError, match="paths"):
        TailInput.model_validate({"name": "app", "paths": []})


class Crash(Collect):
    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        raise RuntimeError("killed before the records were durable")


def test_lines_the_sink_did_not_take_are_offered_again_after_a_restart(tmp_path: Path, log: Path) -> None:
    write(log, "k1\nk2\n")
    t = tail(tmp_path, Crash())
    with pytest.raises(RuntimeError):
        poll(t)
    t.close()
    sink = Collect()
    t2 = tail(tmp_path, sink)
    poll(t2)
    t2.close()
    assert sink.lines == ["k1", "k2"]


def test_an_unreadable_positions_file_is_named_not_a_traceback(tmp_path: Path, log: Path) -> None:
    state = tmp_path / "state" / "tail-app.json"
    state.parent.mkdir()
    state.write_text('{"files": {', encoding="utf-8")
    with pytest.raises(StateError, match=r"positions file .*tail-app\.json cannot be read") as caught:
        tail(tmp_path, Collect())
    assert "delete it" in (caught.value.hint or "")
