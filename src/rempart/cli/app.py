"""The `rempart` command. Each stage adds its commands from its own module."""

from __future__ import annotations

import typer

from rempart.cli import demo_cmd, incidents_cmd, inventory_cmd, respond_cmd

app = typer.Typer(
    name="rempart",
    help="Executes a hospital group's IT security plan: detect, contain, keep care going, notify, "
    "investigate, recover.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(inventory_cmd.app, name="inventory")
app.command("demo")(demo_cmd.demo)
app.command("incidents")(incidents_cmd.list_incidents)
app.add_typer(incidents_cmd.app, name="incident")

respond_cmd.register(app)


def main() -> None:
    app()
