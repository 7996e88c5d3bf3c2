"""The final report of an incident, as a PDF in French (ReportLab).

Built only from what the stores hold: the incident and its alerts, the plan run (containment actions),
the findings with their numbers and versions, the notifications sent, the evidence locker, the
continuity reconciliation, the re-opening decisions and the closing tasks — and the journal's integrity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import duckdb
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle
from sqlalchemy import select

from rempart.continuity.reconcile import build_report as reconcile_report
from rempart.detect.incidents import get_incident
from rempart.domain.inventory import Group
from rempart.investigate import evidence, timeline
from rempart.investigate.findings import LABELS_FR, FindingKind
from rempart.notify import service as notify
from rempart.pdffonts import a4_document, fonts
from rempart.recover import closing, gates
from rempart.recover.policy import RecoveryPolicy
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.models.core import FindingRow
from rempart.store.models.recover import ReopenApprovalRow, ReopeningRow

FONT, BOLD = fonts()
NAVY = colors.HexColor("#1f3a5f")
S_TITLE = ParagraphStyle("t", fontName=BOLD, fontSize=16, leading=20, spaceAfter=3 * mm, textColor=NAVY)
S_H1 = ParagraphStyle(
    "h1", fontName=BOLD, fontSize=12, leading=15, spaceBefore=5 * mm, spaceAfter=2 * mm, textColor=NAVY
)
S_BODY = ParagraphStyle("b", fontName=FONT, fontSize=9, leading=12, spaceAfter=1.5 * mm)
S_CELL = ParagraphStyle("c", fontName=FONT, fontSize=7.5, leading=9.5)
S_HEAD = ParagraphStyle("h", fontName=BOLD, fontSize=7.5, leading=9.5, textColor=colors.white)
PAGE_W = A4[0] - 30 * mm
MAX_TIMELINE = 120  # rows of the timeline printed; the CSV / JSON export holds every entry


def _d(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} Mo".replace(",", " ").replace(".", ",")


SENSORS = {"fortigate": "pare-feu FortiGate", "zeek": "Zeek"}


def _num(x: object) -> str:
    return f"{x:g}".replace(".", ",") if isinstance(x, int | float) else str(x)


def _reopen_detail(detail: str, gate: dict[str, Any]) -> str:
    text = detail[:220]
    for h in gate.get("held_by") or []:
        # the access is open again but another containment step still holds its gateway host
        text += (
            f" — reste injoignable : {h['gateway']} toujours visé par l'étape {h['step']} « {h['title']} »"
        )
    return text


def _table(head: list[str], rows: list[list[str]], widths: list[float]) -> Table:
    data = [[Paragraph(escape(h), S_HEAD) for h in head]]
    data += [[Paragraph(escape(str(c)), S_CELL) for c in row] for row in rows] or [
        [Paragraph("(aucun)", S_CELL)] + [Paragraph("", S_CELL) for _ in head[1:]]
    ]
    t = Table(data, colWidths=[w * PAGE_W for w in widths], repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), NAVY),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b0b8c4")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f4f7")]),
            ]
        )
    )
    return t


def _p(text: str) -> Paragraph:
    return Paragraph(escape(text), S_BODY)


@dataclass
class ReportFacts:
    """What the report says, gathered first so the PDF layout holds no queries (and tests can read it)."""

    ref: str
    establishment: str
    summary: list[tuple[str, str]]
    timeline: list[list[str]]
    picture: Flowable | None
    events_in_timeline: int
    containment: list[list[str]]
    findings: list[tuple[FindingRow, list[FindingRow]]]  # current, and every version
    notifications: list[list[str]]
    evidence: list[list[str]]
    continuity: list[str]
    reopenings: list[list[str]]
    closing: list[closing.ClosingTask]
    journal_ok: bool
    journal_entries: int
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, Any] = field(default_factory=dict)


def gather(
    store: Store,
    group: Group,
    policy: RecoveryPolicy,
    incident_ref: str,
    con: duckdb.DuckDBPyConnection | None = None,
    now: datetime | None = None,
) -> ReportFacts:
    with store.session() as s:
        inc = get_incident(s, incident_ref)
        est = group.establishment(inc.establishment) if inc.establishment else None
        entries = timeline.build_timeline(s, con, inc)
        summary = [
            ("Incident", inc.ref + (" (exercice)" if inc.exercise else "")),
            ("Établissement", f"{est.name} — FINESS {est.finess}, {est.city}" if est else "non attribué"),
            ("Gravité", inc.severity),
            ("Statut", inc.status),
            ("Premier / dernier signal", f"{_d(inc.first_seen)} / {_d(inc.last_seen)}"),
            ("Ouvert le", _d(inc.opened_at)),
            ("Alertes", str(len(inc.alerts))),
            ("Tactiques ATT&CK", ", ".join(inc.tactics) or "—"),
            ("Techniques ATT&CK", ", ".join(inc.techniques) or "—"),
            ("Hôtes concernés", ", ".join(inc.hosts) or "—"),
        ]
        rows = [
            [f"{e.at:%d/%m %H:%M:%S}", timeline.LANES[e.lane], e.summary[:220]]
            for e in entries
            if e.lane != "event"
        ]
        run = gates.latest_run(s, inc.id)
        containment = [
            [
                str(st.seq),
                st.title,
                st.status,
                ", ".join(a["target"] for a in st.actions)[:160],
                ", ".join(st.rolled_back_targets)[:120],
            ]
            for st in (run.steps if run else [])
        ]
        found = []
        for kind in FindingKind:
            versions = list(
                s.execute(
                    select(FindingRow)
                    .where(FindingRow.incident_id == inc.id, FindingRow.kind == str(kind))
                    .order_by(FindingRow.version)
                ).scalars()
            )
            if versions:
                found.append((versions[-1], versions))
        ev_rows = [
            [e.ref, e.name, e.sha256, e.registered_by, _d(e.registered_at), e.custodian, str(len(e.custody))]
            for e in evidence.listing(s, inc.id)
        ]
        cont: list[str] = []
        if est is not None:
            rec = reconcile_report(s, est.id)
            cont = [
                f"Formulaires papier : {', '.join(f'{k} {v}' for k, v in rec.counts.items())}.",
                f"Rapprochement {'complet' if rec.complete else 'INCOMPLET'} ; "
                f"doublons : {len(rec.duplicates)}, "
                f"omissions : {len(rec.omissions)}, identités provisoires non rattachées : "
                f"{len(rec.provisional_unlinked)}.",
            ]
        approvers: dict[str, list[str]] = {}
        for a in s.execute(
            select(ReopenApprovalRow).where(ReopenApprovalRow.incident_id == inc.id)
        ).scalars():
            approvers.setdefault(a.access_id, []).append(f"{a.approver} ({', '.join(a.roles)})")
        reopen_rows = [
            [
                r.access_id,
                _d(r.decided_at),
                r.actor,
                "; ".join(approvers.get(r.access_id, [])),
                r.status,
                _reopen_detail(r.detail, r.gate),
            ]
            for r in s.execute(
                select(ReopeningRow).where(ReopeningRow.incident_id == inc.id).order_by(ReopeningRow.id)
            ).scalars()
        ]
        problems = journal.verify(s)
        n_journal = len(journal.entries(s))
        ref, est_id, n_events = inc.ref, inc.establishment or "", sum(1 for e in entries if e.lane == "event")
    notif = [
        [
            v.row.obligation,
            v.row.stage,
            v.row.channel,
            v.row.status,
            _d(v.row.done_at or v.row.attempted_at),
            v.row.message_id or v.row.reference or "—",
            str(len(v.acks)),
        ]
        for v in notify.sendings(store, ref)
    ]
    tasks = closing.closing_status(store, group, policy, ref, now)
    return ReportFacts(
        ref,
        est_id,
        summary,
        rows,
        timeline.drawing(entries, width=PAGE_W),
        n_events,
        containment,
        found,
        notif,
        ev_rows,
        cont,
        reopen_rows,
        tasks,
        not problems,
        n_journal,
        now or datetime.now(UTC),
    )


def _finding_block(current: FindingRow, versions: list[FindingRow]) -> list[Flowable]:
    label = LABELS_FR[FindingKind(current.kind)]
    out: list[Flowable] = [
        Paragraph(
            escape(
                f"Constat « {label} » — version {current.version} — "
                f"{'POSITIF' if current.positive else 'négatif'} "
                f"({current.author}, {_d(current.created_at)})"
            ),
            S_BODY,
        ),
        _p(current.summary),
    ]
    data = current.data
    if current.kind == FindingKind.PROPAGATION:
        rows = [
            [
                e["name"],
                str(e["events"]),
                {"hits": "occurrences", "clean": "sain", "no_data": "sans journaux"}[e["status"]],
                str(sum(h["count"] for h in e["hits"])),
                _d(e.get("clean_since")),
            ]
            for e in data.get("establishments", [])
        ]
        out.append(
            _table(
                ["Établissement", "Événements balayés", "Résultat", "Occurrences", "Sain depuis"],
                rows,
                [0.34, 0.16, 0.16, 0.12, 0.22],
            )
        )
    elif current.kind == FindingKind.DATA_THEFT:
        m = data.get("method", {})
        window = data.get("window") or [None, None]
        out.append(
            _p(
                f"Fenêtre : {_d(window[0])} → {_d(window[1])} ; "
                f"hôtes évalués : {data.get('hosts_assessed', 0)} ; total sortant : "
                f"{_mb(data.get('window_bytes', 0))} ; méthode : moyenne + {_num(m.get('k'))} écarts-types, "
                f"{_num(m.get('peak_factor'))} × pic, plancher {_mb(m.get('floor_bytes', 0))}/h, "
                f"référence {m.get('baseline_days')} jours ; flux lus : "
                + ", ".join(f"{SENSORS.get(k, k)} {v}" for k, v in (data.get("sensors") or {}).items())
                + "."
            )
        )
        rows = [
            [
                h.get("asset") or h["host"],
                h["host"],
                _mb(h["window_bytes"]),
                _mb(h["peak_hour_bytes"]),
                _mb(h["threshold_bytes"]),
                str(len(h["exceeded_hours"])),
            ]
            for h in data.get("hosts", [])[:12]
        ]
        out.append(
            _table(
                ["Hôte", "Adresse", "Sortant (fenêtre)", "Pic horaire", "Seuil horaire", "Dépassements"],
                rows,
                [0.24, 0.16, 0.16, 0.16, 0.16, 0.12],
            )
        )
    if len(versions) > 1:
        out.append(
            _p(
                "Versions : "
                + " ; ".join(
                    f"v{v.version} {'positif' if v.positive else 'négatif'} ({_d(v.created_at)})"
                    for v in versions
                )
            )
        )
    return out


def write_final_report(facts: ReportFacts, group: Group, out: Path) -> Path:
    """Lay the facts out as the final report PDF at ``out``."""
    est = group.establishment(facts.establishment) if facts.establishment else None
    story: list[Flowable] = [
        Paragraph(escape(f"Rapport final — incident {facts.ref}"), S_TITLE),
        _p(
            f"{group.name} — {est.name if est else 'établissement non attribué'} — rapport établi le "
            f"{_d(facts.generated_at)} par rempart, à partir de la main courante, du journal et des constats."
        ),
        Paragraph("1. Synthèse de l'incident", S_H1),
        _table(["Rubrique", "Valeur"], [[k, v] for k, v in facts.summary], [0.3, 0.7]),
        Paragraph("2. Chronologie", S_H1),
        _p(
            f"Alertes, actions, notes et constats ({len(facts.timeline)} entrées"
            + (f", les {MAX_TIMELINE} premières ci-dessous" if len(facts.timeline) > MAX_TIMELINE else "")
            + ") ; "
            f"{facts.events_in_timeline} événements bruts des hôtes concernés sont dans l'export CSV/JSON."
        ),
        *([facts.picture, Spacer(1, 3 * mm)] if facts.picture is not None else []),
        _table(["Date", "Type", "Description"], facts.timeline[:MAX_TIMELINE], [0.14, 0.12, 0.74]),
        Paragraph("3. Actions de confinement", S_H1),
        _table(
            ["#", "Étape", "Statut", "Cibles", "Annulé pour"],
            facts.containment,
            [0.05, 0.35, 0.12, 0.28, 0.2],
        ),
        Paragraph("4. Constats de l'investigation", S_H1),
    ]
    for current, versions in facts.findings:
        story += _finding_block(current, versions)
    if not facts.findings:
        story.append(_p("Aucun constat enregistré."))
    story += [
        Paragraph("5. Notifications", S_H1),
        _table(
            ["Obligation", "Étape", "Canal", "Statut", "Date", "Référence", "Accusés"],
            facts.notifications,
            [0.2, 0.14, 0.09, 0.09, 0.16, 0.24, 0.08],
        ),
        Paragraph("6. Pièces à conviction", S_H1),
        _table(
            ["Réf.", "Fichier", "SHA-256", "Par", "Le", "Détenteur", "Garde"],
            facts.evidence,
            [0.07, 0.15, 0.36, 0.1, 0.14, 0.1, 0.08],
        ),
        Paragraph("7. Continuité des soins et rapprochement", S_H1),
        *[_p(t) for t in facts.continuity or ["Aucun établissement attribué."]],
        Paragraph("8. Décisions de réouverture", S_H1),
        _table(
            ["Accès", "Décidée le", "Par", "Approbateurs", "Résultat", "Détail"],
            facts.reopenings,
            [0.14, 0.15, 0.1, 0.25, 0.1, 0.26],
        ),
        Paragraph("9. Tâches de clôture", S_H1),
        _table(
            ["Tâche", "Faite", "État"],
            [[t.label, "oui" if t.done else "NON", t.detail] for t in facts.closing],
            [0.5, 0.1, 0.4],
        ),
        Paragraph("10. Intégrité", S_H1),
        _p(
            f"Journal d'audit chaîné : {facts.journal_entries} entrées, "
            f"{'intègre' if facts.journal_ok else 'ALTÉRÉ — voir `rempart journal verify`'}."
        ),
        Spacer(1, 4 * mm),
    ]
    doc = a4_document(out, f"Rapport final {facts.ref}")
    doc.build(story)
    return out
