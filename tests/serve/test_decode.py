"""Journaled records become the events a hunt over a file of the same lines gives (issue 15, item 1)."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from rempart.domain.events import ESTABLISHMENT, RECORD, SOURCE
from rempart.ingest import IngestReport, read_paths
from rempart.inventory import Resolver, load_group
from rempart.serve.contracts import IntakeRecord, Sender
from rempart.serve.decode import FOREIGN, SENDER, SENDER_ESTABLISHMENT, decode

SYSLOG = [
    b"<38>Dec  3 10:02:11 tls-cap-dpi01 sshd[4242]: Failed password for invalid user admin from 203.0.113.7 "
    b"port 51234 ssh2",
    b"<38>1 2026-12-03T10:02:13.120+01:00 tls-cap-dpi01 sudo - - - alice : TTY=pts/0 ; PWD=/home/alice ; "
    b"USER=root ; COMMAND=/usr/bin/id",
    b"this is not syslog at all",
    b"date=2026-12-03 time=10:05:00 devname=\"tls-cap-fw01\" devid=\"FG100F\" type=\"traffic\" "
    b"subtype=\"forward\" srcip=203.0.113.7 dstip=10.11.1.20 dstport=443 action=\"deny\"",
    b"<86>Dec  3 10:06:00 srv-elsewhere sshd[1]: Accepted password for bob from 10.99.0.4 port 2 ssh2",
]
WINDOWS = [
    b'{"@timestamp":"2026-12-03T10:00:00.000Z","winlog":{"channel":"Security","event_id":4625,'
    b'"computer_name":"tls-cap-dc01","event_data":{"TargetUserName":"admin","IpAddress":"203.0.113.7"}}}',
    b'{"@timestamp":"2026-12-03T10:00:01.000Z","winlog":{"channel":"Security","event_id":4624,'
    b'"computer_name":"tls-cap-dc01","event_data":{"TargetUserName":"bob","LogonType":"3"}}}',
    b'{"not": "windows"',
]


@pytest.fixture(scope="module")
def resolver(example_group_path: Path) -> Resolver:
    return Resolver(load_group(example_group_path))


def _records(lines: list[bytes], kind: str, first: int, sender: Sender) -> list[tuple[int, IntakeRecord]]:
    now = time.time()
    return [(first + i, IntakeRecord("in", kind, sender, now, line))  # type: ignore[arg-type]
            for i, line in enumerate(lines)]


def _comparable(tables: list[pa.Table]) -> list[dict[str, object]]:
    rows = pa.concat_tables(tables, promote_options="default").to_pylist() if tables else []
    drop = {SOURCE, RECORD, SENDER, SENDER_ESTABLISHMENT}
    return [{k: v for k, v in r.items() if k not in drop and v is not None} for r in rows]


@pytest.mark.parametrize(("lines", "kind", "suffix"),
                         [(SYSLOG, "syslog", ".log"), (WINDOWS, "json", ".jsonl")])
def test_records_give_the_events_of_a_file_of_the_same_lines(
    tmp_path: Path, resolver: Resolver, lines: list[bytes], kind: str, suffix: str
) -> None:
    path = tmp_path / f"same{suffix}"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = IngestReport()
    from_file = list(read_paths([path], resolver, report=report))
    sender = Sender("cap-syslog", None, "10.11.1.20:5514")
    live = decode(_records(lines, kind, 100, sender), resolver)
    assert _comparable(live.tables) == _comparable(from_file)
    assert live.rows > 0
    assert [q.reason for q in live.report.quarantined] == [q.reason for q in report.quarantined]
    # what was quarantined is named by its journal offset, not by a line of a file that does not exist
    lines_quarantined = [q.record or 0 for q in report.quarantined]
    assert [q.record for q in live.report.quarantined] == [100 + n - 1 for n in lines_quarantined]


def test_each_event_carries_its_journal_offset_and_sender(resolver: Resolver) -> None:
    sender = Sender("cap-syslog", "capitouls", "10.11.1.20:5514")
    live = decode(_records(SYSLOG, "syslog", 7, sender), resolver)
    rows = pa.concat_tables(live.tables, promote_options="default").to_pylist()
    by_offset = {r[RECORD]: r for r in rows}
    assert set(by_offset) == {7, 8, 10, 11}  # 9 is not syslog: quarantined
    assert {r[SOURCE] for r in rows} == {"live:in/cap-syslog"}
    assert {r[SENDER] for r in rows} == {"cap-syslog"}


def test_a_host_of_another_establishment_is_flagged_not_reattributed(resolver: Resolver) -> None:
    # capitouls' credential sends an event of a host the inventory places in another clinic
    group = load_group(Path(__file__).resolve().parents[2] / "examples" / "group.yaml")
    other = next(e for e in group.establishments if e.id != "capitouls")
    host = other.assets[0].hostname
    tail = " sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2"
    line = f"<38>Dec  3 10:02:11 {host}{tail}".encode()
    unknown = f"<38>Dec  3 10:02:12 not-in-inventory{tail}".encode()
    sender = Sender("cap-syslog", "capitouls", "10.11.1.20:5514")
    live = decode(_records([line, unknown], "syslog", 1, sender), resolver)
    table = pa.concat_tables(live.tables, promote_options="default")
    rows = {r[RECORD]: r for r in table.to_pylist()}
    assert rows[1][ESTABLISHMENT] == other.id and rows[1][FOREIGN] == "true"
    # a host the inventory does not know: the sender's
    assert rows[2][ESTABLISHMENT] == "capitouls" and rows[2].get(FOREIGN) is None
    assert live.foreign[("in", "capitouls")] == 1


def test_a_message_with_line_breaks_stays_one_event(resolver: Resolver) -> None:
    msg = b"<38>Dec  3 10:02:11 tls-cap-dpi01 app[1]: first line\nsecond line"
    live = decode(_records([msg], "syslog", 1, Sender("s", None, "a:1")), resolver)
    rows = pa.concat_tables(live.tables).to_pylist()
    assert len(rows) == 1 and rows[0]["_raw"].endswith("first line#012second line")


def test_a_pretty_printed_json_event_and_an_empty_one(resolver: Resolver) -> None:
    pretty = (b'{\n "@timestamp": "2026-12-03T10:00:00Z",\n "winlog": {"channel": "Security", '
              b'"event_id": 4625, "computer_name": "tls-cap-dc01"}\n}')
    live = decode(_records([pretty, b"  "], "json", 1, Sender("s", None, "a:1")), resolver)
    assert live.rows == 1
    assert [(q.record, q.reason) for q in live.report.quarantined] == [(2, "empty message")]
