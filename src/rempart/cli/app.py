"""The `rempart` command. Each stage adds its commands from its own module."""

from __future__ import annotations

import typer

from rempart.cli import (
    accounts_cmd,
    continuity_cmd,
    demo_cmd,
    hunt_cmd,
    incidents_cmd,
    ingest_cmd,
    inventory_cmd,
    investigate_cmd,
    notify_cmd,
    recover_cmd,
    respond_cmd,
    rules_cmd,
)

app = typer.Typer(
    name="rempart",
    help="Executes a hospital group's IT security plan: detect, contain, keep care going, notify, "
    "investigate, recover.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo_cmd.demo)
accounts_cmd.register(app)
app.add_typer(inventory_cmd.app, name="inventory")
app.command("ingest")(ingest_cmd.ingest)
app.command("hunt")(hunt_cmd.hunt_command)
app.add_typer(rules_cmd.app, name="rules")
app.command("incidents")(incidents_cmd.list_incidents)
app.add_typer(incidents_cmd.app, name="incident")
respond_cmd.register(app)
app.add_typer(continuity_cmd.snapshot_app, name="snapshot")
app.add_typer(continuity_cmd.kits_app, name="kits")
app.add_typer(continuity_cmd.forms_app, name="forms")
app.command("reconcile")(continuity_cmd.reconcile)
app.add_typer(continuity_cmd.continuity_app, name="continuity")
app.add_typer(notify_cmd.log_app, name="log")
app.add_typer(notify_cmd.t0_app, name="t0")
app.command("obligations")(notify_cmd.obligations)
app.add_typer(notify_cmd.app, name="notify")
investigate_cmd.register(app)
recover_cmd.register(app)

# `rempart --help` lists the commands by lifecycle stage, in the order an incident goes through them
PANELS = {
    "0. Démonstration et inventaire": ("demo", "inventory"),
    "Identités": ("login", "logout", "whoami", "reauth", "accounts", "token"),
    "1. Détection": ("ingest", "hunt", "rules", "incidents", "incident"),
    "2. Confinement": ("plan", "respond", "approve", "reject", "ack", "rollback", "run", "journal"),
    "3. Mode dégradé": ("snapshot", "kits", "forms", "reconcile", "continuity"),
    "4. Notifications": ("log", "t0", "obligations", "notify"),
    "5. Investigation": ("timeline", "sweep", "exfil", "findings", "evidence"),
    "6. Réouverture et clôture": ("gates", "attest", "reopen", "close", "report"),
}


def _assign_panels() -> None:
    panel_of = {name: panel for panel, names in PANELS.items() for name in names}
    for command in app.registered_commands:
        command.rich_help_panel = panel_of.get(command.name or "", command.rich_help_panel)
    for group in app.registered_groups:
        group.rich_help_panel = panel_of.get(group.name or "", group.rich_help_panel)


_assign_panels()


def main() -> None:
    app()
