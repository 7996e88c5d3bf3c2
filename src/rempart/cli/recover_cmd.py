"""Recovery commands: gates, attest, reopen, close, report. Thin: parse, call ``rempart.recover``, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rempart.adapters import registry
from rempart.cli.auth import acting, reading_incident
from rempart.cli.console import console, report_errors
from rempart.cli.options import Inventory, open_case_store
from rempart.detect.incidents import get_incident
from rempart.inventory import load_group
from rempart.investigate import eventdb
from rempart.recover import closing, gates, report, staging
from rempart.recover.policy import load_policy
from rempart.settings import Settings

Policy = Annotated[
    Path | None,
    typer.Option(
        "--policy", envvar="REMPART_RECOVERY_POLICY", help="re-opening policy (default: shipped one)"
    ),
]
AdaptersFile = Annotated[
    Path | None, typer.Option("--adapters", envvar="REMPART_ADAPTERS", help="adapters.yaml")
]




def _show(gate: gates.Gate) -> None:
    colour = {"closed": "yellow", "reopened": "green", "not_contained": "dim"}[gate.state]
    verdict = "[green]passable[/green]" if gate.passable else "[red]shut[/red]"
    console.print(
        f"[bold]{gate.access.id}[/bold] ({gate.access.kind}) [{colour}]{gate.state}[/{colour}] {verdict}"
    )
    for c in gate.checks:
        mark = "[green]✓[/green]" if c.ok else "[red]✗[/red]"
        console.print(
            f"  {mark} {c.name}: {c.detail}" + (f"\n      → {c.todo}" if not c.ok and c.todo else "")
        )
    approvers = ", ".join(gate.approvers) or "none"
    missing = f"; missing {gate.approval_missing}" if gate.approval_missing else ""
    console.print(f"  approvals: {approvers}{missing}")
    for note in gate.notes:
        console.print(f"  [yellow]note[/yellow]: {note}")


@report_errors
def gates_cmd(incident: str, inventory: Inventory, policy: Policy = None) -> None:
    """The re-opening gate of every external access of the incident's establishment."""
    group, pol = load_group(inventory), load_policy(policy)
    store = open_case_store()
    reading_incident(store, incident)
    with store.session() as s:
        for gate in gates.evaluate_all(s, get_incident(s, incident), group, pol):
            _show(gate)


@report_errors
def attest_cmd(
    incident: str,
    access: str,
    check: str,
    inventory: Inventory,
    policy: Policy = None,
    note: str = "",
) -> None:
    """Attest one check of an access's gate (e.g. credentials_rotated, systems_patched)."""
    group, pol = load_group(inventory), load_policy(policy)
    store = open_case_store()
    user = acting(store).who
    with store.session() as s:
        gates.attest(s, get_incident(s, incident), group, pol, access, check, user, note)
    console.print(f"[green]attested[/green] {check} for {access} by {user}")


@report_errors
def reopen_cmd(
    incident: str,
    access: str,
    inventory: Inventory,
    policy: Policy = None,
    adapters: AdaptersFile = None,
) -> None:
    """Approve re-opening ACCESS (as the logged-in account); re-open it once the gate is passable (one
    access at a time)."""
    store = open_case_store()
    actor = acting(store)
    user = actor.who
    group, pol = load_group(inventory), load_policy(policy)
    built = registry.build(registry.load_config(adapters) if adapters else None)
    if adapters is None:
        console.print(
            "[yellow]no adapters file: the dummy adapter rolls back (nothing outside changes)[/yellow]"
        )
    out = staging.reopen(store, group, pol, incident, access, actor, built)
    if out.reopened:
        console.print(f"[green]re-opened[/green] {access} (stage {out.stage}): {out.detail}")
    elif out.approved_now:
        console.print(f"[yellow]approval recorded[/yellow] for {access} by {user}; waiting: {out.detail}")
    else:
        console.print(f"[red]re-opening of {access} failed[/red]: {out.detail}")
        raise typer.Exit(1)


@report_errors
def close_cmd(incident: str, inventory: Inventory, policy: Policy = None) -> None:
    """Close the incident once every closing task is done (notifications, reconciliation, re-openings)."""
    store = open_case_store()
    user = acting(store).who
    tasks = closing.close(store, load_group(inventory), load_policy(policy), incident, user)
    for t in tasks:
        console.print(f"[green]✓[/green] {t.label}: {t.detail}")
    console.print(f"[green]{incident} closed[/green]")


@report_errors
def report_cmd(
    incident: str,
    inventory: Inventory,
    out: Annotated[Path, typer.Option("--out", "-o")],
    policy: Policy = None,
) -> None:
    """Write the final report PDF (French)."""
    group = load_group(inventory)
    store = open_case_store()
    reading_incident(store, incident)
    path = Path(Settings().event_store_path)
    con = eventdb.connect(path) if path.is_file() else None
    try:
        facts = report.gather(store, group, load_policy(policy), incident, con)
    finally:
        if con is not None:
            con.close()
    report.write_final_report(facts, group, out)
    console.print(f"[green]ok[/green] {out}")


def register(app: typer.Typer) -> None:
    app.command("gates")(gates_cmd)
    app.command("attest")(attest_cmd)
    app.command("reopen")(reopen_cmd)
    app.command("close")(close_cmd)
    app.command("report")(report_cmd)
