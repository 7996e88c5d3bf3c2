"""The `rempart` command. Each stage adds its commands from its own module.

A command's module is imported only when that command runs (:class:`LazyGroup`): ``rempart hunt`` does not
pay for the PDF kits, the notification catalogue or the web of SQLAlchemy models of the other stages
(the whole CLI took 2.5 s to start, a hunt of the EVTX samples 1 s). ``rempart --help`` lists every
command, so it imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import typer
from typer._click.core import Command, Context
from typer.core import TyperGroup


def _demo(app: typer.Typer) -> None:
    from rempart.cli import demo_cmd

    app.command("demo")(demo_cmd.demo)


def _inventory(app: typer.Typer) -> None:
    from rempart.cli import inventory_cmd

    app.add_typer(inventory_cmd.app, name="inventory")


def _ingest(app: typer.Typer) -> None:
    from rempart.cli import ingest_cmd

    app.command("ingest")(ingest_cmd.ingest)


def _hunt(app: typer.Typer) -> None:
    from rempart.cli import hunt_cmd

    app.command("hunt")(hunt_cmd.hunt_command)


def _rules(app: typer.Typer) -> None:
    from rempart.cli import rules_cmd

    app.add_typer(rules_cmd.app, name="rules")


def _incidents(app: typer.Typer) -> None:
    from rempart.cli import incidents_cmd

    app.command("incidents")(incidents_cmd.list_incidents)
    app.add_typer(incidents_cmd.app, name="incident")


def _continuity(app: typer.Typer) -> None:
    from rempart.cli import continuity_cmd

    app.add_typer(continuity_cmd.snapshot_app, name="snapshot")
    app.add_typer(continuity_cmd.kits_app, name="kits")
    app.add_typer(continuity_cmd.forms_app, name="forms")
    app.command("reconcile")(continuity_cmd.reconcile)
    app.add_typer(continuity_cmd.continuity_app, name="continuity")


def _notify(app: typer.Typer) -> None:
    from rempart.cli import notify_cmd

    app.add_typer(notify_cmd.log_app, name="log")
    app.add_typer(notify_cmd.t0_app, name="t0")
    app.command("obligations")(notify_cmd.obligations)
    app.add_typer(notify_cmd.app, name="notify")


def _registered_by(module: str) -> Callable[[typer.Typer], None]:
    """The installer of a module that registers its own commands (``register(app)``)."""
    def install(app: typer.Typer) -> None:
        importlib.import_module(f"rempart.cli.{module}").register(app)

    return install


# `rempart --help` lists the commands by lifecycle stage, in the order an incident goes through them
PANELS = {
    "0. Démonstration et inventaire": ("demo", "inventory"),
    "Identités et console": ("login", "logout", "whoami", "reauth", "accounts", "token", "console"),
    "1. Détection": ("ingest", "hunt", "rules", "serve", "incidents", "incident"),
    "2. Confinement": ("plan", "respond", "approve", "reject", "ack", "rollback", "run", "journal"),
    "3. Mode dégradé": ("snapshot", "kits", "forms", "reconcile", "continuity"),
    "4. Notifications": ("log", "t0", "obligations", "notify"),
    "5. Investigation": ("timeline", "sweep", "exfil", "findings", "evidence"),
    "6. Réouverture et clôture": ("gates", "attest", "reopen", "close", "report"),
}

# each command → what registers it (and the other commands of its module); tests/cli/test_app.py checks
# that this list and what the installers register agree
INSTALLERS: dict[str, Callable[[typer.Typer], None]] = {
    "demo": _demo, "inventory": _inventory,
    **dict.fromkeys(("login", "logout", "whoami", "reauth", "accounts", "token"),
                    _registered_by("accounts_cmd")),
    "console": _registered_by("console_cmd"),
    "ingest": _ingest, "hunt": _hunt, "rules": _rules, "serve": _registered_by("serve_cmd"),
    "incidents": _incidents, "incident": _incidents,
    **dict.fromkeys(("plan", "respond", "approve", "reject", "ack", "rollback", "run", "journal"),
                    _registered_by("respond_cmd")),
    **dict.fromkeys(("snapshot", "kits", "forms", "reconcile", "continuity"), _continuity),
    **dict.fromkeys(("log", "t0", "obligations", "notify"), _notify),
    **dict.fromkeys(("timeline", "sweep", "exfil", "findings", "evidence"),
                    _registered_by("investigate_cmd")),
    **dict.fromkeys(("gates", "attest", "reopen", "close", "report"), _registered_by("recover_cmd")),
}


def _install(app: typer.Typer, install: Callable[[typer.Typer], None]) -> None:
    install(app)
    panel_of = {name: panel for panel, names in PANELS.items() for name in names}
    for command in app.registered_commands:
        command.rich_help_panel = panel_of.get(command.name or "", command.rich_help_panel)
    for group in app.registered_groups:
        group.rich_help_panel = panel_of.get(group.name or "", group.rich_help_panel)


def full_app() -> typer.Typer:
    """Every command registered at once, as a plain Typer app (imports every stage)."""
    whole = typer.Typer(name="rempart", pretty_exceptions_enable=False)
    for install in dict.fromkeys(INSTALLERS.values()):
        _install(whole, install)
    return whole


class LazyGroup(TyperGroup):
    """The top-level group: a command is built from its module the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        # in the order Typer gives a fully registered app: its commands, then its groups
        loaded = [(name, self.get_command(ctx, name)) for name in INSTALLERS]
        plain = [name for name, command in loaded if not isinstance(command, TyperGroup)]
        return plain + [name for name, command in loaded if isinstance(command, TyperGroup)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in INSTALLERS:
            part = typer.Typer(pretty_exceptions_enable=False)
            _install(part, INSTALLERS[cmd_name])
            part.callback()(lambda: None)  # always a group, even for a module of one command
            group = typer.main.get_group(part)
            assert isinstance(group, TyperGroup)
            for name, command in group.commands.items():
                self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] not in INSTALLERS:
            self.list_commands(ctx)  # a typo: every name known, for "Did you mean…"
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="rempart",
    cls=LazyGroup,
    help="Executes a hospital group's IT security plan: detect, contain, keep care going, notify, "
    "investigate, recover.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _rempart() -> None:
    """Executes a hospital group's IT security plan: detect, contain, keep care going, notify,
    investigate, recover."""


def main() -> None:
    app()
