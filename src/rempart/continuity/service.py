"""The degraded-mode services the CLI and the demo call: import, build kits, enter forms, reconcile, export.

Each service opens one transaction, journals what it changed and, when an incident is named, writes a
line in its main courante. No message here contains patient data: counts, serials and ids only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.continuity import backentry, fhir_export, kit_pdf, reconcile, register, snapshot
from rempart.continuity.census import Census, build_census
from rempart.continuity.fhir_import import ImportResult, read_fhir
from rempart.continuity.kits import KitConfig, KitPlan, plan_kit
from rempart.detect.incidents import get_incident
from rempart.domain.actors import Actor
from rempart.domain.inventory import Group
from rempart.errors import InputError
from rempart.settings import Settings
from rempart.store import incident_log, journal
from rempart.store.db import Store
from rempart.store.models.continuity import IdentityLinkRow, KitRow, PlannedDoseRow, SnapshotRow

ACTOR = "rempart.continuity"
PATIENT_DATA_ACCESS = "patient_data.access"


def trace_access(
    session: Session, viewer: Actor | None, establishment: str, seen: str, refs: dict[str, Any], at: datetime
) -> None:
    """Journal who saw which establishment's patient data and when (CNIL): the account and references
    (kit number, serials, snapshot id, file), never a name or a care line. ``None``: nobody sees it."""
    if viewer is None:
        return
    journal.append(
        session,
        viewer.who,
        PATIENT_DATA_ACCESS,
        f"patients:{establishment}",
        {"account": viewer.account, "via": viewer.via, "establishment": establishment, "seen": seen, **refs},
        at=at,
    )


def incident_id(session: Session, ref: str | None) -> int | None:
    return None if ref is None else get_incident(session, ref).id


def _log(session: Session, ref: str | None, text: str, data: dict[str, Any], at: datetime) -> None:
    iid = incident_id(session, ref)
    if iid is not None:
        incident_log.record(session, iid, "continuity", "action", text, ACTOR, data, at=at)


def import_snapshot(
    store: Store,
    settings: Settings,
    establishment: str,
    paths: list[Path],
    taken_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[SnapshotRow, ImportResult]:
    result = read_fhir(paths, taken_at)
    with store.session() as s:
        row = snapshot.store_snapshot(
            s, result, establishment, settings.home, settings.key_directory, taken_at, now
        )
        journal.append(
            s,
            ACTOR,
            "continuity.snapshot_imported",
            f"snapshot:{establishment}:{row.id}",
            {"counts": row.counts, "rejected": row.problems},
            at=row.imported_at,
        )
    return row, result


def load_census(
    session: Session, settings: Settings, establishment: str, before: datetime | None = None
) -> tuple[SnapshotRow, Census]:
    row = snapshot.latest(session, establishment, before)
    if row is None:
        raise InputError(f"no snapshot for '{establishment}'", hint="run `rempart snapshot import` first")
    return row, build_census(snapshot.load(row, settings.key_directory))


@dataclass(frozen=True)
class KitBuild:
    kit_id: int
    number: int
    files: list[Path]
    forms: int
    plan: KitPlan


def build_kits(
    store: Store,
    settings: Settings,
    group: Group,
    establishment: str,
    out_dir: Path,
    incident_ref: str | None = None,
    started_at: datetime | None = None,
    now: datetime | None = None,
    config: KitConfig | None = None,
    viewer: Actor | None = None,
) -> KitBuild:
    now = now or datetime.now(UTC)
    try:
        est = group.establishment(establishment)
    except KeyError:
        raise InputError(f"establishment '{establishment}' is not in the group description") from None
    with store.session() as s:
        incident_id(s, incident_ref)  # fail before drawing anything
        snap_row, census = load_census(s, settings, establishment, before=now)
        number = register.next_kit_number(s, establishment)
    plan = plan_kit(census, group, est, number, now, incident_ref, started_at, config)
    files = kit_pdf.render_kit(plan, out_dir)
    for f in files:
        os.chmod(f, 0o600)  # printed health data: readable by the operator only until printed
    with store.session() as s:
        key = snapshot.load_or_create_key(settings.key_directory, establishment, create=False)
        kit = register.register_kit(s, plan, snap_row.id, files, ACTOR, key)
        _log(
            s,
            incident_ref,
            f"Kits mode dégradé n° {number} générés pour {est.name} : {len(plan.units)} unité(s), "
            f"{len(plan.forms())} formulaires numérotés ; instantané âgé de "
            f"{snapshot.format_age(plan.snapshot_age)}.",
            {"kit": number, "files": [str(f) for f in files]},
            now,
        )
        kit_id = kit.id
        serials = [f.serial for f in plan.forms()]
        trace_access(
            s, viewer, establishment, "kit",
            {"kit": number, "snapshot": snap_row.id, "forms": len(serials),
             "serials": f"{serials[0]} … {serials[-1]}" if serials else ""},
            now,
        )
    return KitBuild(kit_id, number, files, len(plan.forms()), plan)


def enter_file(
    store: Store, settings: Settings, path: Path, now: datetime | None = None, by: str | None = None
) -> backentry.EnterResult:
    """Enter one returned form described by a YAML or JSON file; ``by`` (the authenticated person) is
    recorded as who entered it, whatever the file says."""
    doc = backentry.load_entries(path)
    if by is not None:
        doc = doc.model_copy(update={"entered_by": by})
    return enter_doc(store, settings, doc, now, path)


def enter_doc(
    store: Store,
    settings: Settings,
    doc: backentry.FormEntries,
    now: datetime | None = None,
    where: Path | str = "<entries>",
) -> backentry.EnterResult:
    now = now or datetime.now(UTC)
    with store.session() as s:
        form = register.get_form(s, doc.serial)
        kit = s.get(KitRow, form.kit_id)
        assert kit is not None  # foreign key
        snap_row = s.get(SnapshotRow, kit.snapshot_id)
        assert snap_row is not None  # foreign key
        # validated against the snapshot the kit was printed from: that is what the paper showed
        census = build_census(snapshot.load(snap_row, settings.key_directory))
        key = snapshot.load_or_create_key(settings.key_directory, form.establishment, create=False)
        return backentry.enter_form(s, census, doc, key, now, where)


def link_identity(
    store: Store,
    settings: Settings,
    establishment: str,
    provisional: str,
    real: str,
    actor: str,
    now: datetime | None = None,
) -> None:
    key = snapshot.load_or_create_key(settings.key_directory, establishment, create=False)
    with store.session() as s:
        backentry.link_identity(s, establishment, provisional, real, actor, now or datetime.now(UTC), key)


def record_access(
    store: Store, viewer: Actor, establishment: str, seen: str, refs: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """An access that changes nothing else (a file decrypted): journaled alone, before it is shown."""
    with store.session() as s:
        trace_access(s, viewer, establishment, seen, refs, now or datetime.now(UTC))


def reconcile_report(
    store: Store,
    settings: Settings,
    group: Group,
    establishment: str,
    out_dir: Path,
    now: datetime | None = None,
    until: datetime | None = None,
    incident_ref: str | None = None,
    viewer: Actor | None = None,
) -> tuple[reconcile.Report, Path, Path]:
    """The PDF is for printing, like the kits; the JSON is encrypted with the establishment's key."""
    now = now or datetime.now(UTC)
    key_dir = settings.key_directory
    key = snapshot.load_or_create_key(key_dir, establishment, create=False)
    name = next((e.name for e in group.establishments if e.id == establishment), establishment)
    with store.session() as s:
        report = reconcile.build_report(s, establishment, now, until, key)
        pdf, js = reconcile.write_report(report, name, out_dir, key_dir)
        _log(
            s,
            incident_ref,
            f"Rapprochement des formulaires de {name} : {report.counts['entered']} saisis, "
            f"{report.counts['voided']} annulés, {report.counts['unaccounted']} manquants ; "
            f"{len(report.duplicates)} doublon(s), {len(report.omissions)} omission(s).",
            {"pdf": str(pdf), "json": str(js), **reconcile.summary(report)},
            now,
        )
        journal.append(
            s, ACTOR, "continuity.reconciled", f"reconcile:{establishment}", reconcile.summary(report), at=now
        )
        trace_access(s, viewer, establishment, "reconciliation", {"pdf": str(pdf), "json": str(js)}, now)
    return report, pdf, js


def export_bundle(
    store: Store, settings: Settings, establishment: str, now: datetime | None = None,
    viewer: Actor | None = None,
) -> dict[str, Any]:
    """The back-entered records as a FHIR transaction Bundle, in memory only (journaled)."""
    now = now or datetime.now(UTC)
    with store.session() as s:
        _, census = load_census(s, settings, establishment)
        rows = backentry.entries_of(s, establishment)
        links = list(
            s.execute(select(IdentityLinkRow).where(IdentityLinkRow.establishment == establishment)).scalars()
        )
        key = snapshot.load_or_create_key(settings.key_directory, establishment, create=False)
        bundle = fhir_export.export_bundle(census, rows, links, key, now)
        journal.append(
            s,
            ACTOR,
            "continuity.exported",
            f"export:{establishment}",
            {"resources": len(bundle["entry"])},
            at=now,
        )
        trace_access(s, viewer, establishment, "fhir_export", {"resources": len(bundle["entry"])}, now)
    return bundle


def export_fhir(
    store: Store, settings: Settings, establishment: str, out: Path, now: datetime | None = None,
    viewer: Actor | None = None,
) -> tuple[Path, int]:
    """Write the Bundle encrypted with the establishment's key (``rempart continuity decrypt`` opens it)."""
    if not out.name.endswith(snapshot.SEALED_SUFFIX):
        raise InputError(
            f"the FHIR export is written encrypted: '{out}' should end with {snapshot.SEALED_SUFFIX}",
            hint="e.g. --out backentry.json.enc; or `--out -` to write the clear Bundle to standard output",
        )
    now = now or datetime.now(UTC)
    bundle = export_bundle(store, settings, establishment, now, viewer)
    doc = snapshot.SealedDoc(
        establishment,
        "fhir-export",
        now,
        out.name.removesuffix(snapshot.SEALED_SUFFIX),
        orjson.dumps(bundle, option=orjson.OPT_INDENT_2),
    )
    return snapshot.write_sealed(out, settings.key_directory, doc), len(bundle["entry"])


@dataclass(frozen=True)
class PlannedDose:
    request_id: str
    drug: str
    planned_at: datetime


@dataclass(frozen=True)
class MarSheet:
    """A returned form as the clerk sees it to type it in: who, which unit, and for a pre-filled MAR the
    doses it planned (the drug in clear: health data, so reading it is traced)."""

    serial: str
    establishment: str
    unit: str
    form_type: str
    status: str
    patient_id: str | None
    doses: list[PlannedDose]


def mar_sheet(
    store: Store, settings: Settings, serial: str, viewer: Actor, now: datetime | None = None
) -> MarSheet:
    now = now or datetime.now(UTC)
    with store.session() as s:
        form = register.get_form(s, serial)
        planned = select(PlannedDoseRow).where(PlannedDoseRow.serial == form.serial)
        rows = s.scalars(planned.order_by(PlannedDoseRow.planned_at)).all()
        key = b""
        if rows:
            key = snapshot.load_or_create_key(settings.key_directory, form.establishment, create=False)
        doses = [
            PlannedDose(
                r.request_id,
                snapshot.open_value(key, register.planned_drug_aad(r.serial, r.request_id), r.drug),
                r.planned_at,
            )
            for r in rows
        ]
        trace_access(s, viewer, form.establishment, "form", {"serial": form.serial, "doses": len(doses)}, now)
        return MarSheet(form.serial, form.establishment, form.unit, form.form_type, form.status,
                        form.patient_id, doses)
