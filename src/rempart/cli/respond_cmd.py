"""Plan and containment commands: plan check/show, respond, approve, reject, ack, rollback, run show,
journal verify/show. Thin: parse, call ``rempart.respond.service``, render."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from rempart.adapters import registry
from rempart.cli.auth import acting, group_wide, reading, reading_incident
from rempart.cli.console import console, report_errors
from rempart.cli.options import Inventory, open_case_store
from rempart.errors import InputError, Location, StateError
from rempart.identities.authorize import check_incident, sees_incident
from rempart.inventory import load_group
from rempart.respond import service
from rempart.respond.interface import Adapter, Operation
from rempart.respond.plan import load_plan
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.journal_anchor import FileAnchor

plan_app = typer.Typer(help="Check the security plan and show what it would do.", no_args_is_help=True)
run_app = typer.Typer(help="Plan runs.", no_args_is_help=True)
journal_app = typer.Typer(
    help="The audit journal: hash-chained, authenticated with a key, anchored outside the case store.",
    no_args_is_help=True,
)

PlanFile = Annotated[Path, typer.Option("--plan", "-p", envvar="REMPART_PLAN", help="plan.yaml")]
AdaptersFile = Annotated[
    Path | None,
    typer.Option(
        "--adapters",
        envvar="REMPART_ADAPTERS",
        help="adapters.yaml (how to reach firewalls, servers); "
        "without it every adapter is the dummy and nothing outside changes",
    ),
]


def _adapters(path: Path | None) -> dict[str, Adapter]:
    if path is None:
        console.print(
            "[yellow]no adapters file: running on the dummy adapter (nothing outside changes)[/yellow]"
        )
        return registry.build(None)
    return registry.build(registry.load_config(path))


def _run_adapters(store: Store, run: int, path: Path | None) -> dict[str, Adapter]:
    """The adapters given, else those the run was started with: never the dummy by omission."""
    if path is None:
        source = service.adapters_source(store, run)
        if source is not None:
            console.print(f"using the run's adapters file {source}")
            path = Path(source)
    return _adapters(path)


def _render_run(report: service.RunReport) -> None:
    table = Table(
        title=f"run {report.run_id} — {report.incident_ref} — {report.establishment} — "
        f"{report.playbook}: [bold]{report.status}[/bold]",
        show_edge=False,
    )
    for col in ("#", "step", "adapter", "status", "targets", "notes"):
        table.add_column(col)
    for s in report.steps:
        notes = "; ".join(
            x
            for x in (
                f"approved by {', '.join(s.approved_by)}" if s.approved_by else "",
                f"needs {s.needs}" if s.needs else "",
                s.error or "",
                s.comment or "",
                f"reopened {', '.join(s.rolled_back)}" if s.rolled_back and s.status != "rolled_back" else "",
            )
            if x
        )
        table.add_row(str(s.seq), s.step_id, s.adapter, s.status, ", ".join(s.targets), notes)
    console.print(table)
    for s in report.steps:  # say what people must do next, with the exact command
        if s.status == "awaiting_approval":
            console.print(f"to approve: rempart approve {report.run_id} {s.step_id}  ({s.needs})")
        elif s.status == "awaiting_ack":
            for text in s.instructions:
                console.print(f"[bold]to do by hand[/bold] ({s.step_id}): {text}")
            console.print(f"when done: rempart ack {report.run_id} {s.step_id} --comment '…'")
    if report.status == "failed":

        def names(steps: list[service.StepView]) -> str:
            return ", ".join(f"{s.seq} {s.step_id}" for s in steps) or "nothing"

        failed = [s for s in report.applied if s.status == "failed"]
        done = [s for s in report.applied if s.status != "failed"]
        console.print(
            f"[red]stopped at a safe point[/red]; in place: {names(done)} — failed, may be partly in place: "
            f"{names(failed)} — not applied: {names(report.not_applied)}"
        )


def _finish(report: service.RunReport) -> None:
    """Show the run; a failed run makes the command fail too (scripts and operators see it at once)."""
    _render_run(report)
    if report.status == "failed":
        raise typer.Exit(1)


@plan_app.command("check")
@report_errors
def plan_check(
    file: Path,
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory", "-i", envvar="REMPART_INVENTORY", help="also check against this group.yaml"
        ),
    ] = None,
) -> None:
    """Validate a plan file (and its references to the group); print every mistake with line and field."""
    group = load_group(inventory) if inventory else None
    loaded = load_plan(file, group)
    steps = sum(len(b.steps) for b in loaded.plan.playbooks)
    console.print(
        f"[green]ok[/green] {file}: {len(loaded.plan.playbooks)} playbook(s), {steps} steps, "
        f"{len(loaded.plan.people)} people" + (" (checked against the inventory)" if group else "")
    )


@plan_app.command("show")
@report_errors
def plan_show(
    incident: str,
    plan: PlanFile,
    inventory: Inventory,
    adapters: AdaptersFile = None,
    undo: Annotated[bool, typer.Option("--undo", help="also show each step's rollback commands")] = False,
) -> None:
    """Dry run: exactly which commands or calls the plan would make for INCIDENT, in order."""
    group = load_group(inventory)
    cfg = registry.load_config(adapters) if adapters else None
    store = open_case_store()
    reading_incident(store, incident)
    dry = service.dry_run(
        store, incident, load_plan(plan, group), group, registry.for_review(cfg)
    )
    _render_dry(dry, undo)


def _render_ops(ops: list[Operation], mark: str) -> None:
    for op in ops:  # markup off: commands and JSON are printed exactly as they would run
        console.print(f"   {mark} {op.render()}", soft_wrap=True, markup=False)
        if op.stdin:
            console.print(f"     stdin: {op.stdin}", soft_wrap=True, markup=False)


def _render_dry(dry: service.DryRun, undo: bool = False) -> None:
    console.print(
        f"[bold]{dry.incident_ref}[/bold] → playbook [bold]{dry.playbook}[/bold] « {dry.title} » "
        f"on {', '.join(dry.establishments)}"
    )
    for s in dry.steps:
        console.print(
            f"\n[bold]{s.seq}. {s.step_id}[/bold] — {s.title}\n   adapter {s.adapter}, approval: "
            f"{s.approval}; targets: {', '.join(s.targets) or 'none in scope'}"
        )
        _render_ops(s.operations, "$")
        if undo:
            _render_ops(s.rollback, "undo $")


@report_errors
def respond(
    incident: str,
    plan: PlanFile,
    inventory: Inventory,
    adapters: AdaptersFile = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show, change nothing")] = False,
) -> None:
    """Run (or resume) the security plan on INCIDENT."""
    group = load_group(inventory)
    loaded = load_plan(plan, group)
    if dry_run:
        cfg = registry.load_config(adapters) if adapters else None
        _render_dry(service.dry_run(open_case_store(), incident, loaded, group, registry.for_review(cfg)))
        return
    store = open_case_store()
    actor = acting(store).who
    previous = service.latest_run(store, incident)
    if adapters is None and previous is not None:  # resuming: reach the same systems as before
        found = service.adapters_source(store, previous)
        adapters = Path(found) if found else None
    source = str(adapters.resolve()) if adapters else None
    report = service.respond(
        store, incident, loaded, group, _adapters(adapters), actor, adapters_source=source
    )
    _finish(report)


@report_errors
def approve(run: int, step: str, adapters: AdaptersFile = None) -> None:
    """Approve STEP of RUN as the logged-in account (second factor under 5 min: `rempart reauth`); the
    run goes on when the step has the approvals it needs."""
    store = open_case_store()
    actor = acting(store)
    _finish(service.approve(store, run, step, actor, _run_adapters(store, run, adapters)))


@report_errors
def reject(
    run: int,
    step: str,
    reason: Annotated[str, typer.Option("--reason")],
    adapters: AdaptersFile = None,
) -> None:
    """Refuse STEP of RUN: it will not be applied."""
    store = open_case_store()
    actor = acting(store)
    _finish(service.reject(store, run, step, actor, reason, _run_adapters(store, run, adapters)))


@report_errors
def ack(
    run: int,
    step: str,
    comment: Annotated[str, typer.Option("--comment")],
    adapters: AdaptersFile = None,
) -> None:
    """Acknowledge that a manual STEP of RUN was done."""
    store = open_case_store()
    actor = acting(store)
    _finish(service.ack(store, run, step, actor, comment, _run_adapters(store, run, adapters)))


@report_errors
def rollback(
    run: int,
    step: Annotated[str | None, typer.Argument()] = None,
    adapters: AdaptersFile = None,
) -> None:
    """Undo RUN (every step, in reverse order) or only STEP (re-opens what the run closed: a second factor
    under 5 min is needed, as for an approval)."""
    store = open_case_store()
    who = acting(store)
    if not who.fresh_second_factor(datetime.now(UTC)):
        raise StateError("rolling back needs a second factor from the last 5 minutes", hint="rempart reauth")
    actor = who.who
    report = service.rollback(store, run, step, actor, _run_adapters(store, run, adapters))
    for r in report.results:
        console.print(
            ("[green]ok[/green] " if r.ok else "[red]failed[/red] ")
            + f"step {r.seq} {r.step_id}: "
            + r.message
        )
    for line in report.by_hand:
        console.print(f"[yellow]to undo by hand[/yellow] {line}")
    _render_run(service.show_run(store, run))
    if not report.ok:
        raise typer.Exit(1)


@run_app.command("list")
@report_errors
def run_list(
    incident: Annotated[str | None, typer.Argument(help="only this incident's runs")] = None,
) -> None:
    """List plan runs, newest first."""
    table = Table(show_edge=False)
    for col in ("run", "incident", "establishment", "playbook", "status", "started (UTC)", "by"):
        table.add_column(col)
    store = open_case_store()
    actor = reading_incident(store, incident) if incident is not None else reading(store)
    for r in service.list_runs(store, incident):
        if not sees_incident(actor, r.incident_ref, r.establishment):
            continue
        table.add_row(
            str(r.run_id),
            r.incident_ref,
            r.establishment,
            r.playbook,
            r.status,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            r.created_by,
        )
    console.print(table)


@run_app.command("show")
@report_errors
def run_show(run: int) -> None:
    """Show RUN: each step, its status, approvals, errors."""
    store = open_case_store()
    actor = reading(store)
    report = service.show_run(store, run)
    check_incident(actor, report.incident_ref, report.establishment)
    _render_run(report)


@journal_app.command("verify")
@report_errors
def journal_verify(
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="check against this copy of the anchor (e.g. one kept on another host) instead of "
            "REMPART_JOURNAL_ANCHOR",
        ),
    ] = None,
) -> None:
    """Check the chain, each entry's MAC and the anchor; name every entry altered, removed or inserted.

    Exit status 1 when anything is wrong, 0 when the journal is intact."""
    if anchor is not None and not anchor.is_file():
        raise InputError("no anchor file here", Location(anchor), "give the path of a copy of journal.anchor")
    # no login asked: the verdict shows no entry's content, and it must still speak when the accounts
    # table is what an attacker rewrote
    with open_case_store().session() as s:
        report = journal.check(s, FileAnchor(anchor) if anchor is not None else None)
    for note in report.notices:
        console.print(f"[yellow]note[/yellow] {note}", soft_wrap=True)
    if report.problems:
        for p in report.problems:
            console.print(Text.assemble(("broken", "red"), f" {p}"), soft_wrap=True)
        console.print(
            f"[red]journal NOT intact[/red]: {len(report.problems)} problem(s) in {report.entries} entries "
            f"(key {report.key_path}, anchor {report.anchor})",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(
        f"[green]ok[/green] journal intact: {report.entries} entries, chain verified, "
        f"{report.authenticated} authenticated with key {report.key_path}, anchor {report.anchor} agrees",
        soft_wrap=True,
    )


@journal_app.command("show")
@report_errors
def journal_show(
    subject: Annotated[str | None, typer.Option(help="subject prefix, e.g. run/1")] = None,
    full: Annotated[bool, typer.Option(help="print whole payloads")] = False,
    action: Annotated[
        str | None, typer.Option(help="only this action, e.g. patient_data.access (who saw which patients)")
    ] = None,
) -> None:
    """Print the journal (optionally only entries about SUBJECT, or of one ACTION)."""
    store = open_case_store()
    group_wide(store, "the journal")
    with store.session() as s:
        for row in journal.entries(s, subject):
            if action is not None and row.action != action:
                continue
            payload = row.payload if full else row.payload[:140]
            console.print(
                f"{row.seq:>5} {row.at:%Y-%m-%d %H:%M:%S} {row.actor:<14} {row.action:<22} "
                f"{row.subject:<16} {payload}",
                soft_wrap=True,
                markup=False,
            )


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")
    app.add_typer(run_app, name="run")
    app.add_typer(journal_app, name="journal")
    for name, func in (
        ("respond", respond),
        ("approve", approve),
        ("reject", reject),
        ("ack", ack),
        ("rollback", rollback),
    ):
        app.command(name)(func)


def standalone() -> typer.Typer:
    """Only these commands, without importing every stage (the crash test starts this many times)."""
    app = typer.Typer(name="rempart", no_args_is_help=True, pretty_exceptions_enable=False)
    register(app)
    return app


if __name__ == "__main__":
    standalone()()
