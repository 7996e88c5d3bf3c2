"""`rempart rules check DIR…`: load and compile Sigma rules, report each failure and the totals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from rempart.cli.console import console, err_console, report_errors
from rempart.detect import compile_rules, load_rules
from rempart.errors import InputError, Location

app = typer.Typer(help="Sigma rules.", no_args_is_help=True)


@app.command("check")
@report_errors
def check(
    dirs: Annotated[list[Path], typer.Argument(help="Folders or files of Sigma rules.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List the rules that compile.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Compiled-rule cache (default: none).")] = None,
) -> None:
    """Exit 0 when every rule loads and compiles, 1 otherwise."""
    for d in dirs:
        if not d.exists():
            raise InputError("no such rules folder or file", Location(d))
    ruleset = load_rules(dirs, cache_dir=cache_dir)
    with Progress(TextColumn("rules compiled"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("compile", total=len(ruleset.sources))
        plan = compile_rules(ruleset, cache_dir,
                             on_progress=lambda done, total: bar.update(task, completed=done))
    if verbose:
        for rule in plan.rules:
            console.print(f"[green]ok[/green]     {rule.path}: {rule.title}", soft_wrap=True)
    problems = [*plan.load_errors, *plan.failures]
    for p in problems:
        console.print(f"[red]failed[/red] {p}", soft_wrap=True, highlight=False)
    ok = len(plan.rules)
    total = ok + len(problems)
    rate = 100.0 * ok / total if total else 100.0
    console.print(
        f"{len(ruleset.sources)} files: {ok} rules ok ({len(plan.correlations)} correlations), "
        f"{len(plan.load_errors)} failed to load, {len(plan.failures)} failed to compile — {rate:.1f}% ok"
    )
    raise typer.Exit(1 if problems else 0)
