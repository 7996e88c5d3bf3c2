"""`rempart inventory check FILE`."""

from __future__ import annotations

from pathlib import Path

import typer

from rempart.cli.console import console, report_errors
from rempart.inventory import load_group

app = typer.Typer(help="Check the group description (group.yaml).", no_args_is_help=True)


@app.command("check")
@report_errors
def check(file: Path) -> None:
    """Validate FILE; print what it describes or every mistake with its line and field."""
    group = load_group(file)
    n_assets = sum(len(e.assets) for e in group.establishments)
    n_access = sum(len(e.external_accesses) for e in group.establishments)
    console.print(
        f"[green]ok[/green] {file}: group '{group.name}', {len(group.poles)} poles, "
        f"{len(group.establishments)} establishments, {n_assets} assets, {n_access} external accesses"
    )
    for pole in group.poles:
        names = ", ".join(e.name for e in pole.establishments)
        console.print(f"  {pole.name}: {names}")
