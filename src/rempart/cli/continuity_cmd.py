"""`rempart snapshot|kits|forms|reconcile|continuity`: degraded mode from the command line.

Thin: parse, call ``rempart.continuity.service``, print counts. Never prints patient data.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer

from rempart.cli.auth import acting, acting_for, reading, reading_for, seeing_patients
from rempart.cli.console import console, err_console, report_errors
from rempart.cli.options import Inventory, open_case_store, parse_time
from rempart.continuity import register, service, snapshot, synthetic
from rempart.continuity.fhir_import import UNKNOWN_COUNT
from rempart.continuity.kits import KitConfig
from rempart.errors import InputError
from rempart.identities.authorize import check_scope
from rempart.inventory import load_group
from rempart.settings import Settings

snapshot_app = typer.Typer(
    help="Encrypted clinical snapshots taken before any incident.", no_args_is_help=True
)
kits_app = typer.Typer(help="Downtime kits (PDF, French) per care unit.", no_args_is_help=True)
forms_app = typer.Typer(
    help="The register of paper forms: return, enter, void, link identities.", no_args_is_help=True
)
continuity_app = typer.Typer(
    help="Degraded-mode tools: synthetic data, FHIR export, decryption.", no_args_is_help=True
)

WhenOpt = Annotated[str | None, typer.Option(help="ISO time with offset (default: now)")]


@snapshot_app.command("import")
@report_errors
def snapshot_import(
    establishment: str,
    paths: list[Path],
    taken_at: Annotated[str | None, typer.Option(help="export time if the files do not say it")] = None,
) -> None:
    """Validate FHIR NDJSON files (or a directory, or a Bundle) and store them encrypted."""
    settings = Settings()
    store = open_case_store()
    acting_for(store, establishment)
    row, result = service.import_snapshot(
        store, settings, establishment, paths, parse_time(taken_at) if taken_at else None
    )
    for p in result.problems:
        err_console.print(f"[yellow]rejected[/yellow] {p}", soft_wrap=True)
    for p in result.left_out:
        err_console.print(f"left out {p}", soft_wrap=True, markup=False)
    for p in result.unknowns:
        err_console.print(f"[yellow]unknown[/yellow] {p}", soft_wrap=True)
    kept = ", ".join(f"{n} {k}" for k, n in row.counts.items())
    console.print(
        f"[green]ok[/green] snapshot {row.id} of {establishment} taken {row.taken_at.isoformat()}: "
        f"{kept}; {len(result.problems)} rejected; encrypted to {row.path}"
    )


@snapshot_app.command("status")
@report_errors
def snapshot_status(
    establishment: Annotated[str | None, typer.Argument()] = None,
    group: Inventory = Path("group.yaml"),
    max_age_hours: Annotated[float, typer.Option(help="freshness limit")] = 2.0,
) -> None:
    """Age of the latest snapshot of each establishment; fails when older than the limit, or while the
    kit would print a value as unknown (drug, dose, unit, route or bed missing from the export)."""
    store = open_case_store()
    actor = reading_for(store, establishment) if establishment else reading(store)
    ids = [establishment] if establishment else [
        e.id for e in load_group(group).establishments if actor.covers(e.id)
    ]
    stale = unknown = 0
    with store.session() as s:
        for est in ids:
            f = snapshot.freshness(s, est, max_age=timedelta(hours=max_age_hours))
            if f.age is None:
                console.print(f"[red]missing[/red] {est}: no snapshot")
            else:
                tag = "[red]STALE[/red]" if f.stale else "[green]fresh[/green]"
                console.print(
                    f"{tag} {est}: taken {f.taken_at.isoformat() if f.taken_at else '?'}, "
                    f"age {snapshot.format_age(f.age)}, {f.counts.get('Patient', 0)} patients"
                )
            stale += f.stale
            if missing := f.counts.get(UNKNOWN_COUNT, 0):
                unknown += 1
                console.print(
                    f"[red]UNKNOWN[/red] {est}: {missing} value(s) the kit prints as unknown (drug, dose, "
                    "unit, route or bed missing from the export): see `rempart snapshot import`, fix the "
                    "export, import it again"
                )
    if stale:
        err_console.print(
            f"warning: {stale} establishment(s) without a snapshot younger than {max_age_hours:g} h"
        )
    if unknown:
        err_console.print(f"warning: {unknown} establishment(s) whose kit prints values as unknown")
    if stale or unknown:
        raise typer.Exit(1)


@kits_app.command("build")
@report_errors
def kits_build(
    establishment: str,
    incident: Annotated[str | None, typer.Option(help="incident ref, e.g. INC-0001")] = None,
    out: Annotated[Path, typer.Option(help="output directory")] = Path("kits"),
    group: Inventory = Path("group.yaml"),
    hours: Annotated[int, typer.Option(help="blank forms for at least this many hours")] = 8,
    started_at: WhenOpt = None,
) -> None:
    """Build the downtime kit of ESTABLISHMENT from its latest snapshot and register every serial."""
    settings = Settings()
    store = open_case_store()
    viewer = seeing_patients(store, establishment, "the kit")
    build = service.build_kits(
        store,
        settings,
        load_group(group),
        establishment,
        out,
        incident,
        parse_time(started_at) if started_at else None,
        config=KitConfig(hours=hours),
        viewer=viewer,
    )
    if build.plan.stale:
        err_console.print(
            f"[yellow]warning[/yellow] snapshot is {snapshot.format_age(build.plan.snapshot_age)} old"
        )
    if build.plan.to_verify:
        err_console.print(
            f"[yellow]warning[/yellow] the kit prints {build.plan.to_verify} value(s) boxed \"À VÉRIFIER\" "
            "(drug, dose, unit or route missing from the export, or a patient without a bed): see "
            "`rempart snapshot import`, fix the export and rebuild, or have them checked on the ward"
        )
    console.print(
        f"[green]ok[/green] kit {build.number} of {establishment}: {build.forms} serial-numbered forms"
    )
    for f in build.files:
        console.print(f"  {f}")


@forms_app.command("list")
@report_errors
def forms_list(
    establishment: str,
    status: Annotated[str | None, typer.Option(help="issued, returned, entered or voided")] = None,
) -> None:
    """The register of ESTABLISHMENT's paper forms: serial, unit, type, status."""
    if status is not None and status not in register.STATUSES:
        raise InputError(f"unknown status '{status}'", hint=f"one of {', '.join(register.STATUSES)}")
    store = open_case_store()
    reading_for(store, establishment)
    with store.session() as s:
        rows = [f for f in register.forms_of(s, establishment) if status is None or f.status == status]
        for f in rows:
            console.print(f"{f.serial}  {f.form_type:<14} {register.STATUS_FR[f.status]:<7} {f.unit}")
    console.print(f"{len(rows)} form(s)")


@forms_app.command("return")
@report_errors
def forms_return(serials: list[str], at: WhenOpt = None) -> None:
    """Record that the paper forms SERIALS came back (by the logged-in account)."""
    store = open_case_store()
    actor = acting(store)
    with store.session() as s:
        for serial in serials:
            check_scope(actor, register.get_form(s, serial).establishment)
            register.return_form(s, serial, parse_time(at), actor.who)
    console.print(f"[green]ok[/green] {len(serials)} form(s) returned")


@forms_app.command("void")
@report_errors
def forms_void(
    serial: str,
    reason: Annotated[str, typer.Option(help="why the form is void")],
    at: WhenOpt = None,
) -> None:
    """Void an issued or returned form, with its reason."""
    store = open_case_store()
    actor = acting(store)
    with store.session() as s:
        check_scope(actor, register.get_form(s, serial).establishment)
        register.void_form(s, serial, reason, parse_time(at), actor.who)
    console.print(f"[green]ok[/green] {serial.upper()} voided")


@forms_app.command("enter")
@report_errors
def forms_enter(
    files: list[Path],
    at: WhenOpt = None,
    remove_entered: Annotated[
        bool,
        typer.Option(help="delete each file once its form is entered: the store keeps the lines encrypted"),
    ] = False,
) -> None:
    """Enter returned forms, each described by a YAML/JSON file (serial, entries); recorded as entered by
    the logged-in account."""
    settings = Settings()
    store = open_case_store()
    by = acting(store).who  # the person typing the forms in, not a name the file gives
    for f in files:
        result = service.enter_file(store, settings, f, parse_time(at), by)
        for w in result.warnings:
            err_console.print(f"[yellow]warning[/yellow] {f}: {w}")
        dup = f", {len(result.duplicates)} flagged as duplicate" if result.duplicates else ""
        gone = ""
        if remove_entered:  # only after the transaction committed: a refused form keeps its file
            f.unlink()
            gone = f"; {f} deleted"
        console.print(f"[green]ok[/green] {result.serial}: {result.entries} line(s) entered{dup}{gone}")


@forms_app.command("link")
@report_errors
def forms_link(establishment: str, provisional: str, real: str) -> None:
    """Merge a provisional identity given at a downtime admission with the qualified identity (IPP)."""
    store = open_case_store()
    by = acting_for(store, establishment)
    service.link_identity(store, Settings(), establishment, provisional, real, by)
    console.print(f"[green]ok[/green] {provisional} linked")


@report_errors
def reconcile(
    establishment: str,
    out: Annotated[Path, typer.Option(help="output directory")] = Path("reports"),
    group: Inventory = Path("group.yaml"),
    until: WhenOpt = None,
    incident: Annotated[str | None, typer.Option(help="incident ref for the main courante")] = None,
) -> None:
    """Reconciliation report of ESTABLISHMENT's paper forms (PDF to print, JSON encrypted)."""
    store = open_case_store()
    viewer = seeing_patients(store, establishment, "the reconciliation report")
    report, pdf, js = service.reconcile_report(
        store,
        Settings(),
        load_group(group),
        establishment,
        out,
        until=parse_time(until) if until else None,
        incident_ref=incident,
        viewer=viewer,
    )
    c = report.counts
    console.print(
        f"issued {c['issued']} = returned {c['returned']} + entered {c['entered']} + voided {c['voided']}"
        f" + unaccounted {c['unaccounted']}; duplicates {len(report.duplicates)}, "
        f"omissions {len(report.omissions)}, provisional identities to link "
        f"{len(report.provisional_unlinked)}"
    )
    console.print(
        ("[green]complete[/green]" if report.complete else "[yellow]incomplete[/yellow]") + f": {pdf}, {js}"
    )


@continuity_app.command("generate")
@report_errors
def generate(
    out: Annotated[Path, typer.Option(help="one sub-directory per establishment")] = Path("fhir"),
    group: Inventory = Path("group.yaml"),
    establishment: Annotated[list[str] | None, typer.Option(help="only these (repeatable)")] = None,
    patients: int = 60,
    seed: int = 0,
    taken_at: WhenOpt = None,
) -> None:
    """Write synthetic French inpatient data (FHIR R4 NDJSON) for the group's establishments."""
    ids = establishment or [e.id for e in load_group(group).establishments]
    when = parse_time(taken_at)
    for est in ids:
        synthetic.generate(est, out / est, patients, seed, when)
    console.print(f"[green]ok[/green] {len(ids)} establishment(s) × {patients} patients written under {out}")


@continuity_app.command("export")
@report_errors
def export(
    establishment: str,
    out: Annotated[
        Path, typer.Option(help="encrypted Bundle file (*.enc), or '-': the clear Bundle on standard output")
    ] = Path("backentry.json.enc"),
) -> None:
    """Export the back-entered records as a FHIR transaction Bundle (duplicates left out), encrypted."""
    settings = Settings()
    store = open_case_store()
    viewer = seeing_patients(store, establishment, "the FHIR export")
    if str(out) == "-":  # asked for explicitly, for a pipe into the HIS import: nothing written to disk
        bundle = service.export_bundle(store, settings, establishment, viewer=viewer)
        sys.stdout.buffer.write(orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n")
        return
    path, n = service.export_fhir(store, settings, establishment, out, viewer=viewer)
    console.print(
        f"[green]ok[/green] {n} resources written encrypted to {path}; "
        f"`rempart continuity decrypt {path} --out -` gives the Bundle for the HIS import"
    )


@continuity_app.command("decrypt")
@report_errors
def decrypt(
    file: Path,
    out: Annotated[Path, typer.Option(help="where to write the clear file, or '-' for standard output")],
) -> None:
    """Decrypt a file rempart encrypted (FHIR export, reconciliation JSON) with its establishment's key."""
    doc = snapshot.read_sealed(file, Settings().key_directory)
    store = open_case_store()
    viewer = seeing_patients(store, doc.establishment, f"the {doc.kind}", writes=False)
    service.record_access(
        store, viewer, doc.establishment, doc.kind,
        {"file": str(file), "created_at": doc.created_at.isoformat()},
    )
    if str(out) == "-":
        sys.stdout.buffer.write(doc.payload)
        return
    snapshot.write_private(out, doc.payload)
    console.print(
        f"[green]ok[/green] {doc.kind} of {doc.establishment} ({doc.created_at.isoformat()}) decrypted to "
        f"{out} (owner-only): clinical data in clear, delete it once imported"
    )
