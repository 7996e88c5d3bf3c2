"""Degraded mode in the browser: the kits to print, the register of paper forms, and the back-entry of a
returned MAR by the clinic's staff. Patients' data is shown only to the roles that need it, and every
look at it (a kit downloaded, a MAR opened) is journaled by the continuity services."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select

from rempart.board.states import open_incident_of
from rempart.console import sessions
from rempart.console.context import ConsoleContext, context_of
from rempart.console.messages import french
from rempart.console.params import Number
from rempart.console.rendering import page
from rempart.console.sessions import Caller, Who
from rempart.continuity import backentry, register, snapshot
from rempart.continuity import service as continuity
from rempart.continuity.kits import FORM_TITLES
from rempart.errors import ConfigErrors, InputError, RempartError, StateError
from rempart.identities.authorize import check_carries_out, check_patient_data, check_scope
from rempart.store.models.continuity import KitRow

router = APIRouter(include_in_schema=False)



def _establishment(ctx: ConsoleContext, est: str) -> str:
    names = {e.id: e.name for e in ctx.group.establishments}
    if est not in names:
        raise InputError(f"establishment '{est}' is not in the group description")
    return names[est]


def _continuity_page(request: Request, me: Caller, est: str, status: int = 200, message: str = "",
                     kind: str = "error") -> Response:
    ctx = context_of(request)
    name = _establishment(ctx, est)
    check_scope(me.actor, est)
    with ctx.store.session() as s:
        snap = snapshot.latest(s, est)
        of_est = select(KitRow).where(KitRow.establishment == est)
        kits = s.scalars(of_est.order_by(KitRow.number.desc())).all()
        kit_lines = [{"number": k.number, "built_at": k.built_at, "incident": k.incident_ref,
                      "files": [f.rsplit("/", 1)[-1] for f in k.files]} for k in kits]
        forms = [{"serial": f.serial, "unit": f.unit, "type": f.form_type,
                  "title": FORM_TITLES.get(f.form_type, f.form_type), "status": f.status,
                  "status_fr": register.STATUS_FR[f.status]} for f in register.forms_of(s, est)]
    counts = {st: sum(1 for f in forms if f["status"] == st) for st in register.STATUSES}
    return page(request, "continuity.html.j2", status, me=me, est=est, est_name=name,
                snapshot_at=snap.taken_at if snap else None, kits=kit_lines, forms=forms, counts=counts,
                status_fr=register.STATUS_FR, message=message, message_kind=kind)


def _done(me: Caller, est: str, text: str) -> Response:
    return RedirectResponse(f"/etablissements/{est}/continuite?{sessions.notice_query(me, text)}",
                            status_code=303)


@router.get("/etablissements/{est}/continuite")
def continuity_page(request: Request, est: str, me: Who, fait: str = "", sig: str = "") -> Response:
    return _continuity_page(request, me, est, message=sessions.notice(me, fait, sig), kind="ok")


@router.post("/etablissements/{est}/kits")
def build_kits(request: Request, est: str, me: Who) -> Response:
    ctx = context_of(request)
    _establishment(ctx, est)
    check_carries_out(me.actor)
    check_patient_data(me.actor, est, "the kit")
    try:
        build = continuity.build_kits(ctx.store, ctx.settings, ctx.group, est, ctx.kits_dir(est),
                                      open_incident_of(ctx.store, est), viewer=me.actor)
    except RempartError as exc:
        return _continuity_page(request, me, est, 409, french(exc.message))
    done = f"Kit n° {build.number} généré : {build.forms} formulaires numérotés."
    return _done(me, est, done)


@router.get("/etablissements/{est}/kits/{number}/{index}")
def kit_file(request: Request, est: str, number: Number, index: int, me: Who) -> Response:
    ctx = context_of(request)
    _establishment(ctx, est)
    check_patient_data(me.actor, est, "the kit")
    with ctx.store.session() as s:
        kit = s.scalars(select(KitRow).where(KitRow.establishment == est, KitRow.number == number)).first()
        if kit is None or not 0 <= index < len(kit.files):
            raise LookupError(f"no file {index} in kit {number} of {est}")
        path = kit.files[index]
    name = path.rsplit("/", 1)[-1]
    continuity.record_access(ctx.store, me.actor, est, "kit", {"kit": number, "file": name})
    return FileResponse(path, media_type="application/pdf", filename=name)


@router.post("/formulaires/{serial}/retour")
def return_form(request: Request, serial: str, me: Who) -> Response:
    ctx = context_of(request)
    check_carries_out(me.actor)
    with ctx.store.session() as s:
        form = register.get_form(s, serial)
        est = form.establishment
        check_scope(me.actor, est)
    try:
        with ctx.store.session() as s:
            register.return_form(s, serial, datetime.now(UTC), me.actor.who)
    except StateError as exc:
        return _continuity_page(request, me, est, 409, french(exc.message))
    return _done(me, est, f"Formulaire {serial.upper()} rendu.")


def _sheet_page(request: Request, me: Caller, serial: str, status: int = 200, message: str = "",
                errors: list[str] | None = None) -> Response:
    ctx = context_of(request)
    with ctx.store.session() as s:
        est = register.get_form(s, serial).establishment
    check_patient_data(me.actor, est, "the form")
    sheet = continuity.mar_sheet(ctx.store, ctx.settings, serial, me.actor)
    return page(request, "form.html.j2", status, me=me, sheet=sheet, est_name=_establishment(ctx, est),
                status_fr=register.STATUS_FR, message=message, errors=errors or [])


@router.get("/formulaires/{serial}")
def form_sheet(request: Request, serial: str, me: Who) -> Response:
    return _sheet_page(request, me, serial)


def _lines(form: dict[str, Any], sheet: continuity.MarSheet, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The paper's lines as typed: one per planned dose the clerk marked given or not given."""
    nurse = str(form.get("nurse", "")).strip()
    out = []
    for i, dose in enumerate(sheet.doses):
        given = form.get(f"given_{i}", "")
        if given not in ("oui", "non"):
            continue
        planned_local = dose.planned_at.astimezone(zone)
        typed = str(form.get(f"time_{i}", "")).strip()
        try:
            at = (datetime.combine(planned_local.date(), time.fromisoformat(typed), zone) if typed
                  else planned_local)
        except ValueError:
            raise InputError(f"line {i + 1}: '{typed}' is not a time such as 08:05") from None
        line: dict[str, Any] = {"kind": "administration", "patient": sheet.patient_id or "",
                                "request": dose.request_id, "at": at.isoformat(), "given": given == "oui",
                                "planned_at": dose.planned_at.isoformat(), "nurse": nurse or "?"}
        if given == "non":
            line["reason"] = str(form.get(f"reason_{i}", "")).strip() or None
        out.append(line)
    return out


async def _form_fields(request: Request) -> dict[str, Any]:
    return dict(await request.form())


@router.post("/formulaires/{serial}/saisie")
def enter_form(
    request: Request, serial: str, me: Who, form: Annotated[dict[str, Any], Depends(_form_fields)]
) -> Response:
    ctx = context_of(request)
    check_carries_out(me.actor)
    with ctx.store.session() as s:
        est = register.get_form(s, serial).establishment
    check_patient_data(me.actor, est, "the form")
    sheet = continuity.mar_sheet(ctx.store, ctx.settings, serial, me.actor)
    try:
        doc = backentry.FormEntries.model_validate(
            {"serial": sheet.serial, "entered_by": me.actor.who,
             "entries": _lines(form, sheet, ZoneInfo(ctx.group.timezone))}
        )
        result = continuity.enter_doc(ctx.store, ctx.settings, doc, where=f"console:{serial}")
    except ConfigErrors as exc:
        return _sheet_page(request, me, serial, 422, "Saisie refusée : rien n'est enregistré.",
                           [str(e) for e in exc.errors])
    except RempartError as exc:
        return _sheet_page(request, me, serial, 409, french(exc.message))
    dup = f", {len(result.duplicates)} doublon(s) signalé(s)" if result.duplicates else ""
    done = f"Formulaire {result.serial} saisi : {result.entries} ligne(s){dup}."
    return _done(me, est, done)
