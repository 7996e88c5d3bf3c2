"""Hunting the same logs again stores nothing twice (issue 13, finding 8): by file content, across a kill,
for copies under other names and for logs that grew; the second hunt still gives the same alerts."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.detect.hunt import HuntResult, hunt
from rempart.events import EventStore

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
SAMPLES = RULES / "samples"
BRUTE = SAMPLES / "linux_sshd_brute_force" / "positive.log"


def _logs(tmp_path: Path) -> Path:
    """A folder of logs of several formats, and a file that no reader takes (ignored in a folder)."""
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES, logs)
    (logs / "notes.bin").write_bytes(bytes(range(256)) * 64)
    return logs


def _alerts(result: HuntResult) -> list[tuple[str, str, int]]:
    return sorted((a.rule_id, e.source, e.record) for a in result.alerts for e in a.events)


def _hunt(paths: list[Path], store: EventStore, tmp_path: Path, workers: int = 1) -> HuntResult:
    return hunt(paths, [RULES], store=store, cache_dir=tmp_path / "cache", workers=workers)


@pytest.mark.parametrize("workers", [1, 2])
def test_hunting_the_same_folder_twice_stores_it_once_and_alerts_the_same(tmp_path: Path, workers: int
                                                                           ) -> None:
    logs = _logs(tmp_path)
    other = logs / "fortigate_vpn_password_spraying"  # hunted on its own before: its alerts are not these
    shutil.move(other, tmp_path / other.name)
    with EventStore(tmp_path / "events.duckdb") as store:
        before = _hunt([tmp_path / other.name], store, tmp_path, workers)
        first = _hunt([logs], store, tmp_path, workers)
        once = store.count()
        second = _hunt([logs], store, tmp_path, workers)
        assert store.count() == once == before.events + first.events and first.events > 0
        files = store.query("SELECT count(*), sum(events) FROM sources")[0]
    assert second.events == 0 and second.sources.stored_events == first.events
    assert len(second.sources.known) + len(before.sources.new) == files[0] and files[1] == once
    assert _alerts(second) == _alerts(first) and len(first.alerts) >= 5 and before.alerts
    assert second.report.failed == first.report.failed == []  # notes.bin is still ignored


@pytest.mark.parametrize("workers", [1, 2])
def test_files_added_to_a_folder_hunted_before_are_read_as_in_the_first_hunt(tmp_path: Path, workers: int
                                                                              ) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(BRUTE, logs / "auth.log")
    with EventStore(tmp_path / "events.duckdb") as store:
        first = _hunt([logs], store, tmp_path, workers)
        shutil.copy(SAMPLES / "win_shadow_copy_deletion" / "positive.ndjson", logs / "security.ndjson")
        (logs / "notes.bin").write_bytes(bytes(range(256)) * 64)
        second = _hunt([logs], store, tmp_path, workers)
        assert store.count() == first.events + second.events and second.events > 0
    assert [p.name for p, _ in second.sources.known] == ["auth.log"]
    assert second.report.failed == []  # met in a folder, a file of no known format is ignored
    assert {a.rule_id for a in first.alerts} < {a.rule_id for a in second.alerts}


def test_the_same_file_under_another_name_is_stored_once(tmp_path: Path) -> None:
    a = tmp_path / "collecte-1" / "auth.log"
    b = tmp_path / "collecte-2" / "auth.log.1"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copy(BRUTE, p)
    with EventStore(tmp_path / "events.duckdb") as store:
        first = _hunt([a], store, tmp_path)
        second = _hunt([b], store, tmp_path)
        assert store.count() == first.events > 0 and second.events == 0
        assert [p for p, _ in second.sources.known] == [b]
    # the alerts point at the events where they are stored: the first copy
    assert _alerts(second) == _alerts(first) and first.alerts
    with EventStore(tmp_path / "both.duckdb") as store:  # both copies in one hunt: read once
        both = _hunt([a, b], store, tmp_path)
        assert store.count() == first.events and both.sources.copies == [(b, a)]
        again = _hunt([a, b], store, tmp_path)  # both found in the store: their events count once
        assert len(again.sources.known) == 2 and again.sources.stored_events == first.events
    with EventStore(tmp_path / "twice.duckdb") as store:  # one file named twice, and in its folder
        twice = _hunt([a, a, a.parent], store, tmp_path)
        assert store.count() == twice.events == first.events


def test_a_log_that_grew_stores_only_its_new_lines_and_alerts_as_if_read_whole(tmp_path: Path) -> None:
    lines = BRUTE.read_bytes().splitlines(keepends=True)
    assert len(lines) >= 6
    log = tmp_path / "auth.log"
    log.write_bytes(b"".join(lines[: len(lines) // 2]))
    with EventStore(tmp_path / "events.duckdb") as store:
        _hunt([log], store, tmp_path)
        log.write_bytes(b"".join(lines))  # the rest appended since
        grown = _hunt([log], store, tmp_path)
        assert [s.extends is not None for s in grown.sources.new] == [True]
        records = [r[0] for r in store.query("SELECT _record FROM events ORDER BY _record")]
    whole_log = tmp_path / "whole" / "auth.log"
    whole_log.parent.mkdir()
    shutil.copy(log, whole_log)
    with EventStore(tmp_path / "whole.duckdb") as store:
        whole = _hunt([whole_log], store, tmp_path)
        assert records == [r[0] for r in store.query("SELECT _record FROM events ORDER BY _record")]
    assert grown.alerts  # the brute force spans both halves: found over the old lines and the new
    assert [(r, rec) for r, _, rec in _alerts(grown)] == [(r, rec) for r, _, rec in _alerts(whole)]


KILLER = """
import os, signal, sys
from pathlib import Path
from rempart.events.store import EventStore
from rempart.detect.hunt import hunt

point = sys.argv[3]
if point == "before-insert":  # everything read and staged, nothing inserted
    def die(self, incoming):
        os.kill(os.getpid(), signal.SIGKILL)
    EventStore._insert = die
else:  # the events inserted, the sources rows about to be written
    def die(self, sources, incomplete):
        os.kill(os.getpid(), signal.SIGKILL)
    EventStore._record_sources = die
store = EventStore(Path(sys.argv[2]))
hunt([Path(sys.argv[1])], [Path(sys.argv[4])], store=store, cache_dir=Path(sys.argv[5]), workers=1)
"""


@pytest.mark.parametrize("point", ["before-insert", "after-insert"])
def test_a_hunt_killed_before_it_commits_then_rerun_stores_once(tmp_path: Path, point: str) -> None:
    logs = _logs(tmp_path)
    db = tmp_path / "events.duckdb"
    env = {"PYTHONPATH": str(ROOT / "src") + ":" + str(ROOT), "PATH": "/usr/bin:/bin"}
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(logs), str(db), point, str(RULES), str(tmp_path / "cache")],
        check=False, env=env, capture_output=True, text=True, timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with EventStore(db) as store:
        assert store.count() == 0  # nothing of the killed hunt was committed
        rerun = _hunt([logs], store, tmp_path)
        again = _hunt([logs], store, tmp_path)
        assert store.count() == rerun.events > 0 and again.events == 0
        assert store.query("SELECT sum(events) FROM sources")[0][0] == rerun.events
    assert not (tmp_path / "events.duckdb.staging").exists()


def test_hunt_cli_says_what_was_in_the_store_and_opens_no_second_incident(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("REMPART_HOME", str(tmp_path / "home"))
    logs = _logs(tmp_path)
    args = ["hunt", str(logs), "--rules", str(RULES), "--db", store_url, "--format", "jsonl",
            "--events-db", str(tmp_path / "events.duckdb"), "--cache-dir", str(tmp_path / "cache")]
    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, args)
    assert first.exit_code == second.exit_code == 0, second.output
    assert "already in the store" not in first.output and "incident INC-" in first.output
    files = sum(1 for p in logs.rglob("*") if p.is_file())
    assert f"events: 0 stored; {files} files already in the store" in second.output
    def alerts(out: str) -> list[object]:
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    assert alerts(first.stdout) and alerts(second.stdout) == alerts(first.stdout)
    assert "incident INC-" not in second.output  # its alerts are those of the incidents already open


def test_a_file_read_in_part_is_read_again_and_adds_only_what_it_lacked(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    shutil.copy(BRUTE, log)
    with EventStore(tmp_path / "events.duckdb") as store:
        whole = _hunt([log], store, tmp_path)
        # what a reader that stopped after line 5 leaves: those lines stored, the file marked incomplete
        store.connection.execute("DELETE FROM events WHERE _record > 5")
        store.connection.execute("UPDATE sources SET complete = false, last_record = 5, events = 5")
        again = _hunt([log], store, tmp_path)
        assert [s.extends is not None for s in again.sources.new] == [True]  # read again, not skipped
        records = [r[0] for r in store.query("SELECT _record FROM events ORDER BY _record")]
        assert again.events == whole.events - 5 and records == list(range(1, whole.events + 1))
        assert _hunt([log], store, tmp_path).events == 0  # now stored whole: skipped
        assert store.count() == whole.events
    assert _alerts(again) == _alerts(whole)
    garbage = tmp_path / "garbage.bin"  # named, of no format a reader takes: a failure, so not complete
    garbage.write_bytes(bytes(range(256)) * 64)
    with EventStore(tmp_path / "other.duckdb") as store:
        assert _hunt([garbage, log], store, tmp_path).report.failed
        assert store.query("SELECT name, complete FROM sources ORDER BY id") == [
            (str(garbage), False), (str(log), True)]
