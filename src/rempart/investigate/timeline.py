"""The incident's timeline: its events, alerts, plan actions, notes and findings, in time order.

Events come from the event store: the ones the alerts reference, and those of the incident's hosts in
its window (bounded, so that a noisy host cannot drown the rest). Alerts, findings and everything the
stages and people wrote in the incident log come from the case store. Exported as CSV and JSON, and
drawn as a self-contained HTML page (an SVG strip per lane, then the table).
"""

from __future__ import annotations

import csv
import html
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
from reportlab.graphics.shapes import Circle, Drawing, Line, String
from reportlab.lib import colors
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.events.store import quote_ident
from rempart.investigate import eventdb
from rempart.store import incident_log
from rempart.store.models.core import FindingRow, IncidentRow

# fields worth showing in one line, in this order, when an event has them
SUMMARY_FIELDS = (
    "EventID",
    "logdesc",
    "action",
    "user",
    "TargetUserName",
    "remip",
    "IpAddress",
    "srcip",
    "dstip",
    "dstport",
    "sentbyte",
    "Image",
    "CommandLine",
    "id.orig_h",
    "id.resp_h",
    "id.resp_p",
    "orig_bytes",
    "query",
    "program",
    "message",
    "Message",
)
MAX_EVENTS = 2000
FIELDS = ("at", "lane", "kind", "source", "host", "establishment", "summary", "ref")


@dataclass(frozen=True)
class Entry:
    at: datetime
    lane: str  # event, alert, action, note, finding — one strip each in the picture
    kind: str
    source: str
    host: str | None
    establishment: str | None
    summary: str
    ref: str  # where it comes from: "file#record", "alert:12", "log:7", "finding:3"

    def row(self) -> dict[str, str]:
        d = asdict(self)
        d["at"] = self.at.astimezone(UTC).isoformat()
        return {k: "" if v is None else str(v) for k, v in d.items()}


def _events(con: duckdb.DuckDBPyConnection, incident: IncidentRow, margin: timedelta) -> list[Entry]:
    if not eventdb.has_events(con):
        return []
    cols = set(eventdb.columns(con))
    shown = [c for c in SUMMARY_FIELDS if c in cols]
    refs = [r for a in incident.alerts for r in a.events]
    pairs = [(s, int(n)) for s, _, n in (r.rpartition("#") for r in refs) if s and n.isdigit()]
    con.execute("CREATE OR REPLACE TEMP TABLE _trefs(src VARCHAR, rec BIGINT)")
    if pairs:
        con.executemany("INSERT INTO _trefs VALUES (?, ?)", pairs)
    hosts = sorted({h.lower().split(".")[0] for h in incident.hosts or [] if h})
    lo, hi = eventdb.to_us(incident.first_seen - margin), eventdb.to_us(incident.last_seen + margin)
    select_cols = ", ".join(
        [
            "epoch_us(_ts)",
            "_host",
            "_product",
            "_service",
            "_establishment",
            "_source",
            "_record",
            *(quote_ident(c) for c in shown),
        ]
    )
    host_list = ", ".join("?" for _ in hosts) or "NULL"
    rows = con.execute(
        f"SELECT {select_cols} FROM {eventdb.EVENTS} e"
        " WHERE (_source, _record) IN (SELECT src, rec FROM _trefs)"
        " OR (_host, _record) IN (SELECT src, rec FROM _trefs)"
        f" OR (lower(split_part(_host, '.', 1)) IN ({host_list}) AND epoch_us(_ts) BETWEEN ? AND ?)"
        f" ORDER BY _ts LIMIT {MAX_EVENTS}",
        [*hosts, lo, hi],
    ).fetchall()
    out = []
    for us, host, product, service, est, source, record, *values in rows:
        parts = [f"{k}={v}" for k, v in zip(shown, values, strict=True) if v not in (None, "")]
        summary = " ".join(parts)[:240]
        out.append(
            Entry(
                eventdb.from_us(us) or incident.first_seen,
                "event",
                f"{product}/{service}",
                "events",
                host,
                est,
                summary,
                f"{source}#{record}",
            )
        )
    return out


def build_timeline(
    session: Session,
    con: duckdb.DuckDBPyConnection | None,
    incident: IncidentRow,
    margin: timedelta = timedelta(hours=2),
) -> list[Entry]:
    """Every entry of the incident, oldest first; without an event store, the case store's part only."""
    entries = _events(con, incident, margin) if con is not None else []
    for a in incident.alerts:
        entries.append(
            Entry(
                a.time,
                "alert",
                a.level,
                "detect",
                a.host,
                a.establishment,
                f"[{a.rule_id}] {a.title}",
                f"alert:{a.id}",
            )
        )
    for e in incident_log.entries(session, incident.id):
        if e.kind == "finding":
            continue  # shown from the findings table, which holds the numbers
        lane = "action" if e.kind in {"action", "decision", "notification", "evidence"} else "note"
        entries.append(
            Entry(e.at, lane, e.kind, e.source, None, incident.establishment, e.text, f"log:{e.id}")
        )
    for f in session.execute(select(FindingRow).where(FindingRow.incident_id == incident.id)).scalars():
        entries.append(
            Entry(
                f.created_at,
                "finding",
                f"{f.kind} v{f.version}",
                "investigate",
                None,
                incident.establishment,
                ("POSITIF — " if f.positive else "négatif — ") + f.summary,
                f"finding:{f.id}",
            )
        )
    return sorted(entries, key=lambda e: (e.at, e.lane, e.ref))


def write_csv(entries: list[Entry], out: Path) -> None:
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for e in entries:
            writer.writerow(e.row())


def write_json(entries: list[Entry], out: Path) -> None:
    out.write_bytes(orjson.dumps([e.row() for e in entries], option=orjson.OPT_INDENT_2))


LANES = {
    "event": "Événements",
    "alert": "Alertes",
    "action": "Actions",
    "note": "Notes",
    "finding": "Constats",
}
COLOURS = {
    "event": "#7a869a",
    "alert": "#d1242f",
    "action": "#0969da",
    "note": "#8250df",
    "finding": "#1a7f37",
}


def write_html(entries: list[Entry], incident: IncidentRow, out: Path) -> None:
    """A one-file page: one strip per lane over the incident's time span, then the full table."""
    width, lane_h, left = 1100, 34, 110
    t0 = min((e.at for e in entries), default=incident.first_seen)
    t1 = max((e.at for e in entries), default=incident.last_seen)
    span = max((t1 - t0).total_seconds(), 1.0)
    svg = [f'<svg width="{width}" height="{lane_h * len(LANES) + 30}" xmlns="http://www.w3.org/2000/svg">']
    for i, (lane, label) in enumerate(LANES.items()):
        y = i * lane_h + 20
        svg.append(f'<text x="4" y="{y + 4}" font-size="12">{label}</text>')
        svg.append(f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ddd"/>')
        for e in (e for e in entries if e.lane == lane):
            x = left + (e.at - t0).total_seconds() / span * (width - left - 20)
            tip = html.escape(f"{e.at:%d/%m %H:%M:%S} {e.summary}")
            svg.append(
                f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="{COLOURS[lane]}"><title>{tip}</title></circle>'
            )
    y = lane_h * len(LANES) + 20
    svg.append(f'<text x="{left}" y="{y}" font-size="11">{t0:%d/%m/%Y %H:%M} UTC</text>')
    svg.append(
        f'<text x="{width - 10}" y="{y}" font-size="11" text-anchor="end">{t1:%d/%m/%Y %H:%M} UTC</text>'
    )
    svg.append("</svg>")
    rows = "\n".join(
        f"<tr><td>{e.at:%d/%m/%Y %H:%M:%S}</td><td style='color:{COLOURS[e.lane]}'>{LANES[e.lane]}</td>"
        f"<td>{html.escape(e.host or '')}</td><td>{html.escape(e.summary)}</td></tr>"
        for e in entries
    )
    out.write_text(
        "<!doctype html><html lang='fr'><meta charset='utf-8'>"
        f"<title>Chronologie {html.escape(incident.ref)}</title>"
        "<style>body{font-family:sans-serif;margin:16px}td{padding:2px 8px;border-bottom:1px solid #eee;"
        "font-size:12px;vertical-align:top}</style>"
        f"<h1>Chronologie de l'incident {html.escape(incident.ref)}</h1>{''.join(svg)}"
        "<table><tr><th>Date (UTC)</th><th>Type</th><th>Hôte</th><th>Description</th></tr>"
        f"{rows}</table></html>",
        encoding="utf-8",
    )


def drawing(entries: list[Entry], width: float = 510, lane_h: float = 22) -> Drawing:
    """The timeline as a ReportLab drawing: one strip per lane, a dot per entry, time left to right."""
    left, lanes = 70.0, list(LANES)
    d = Drawing(width, lane_h * len(lanes) + 24)
    if not entries:
        return d
    t0, t1 = min(e.at for e in entries), max(e.at for e in entries)
    span = max((t1 - t0).total_seconds(), 1.0)
    for i, lane in enumerate(lanes):
        y = d.height - 10 - (i + 0.5) * lane_h
        d.add(String(2, y - 3, LANES[lane], fontSize=7))
        d.add(Line(left, y, width - 4, y, strokeColor=colors.HexColor("#dddddd"), strokeWidth=0.5))
        for e in (e for e in entries if e.lane == lane):
            x = left + (e.at - t0).total_seconds() / span * (width - left - 8)
            d.add(Circle(x, y, 2.2, fillColor=colors.HexColor(COLOURS[lane]), strokeColor=None))
    d.add(String(left, 2, f"{t0:%d/%m %H:%M}", fontSize=6.5))
    d.add(String(width - 4, 2, f"{t1:%d/%m %H:%M} UTC", fontSize=6.5, textAnchor="end"))
    return d


def write_pdf(entries: list[Entry], incident: IncidentRow, out: Path) -> None:
    """One A4 landscape page: the picture, then the entries that are not raw events."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(str(out), pagesize=landscape(A4), title=f"Chronologie {incident.ref}")
    story = [
        Paragraph(html.escape(f"Chronologie de l'incident {incident.ref}"), styles["Title"]),
        drawing(entries, width=doc.width),
        Spacer(1, 10),
    ]
    story += [
        Paragraph(html.escape(f"{e.at:%d/%m %H:%M:%S} — {LANES[e.lane]} — {e.summary}"), styles["Normal"])
        for e in entries
        if e.lane != "event"
    ]
    doc.build(story)
