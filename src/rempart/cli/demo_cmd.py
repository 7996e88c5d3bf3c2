"""`rempart demo`: the whole lifecycle on the example group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rempart.cli.console import console, report_errors
from rempart.demo.scenario import ATTACKED, default_group_path, make_context, run_demo


@report_errors
def demo(
    workdir: Annotated[Path, typer.Option(help="where the demo writes everything (emptied first)")] = Path(
        "rempart-demo"
    ),
    sigma: Annotated[
        list[Path] | None, typer.Option("--sigma", help="also hunt with these Sigma rule folders (SigmaHQ)")
    ] = None,
    group: Annotated[Path | None, typer.Option(help="group.yaml (default: the example group)")] = None,
    attacked: Annotated[str, typer.Option(help="id of the clinic the intrusion targets")] = ATTACKED,
) -> None:
    """Generate days of logs for the example group with an intrusion on one clinic, then run the plan."""
    ctx = make_context(workdir, group or default_group_path(), console, attacked)
    run_demo(ctx, sigma or [])
