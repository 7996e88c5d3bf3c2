"""Demo: the attacked clinic goes to paper and back.

A snapshot taken before the incident is imported (encrypted), the kits are printed when degraded mode
starts, a day of paper activity is simulated and back-entered (with one duplicate and one omission
planted, as happen in real hybrid records), identities are merged, and the reconciliation shows every
form accounted for and flags both.
"""

from __future__ import annotations

import os
import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from rempart.continuity import register, service, synthetic
from rempart.continuity.kits import Form, KitPlan
from rempart.demo.accounts import actor
from rempart.demo.context import DemoContext
from rempart.settings import Settings

DOWNTIME = timedelta(hours=12)  # how long the clinic stays on paper in the story
NURSES = ("IDE Camille R.", "IDE Yanis B.", "IDE Sophie L.")


SEED, PATIENTS = 11, 36  # the synthetic snapshot of the attacked clinic
# the identity traits written on the downtime admission form (a patient known only on paper)
ADMITTED: dict[str, str] = {"family": "Lemoine", "given": "Odile", "birth_date": "1941-06-02", "sex": "F"}


def settings_for(ctx: DemoContext) -> Settings:
    # keys beside, never inside, the data directory (which holds the encrypted snapshots)
    return Settings(home=ctx.workdir / "continuity", keys_dir=ctx.keys_dir)


def _write(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / f"{doc['serial']}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def _mar_doc(
    form: Form, until: datetime, rng: random.Random, skip: tuple[str, datetime] | None
) -> dict[str, Any]:
    lines = []
    for rid, planned in form.planned:
        if planned > until or (rid, planned) == skip:
            continue
        given = rng.random() > 0.05
        line = {
            "kind": "administration",
            "patient": form.patient_id,
            "request": rid,
            "at": (planned + timedelta(minutes=rng.randint(0, 20))).isoformat(),
            "planned_at": planned.isoformat(),
            "given": given,
            "nurse": rng.choice(NURSES),
        }
        if not given:
            line["reason"] = rng.choice(("refus du patient", "patient au bloc", "à jeun"))
        lines.append(line)
    return {"serial": form.serial, "entered_by": "secrétariat médical", "entries": lines}


def simulate_day(
    plan: KitPlan, until: datetime, seed: int = 4
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The returned forms of one downtime, as typed by the back-entry clerks, and the forms voided.

    Plants one omission (a MAR slot left blank) and one duplicate (an administration also written on a
    care traceability sheet)."""
    rng = random.Random(seed)
    unit = plan.units[0]
    mars = [f for f in unit.mars.values() if any(at <= until for _, at in f.planned)]
    omitted_form = mars[0]
    omitted = next((rid, at) for rid, at in omitted_form.planned if at <= until)
    docs = [
        _mar_doc(f, until, rng, omitted if f is omitted_form else None)
        for u in plan.units
        for f in u.mars.values()
    ]
    # the duplicate: a nurse also wrote a MAR administration on a traceability sheet
    twice_form = mars[1]
    twice = next(
        line for line in next(d for d in docs if d["serial"] == twice_form.serial)["entries"] if line["given"]
    )
    blanks = {
        kind: [f for f in unit.blanks if f.form_type == kind]
        for kind in ("administration", "admission", "prescription", "lab")
    }
    admission = blanks["admission"][0]
    prov = admission.provisional_id
    admitted_at = plan.window_start + timedelta(hours=3)
    docs.append(
        {
            "serial": admission.serial,
            "entered_by": "bureau des entrées",
            "entries": [
                {
                    "kind": "admission",
                    "patient": prov,
                    "at": admitted_at.isoformat(),
                    **ADMITTED,
                    "unit": unit.name,
                    "room": "Chambre 199",
                    "bed": "Lit 199-A",
                    "attending": "Dr Garnier",
                }
            ],
        }
    )
    docs.append(
        {
            "serial": blanks["prescription"][0].serial,
            "entered_by": "pharmacie",
            "entries": [
                {
                    "kind": "prescription",
                    "patient": prov,
                    "request": f"{blanks['prescription'][0].serial}/1",
                    "at": (admitted_at + timedelta(minutes=30)).isoformat(),
                    "drug": "Paracétamol",
                    "atc": "N02BE01",
                    "dose": 1,
                    "unit": "g",
                    "route": "per os",
                    "frequency": "4 fois / 24 h",
                    "times": ["06:00", "12:00", "18:00", "00:00"],
                    "prescriber": "Dr Garnier",
                }
            ],
        }
    )
    docs.append(
        {
            "serial": blanks["administration"][0].serial,
            "entered_by": "secrétariat médical",
            "entries": [
                {
                    "kind": "administration",
                    "patient": prov,
                    "request": f"{blanks['prescription'][0].serial}/1",
                    "at": (admitted_at + timedelta(hours=2)).isoformat(),
                    "given": True,
                    "dose": 1,
                    "unit": "g",
                    "nurse": NURSES[0],
                },
                {
                    **twice,
                    "planned_at": None,
                    "request": None,
                    "drug": next(
                        rx.drug
                        for p in unit.patients
                        for rx in p.prescriptions
                        if rx.request_id == twice["request"]
                    ),
                },
            ],
        }
    )
    docs.append({"serial": blanks["lab"][0].serial, "entered_by": "laboratoire", "entries": []})
    used = {d["serial"] for d in docs}
    voided = [(f.serial, "non utilisé, rendu vierge") for f in plan.forms() if f.serial not in used]
    return docs, voided


def run(ctx: DemoContext) -> None:
    con = ctx.console
    settings = settings_for(ctx)
    est = ctx.group.establishment(ctx.attacked)
    con.rule(f"[bold]Mode dégradé — {est.name}")
    taken = ctx.now - timedelta(minutes=95)  # the last scheduled export before the incident
    # the export of the HIS is clinical data in clear: it only lives, owner-only, until it is imported
    with tempfile.TemporaryDirectory(prefix="rempart-fhir-") as tmp:
        src = Path(tmp) / est.id
        synthetic.generate(est.id, src, patients=PATIENTS, seed=SEED, taken_at=taken)
        row, result = service.import_snapshot(
            ctx.store, settings, est.id, [src], now=taken + timedelta(minutes=2)
        )
    con.print(
        f"Instantané FHIR du {taken:%d/%m %H:%M} UTC importé et chiffré : {row.counts['Patient']} patients, "
        f"{row.counts['MedicationRequest']} prescriptions actives, {len(result.problems)} rejet(s)"
    )
    ctx.mark(taken, "mode dégradé", f"instantané FHIR de {est.id} importé (chiffré)")

    started = ctx.now + timedelta(minutes=10)
    it_oncall = actor(ctx, "astreinte-dsi")  # who prints the kits and reads the report: traced
    build = service.build_kits(
        ctx.store,
        settings,
        ctx.group,
        est.id,
        ctx.workdir / "kits",
        ctx.incident_ref,
        started_at=started,
        now=started,
        viewer=it_oncall,
    )
    con.print(
        f"Kits n° {build.number} imprimés : {len(build.files)} unité(s), {build.forms} formulaires numérotés"
    )
    for f in build.files:
        con.print(f"  {f}")
    ctx.mark(started, "mode dégradé", f"kits imprimés ({build.forms} formulaires numérotés)")

    until = build.plan.window_start + DOWNTIME
    docs, voided = simulate_day(build.plan, until)
    back = until + timedelta(hours=2)  # back-entry once the system is back
    with ctx.store.session() as s:
        for doc in docs:
            register.return_form(s, doc["serial"], until, "cadre de santé")
        for serial, reason in voided:
            register.void_form(s, serial, reason, until, "cadre de santé")
    # what the clerks type is clinical: entered from files that are gone once entered (the store keeps it)
    with tempfile.TemporaryDirectory(prefix="rempart-forms-") as tmp:
        entered = sum(
            service.enter_file(ctx.store, settings, _write(Path(tmp), d), back).entries for d in docs
        )
    prov = next(
        d["entries"][0]["patient"] for d in docs if d["entries"] and d["entries"][0]["kind"] == "admission"
    )
    service.link_identity(ctx.store, settings, est.id, prov, "9100001", "cellule d'identitovigilance", back)
    con.print(
        f"Re-saisie : {len(docs)} formulaires, {entered} lignes ; "
        f"{len(voided)} formulaires vierges annulés ; "
        f"identité provisoire {prov} rapprochée"
    )

    report, pdf, js = service.reconcile_report(
        ctx.store,
        settings,
        ctx.group,
        est.id,
        ctx.workdir / "continuity",
        now=back,
        until=until,
        incident_ref=ctx.incident_ref,
        viewer=it_oncall,
    )
    bundle, n = service.export_fhir(
        ctx.store, settings, est.id, ctx.workdir / "continuity" / "backentry-bundle.json.enc", now=back,
        viewer=it_oncall,
    )
    c = report.counts
    con.print(
        f"Rapprochement : émis {c['issued']} = saisis {c['entered']} + annulés {c['voided']} + rendus "
        f"{c['returned']} + manquants {c['unaccounted']} ; doublons {len(report.duplicates)}, "
        f"omissions {len(report.omissions)} → {'COMPLET' if report.complete else 'INCOMPLET'}"
    )
    con.print(
        f"  {pdf} (à imprimer, comme les kits)\n  {js} (chiffré)\n  export FHIR chiffré : {bundle} "
        f"({n} ressources ; `rempart continuity decrypt {bundle.name} --out -` pour l'import dans le DPI)"
    )
    ctx.mark(
        back,
        "mode dégradé",
        f"dossiers papier rapprochés : {len(report.duplicates)} doublon(s), "
        f"{len(report.omissions)} omission(s) signalé(s)",
    )
    ctx.facts["continuity"] = {
        "establishment": est.id,
        "complete": report.complete,
        "all_accounted": report.all_accounted,
        "report_pdf": str(pdf),
        "report_json": str(js),
        "bundle": str(bundle),
        "kit_files": [str(f) for f in build.files],
        "counts": c,
        "duplicates": len(report.duplicates),
        "omissions": len(report.omissions),
        "downtime_end": until.isoformat(),
    }
