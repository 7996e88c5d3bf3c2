"""The reconciliation report: every serial accounted for once, duplicates and omissions flagged.

Counts are by current status, so ``issued == returned + entered + voided + unaccounted`` always holds and
each serial is listed under exactly one status. An omission is an administration printed on a MAR that
was entered, planned before the end of downtime, with no line saying it was given or not given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.continuity import register
from rempart.continuity.backentry import entries_of, line_of
from rempart.continuity.kits import FORM_TITLES
from rempart.continuity.pdfdraw import BOLD, FONT, M, fit, local
from rempart.continuity.snapshot import SEALED_SUFFIX, SealedDoc, open_value, write_private, write_sealed
from rempart.store.db import Store
from rempart.store.models.continuity import EntryRow, FormRow, IdentityLinkRow, PlannedDoseRow

MATCH_WINDOW = timedelta(hours=1)  # a line without its MAR slot fills the nearest slot within this window


@dataclass(frozen=True)
class Duplicate:
    entry_id: int
    first_entry_id: int
    serial: str
    first_serial: str
    patient_ref: str  # a snapshot id or provisional id, never a name
    drug: str
    at: str


@dataclass(frozen=True)
class Omission:
    serial: str
    patient_ref: str
    request_id: str
    drug: str
    planned_at: str


@dataclass
class Report:
    establishment: str
    generated_at: str
    until: str
    counts: dict[str, int]
    by_type: dict[str, dict[str, int]]
    serials: dict[str, list[str]]  # status -> serials
    duplicates: list[Duplicate] = field(default_factory=list)
    omissions: list[Omission] = field(default_factory=list)
    provisional_unlinked: list[str] = field(default_factory=list)
    void_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def all_accounted(self) -> bool:
        return self.counts["unaccounted"] == 0 and self.counts["returned"] == 0

    @property
    def complete(self) -> bool:
        return self.all_accounted and not self.provisional_unlinked

    def to_json(self) -> bytes:
        data = asdict(self)
        data["all_accounted"], data["complete"] = self.all_accounted, self.complete
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _omissions(
    session: Session, forms: list[FormRow], entries: list[EntryRow], until: datetime, key: bytes | None
) -> list[Omission]:
    entered_mars = {f.serial for f in forms if f.form_type == "mar" and f.status == register.ENTERED}
    if not entered_mars:
        return []
    slots = session.execute(
        select(PlannedDoseRow)
        .where(PlannedDoseRow.serial.in_(entered_mars))
        .order_by(PlannedDoseRow.planned_at)
    ).scalars()
    lines: dict[tuple[str, str], list[EntryRow]] = {}
    for e in entries:
        if e.kind == "administration":
            lines.setdefault((e.patient_ref, str(e.data.get("request"))), []).append(e)
    used: set[int] = set()
    out = []
    for slot in slots:
        if slot.planned_at > until:
            continue
        candidates = lines.get((slot.patient_id, slot.request_id), [])
        exact = [
            e
            for e in candidates
            if e.id not in used
            and e.data.get("planned_at")
            and datetime.fromisoformat(e.data["planned_at"]) == slot.planned_at
        ]
        near = exact or sorted(
            (
                e
                for e in candidates
                if e.id not in used
                and not e.data.get("planned_at")
                and abs(e.at - slot.planned_at) <= MATCH_WINDOW
            ),
            key=lambda e: abs(e.at - slot.planned_at),
        )
        if near:
            used.add(near[0].id)
        else:
            drug = (
                open_value(key, register.planned_drug_aad(slot.serial, slot.request_id), slot.drug)
                if key
                else ""
            )
            out.append(
                Omission(slot.serial, slot.patient_id, slot.request_id, drug, slot.planned_at.isoformat())
            )
    return out


def build_report(
    session: Session,
    establishment: str,
    now: datetime | None = None,
    until: datetime | None = None,
    key: bytes | None = None,
) -> Report:
    """``until`` is the end of paper care; by default the last time a form came back (or now).

    Without the establishment's key the counts are the same and drugs are left blank (the recover gates
    and the closing report need counts only)."""
    now = now or datetime.now(UTC)
    forms = register.forms_of(session, establishment)
    returned = [f.returned_at for f in forms if f.returned_at is not None]
    until = until or (max(returned) if returned else now)
    entries = entries_of(session, establishment)
    serials: dict[str, list[str]] = {s: [] for s in ("returned", "entered", "voided", "unaccounted")}
    by_type: dict[str, dict[str, int]] = {}
    for f in forms:
        status = "unaccounted" if f.status == register.ISSUED else f.status
        serials[status].append(f.serial)
        t = by_type.setdefault(f.form_type, dict.fromkeys(("issued", *serials), 0))
        t["issued"] += 1
        t[status] += 1
    counts = {"issued": len(forms), **{k: len(v) for k, v in serials.items()}}
    by_id = {e.id: e for e in entries}
    dups = [
        Duplicate(
            e.id,
            e.duplicate_of,
            e.serial,
            by_id[e.duplicate_of].serial,
            e.patient_ref,
            str(line_of(e, key).get("drug")) if key else "",
            e.at.isoformat(),
        )
        for e in entries
        if e.duplicate_of is not None and e.duplicate_of in by_id
    ]
    linked = set(
        session.execute(
            select(IdentityLinkRow.provisional_id).where(IdentityLinkRow.establishment == establishment)
        ).scalars()
    )
    unlinked = sorted(e.patient_ref for e in entries if e.kind == "admission" and e.patient_ref not in linked)
    return Report(
        establishment=establishment,
        generated_at=now.isoformat(),
        until=until.isoformat(),
        counts=counts,
        by_type=by_type,
        serials=serials,
        duplicates=dups,
        omissions=_omissions(session, forms, entries, until, key),
        provisional_unlinked=unlinked,
        void_reasons={f.serial: f.void_reason or "" for f in forms if f.void_reason},
    )


def is_complete(store_or_session: Store | Session, establishment: str) -> bool:
    """For recover: every paper form entered or voided, every provisional identity merged."""
    if isinstance(store_or_session, Store):
        with store_or_session.session() as s:
            return build_report(s, establishment).complete
    return build_report(store_or_session, establishment).complete


STATUS_LABELS = (
    ("issued", "Émis"),
    ("returned", "Rendus, non saisis"),
    ("entered", "Saisis"),
    ("voided", "Annulés"),
    ("unaccounted", "Non rendus (manquants)"),
)


def write_pdf(report: Report, establishment_name: str, path: Path) -> Path:
    c = Canvas(str(path), pagesize=A4, invariant=1)
    c.setTitle(f"Rapprochement mode dégradé — {establishment_name}")
    w, h = A4
    y = h - M - 10

    def line(text: str, size: float = 10, font: str = FONT, dy: float = 14) -> None:
        nonlocal y
        if y < M + 30:
            c.showPage()
            y = h - M - 10
        fit(c, text, M, y, w - 2 * M, size, font)
        y -= dy

    line(f"Rapprochement des formulaires papier — {establishment_name}", 14, BOLD, 20)
    line(
        f"Établi le {local(datetime.fromisoformat(report.generated_at))} ; fin du mode dégradé retenue : "
        f"{local(datetime.fromisoformat(report.until))}",
        9,
    )
    verdict = (
        "COMPLET : chaque formulaire est saisi ou annulé, chaque identité provisoire rapprochée"
        if report.complete
        else "INCOMPLET : voir les formulaires manquants ou identités à rapprocher"
    )
    line(verdict, 11, BOLD, 20)
    for key, label in STATUS_LABELS:
        line(f"{label} : {report.counts[key]}", 10, BOLD if key == "issued" else FONT)
    y -= 6
    line("Par type de formulaire", 11, BOLD)
    for kind, t in sorted(report.by_type.items()):
        line(
            f"{FORM_TITLES.get(kind, kind)} : émis {t['issued']}, rendus {t['returned']}, "
            f"saisis {t['entered']}, "
            f"annulés {t['voided']}, "
            f"manquants {t['unaccounted']}",
            9,
        )
    y -= 8
    line(f"Doublons détectés : {len(report.duplicates)} (exclus de l'export FHIR)", 11, BOLD)
    for d in report.duplicates:
        line(
            f"{d.drug or 'Administration'} à {local(datetime.fromisoformat(d.at))}, "
            f"patient {d.patient_ref} : {d.serial} reprend {d.first_serial}",
            9,
        )
    y -= 6
    line(
        f"Omissions détectées : {len(report.omissions)} (administration prévue ni tracée faite ni non faite)",
        11,
        BOLD,
    )
    for o in report.omissions:
        line(
            f"{o.drug or 'Administration'} prévu(e) à {local(datetime.fromisoformat(o.planned_at))} — "
            f"patient {o.patient_ref} — "
            f"{o.serial}, ligne {o.request_id}",
            9,
        )
    y -= 6
    line(f"Identités provisoires non rapprochées : {len(report.provisional_unlinked)}", 11, BOLD)
    for p in report.provisional_unlinked:
        line(p, 9)
    for status in ("unaccounted", "returned", "voided"):
        if report.serials[status]:
            line(f"{dict(STATUS_LABELS)[status]} :", 11, BOLD)
            for s in report.serials[status]:
                line(
                    s + (f" — motif : {report.void_reasons[s]}" if s in report.void_reasons else ""), 9, dy=12
                )
    c.showPage()
    c.save()
    return path


def write_report(report: Report, establishment_name: str, out_dir: Path, key_dir: Path) -> tuple[Path, Path]:
    """The PDF is printed and filed with the paper records, like the kits (owner-only until then); the JSON,
    read by machines only, is sealed with the establishment's key (``rempart continuity decrypt``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"rapprochement-{report.establishment}"
    doc = SealedDoc(
        report.establishment,
        "reconciliation",
        datetime.fromisoformat(report.generated_at),
        f"{stem}.json",
        report.to_json(),
    )
    json_path = write_sealed(out_dir / f"{stem}.json{SEALED_SUFFIX}", key_dir, doc)
    pdf = out_dir / f"{stem}.pdf"
    # created owner-only: ReportLab writes in place, so the file must exist with its mode first
    write_private(pdf, b"")
    return write_pdf(report, establishment_name, pdf), json_path


def summary(report: Report) -> dict[str, Any]:
    return {
        "counts": report.counts,
        "duplicates": len(report.duplicates),
        "omissions": len(report.omissions),
        "provisional_unlinked": len(report.provisional_unlinked),
        "complete": report.complete,
    }
