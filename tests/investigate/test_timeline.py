"""The incident timeline: events of the alerts and of the incident's hosts, alerts, log entries, findings."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import orjson

from rempart.detect.incidents import get_incident
from rempart.domain.inventory import Group
from rempart.investigate import eventdb, findings, timeline
from rempart.store import incident_log
from rempart.store.db import Store
from tests.investigate.conftest import make_incident
from tests.investigate.fleet import Plant, generate, load, utc

START = utc(2026, 6, 1, 6, 0)
AT = START + timedelta(hours=4)


def test_timeline_lanes_order_and_exports(store: Store, group: Group, tmp_path: Path) -> None:
    logs = generate(
        group,
        tmp_path / "logs",
        START,
        8,
        [Plant("capitouls", "tool", "rclone.exe", AT)],
        [],
        establishments=["capitouls", "hers"],
    )
    load(logs, group, tmp_path / "ev.duckdb")
    refs = logs.ref(lambda r: "rclone.exe" in r.raw)
    host = next(r.host for r in logs.records if "rclone.exe" in r.raw)
    make_incident(store, "capitouls", AT, refs, hosts=[host])
    con = eventdb.connect(tmp_path / "ev.duckdb")
    with store.session() as s:
        inc = get_incident(s, "INC-0001")
        incident_log.record(s, inc.id, "respond", "action", "Accès VPN fermé", at=AT + timedelta(minutes=5))
        incident_log.record(
            s, inc.id, "people", "note", "Appel de l'ARS", author="c.martin", at=AT + timedelta(minutes=9)
        )
        findings.record_finding(
            s,
            inc,
            findings.FindingKind.PROPAGATION,
            False,
            "Pas de propagation.",
            {},
            "analyste",
            at=AT + timedelta(hours=1),
        )
        entries = timeline.build_timeline(s, con, inc)
        html_out = tmp_path / "t.html"
        timeline.write_html(entries, inc, html_out)
        timeline.write_pdf(entries, inc, tmp_path / "t.pdf")
    con.close()
    lanes = {e.lane for e in entries}
    assert lanes == {"event", "alert", "action", "note", "finding"}
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert any(e.ref == refs[0] and "rclone.exe" in e.summary for e in entries)
    seen = {(e.host or "").split(".")[0] for e in entries if e.lane == "event"}
    assert seen == {host}  # only the incident's hosts, nothing from the other clinic
    window = (AT - timedelta(minutes=30) - timedelta(hours=2), AT + timedelta(hours=2))
    assert all(window[0] <= e.at <= window[1] for e in entries if e.lane == "event")
    timeline.write_csv(entries, tmp_path / "t.csv")
    timeline.write_json(entries, tmp_path / "t.json")
    with (tmp_path / "t.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(entries) and rows[0].keys() == set(timeline.FIELDS)
    assert orjson.loads((tmp_path / "t.json").read_bytes()) == rows
    text = html_out.read_text(encoding="utf-8")
    assert "<svg" in text and "Chronologie de l'incident INC-0001" in text and "Appel de l&#x27;ARS" in text
    assert (tmp_path / "t.pdf").read_bytes().startswith(b"%PDF")
    picture = timeline.drawing(entries)
    dots = [shape for shape in picture.contents if type(shape).__name__ == "Circle"]
    assert len(dots) == len(entries)
