"""The `rempart` command. Each stage adds its commands from its own module."""

from __future__ import annotations

import typer

from rempart.cli import (
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
app.add_typer(inventory_cmd.app, name="inventory")
app.command("ingest")(ingest_cmd.ingest)
app.command("demo")(demo_cmd.demo)
app.command("hunt")(hunt_cmd.hunt_command)
app.add_typer(rules_cmd.app, name="rules")
app.command("incidents")(incidents_cmd.list_incidents)
app.add_typer(incidents_cmd.app, name="incident")
app.add_typer(notify_cmd.log_app, name="log")
app.add_typer(notify_cmd.t0_app, name="t0")
app.command("obligations")(notify_cmd.obligations)
app.add_typer(notify_cmd.app, name="notify")
app.add_typer(continuity_cmd.snapshot_app, name="snapshot")
app.add_typer(continuity_cmd.kits_app, name="kits")
app.add_typer(continuity_cmd.forms_app, name="forms")
app.command("reconcile")(continuity_cmd.reconcile)
app.add_typer(continuity_cmd.continuity_app, name="continuity")

respond_cmd.register(app)
investigate_cmd.register(app)
recover_cmd.register(app)


def main() -> None:
    app()
