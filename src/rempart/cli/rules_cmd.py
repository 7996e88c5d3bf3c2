"""`rempart rules check DIR…`: load and compile Sigma rules, report each failure and the totals (and the
group's tuning); `rempart rules diff OLD NEW`: what a new release of the rules changes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from rempart.cli.console import console, err_console, report_errors
from rempart.detect import DetectionPlan, compile_rules, load_rules
from rempart.detect.rulediff import RuleDiff, diff_rules
from rempart.detect.tuning import Tuning, load_tuning
from rempart.errors import InputError, Location

app = typer.Typer(help="Sigma rules.", no_args_is_help=True)

# the group's tuning folder (Sigma filters, overrides.yaml): --tuning, or REMPART_TUNING
TuningDir = Annotated[
    Path | None,
    typer.Option("--tuning", envvar="REMPART_TUNING",
                 help="The group's tuning folder: Sigma filters and overrides.yaml (see examples/tuning)."),
]


def tuning_from(folder: Path | None) -> Tuning | None:
    if folder is None:
        return None
    if not folder.is_dir():
        raise InputError("no such tuning folder", Location(folder),
                         "give the folder of the group's Sigma filters and overrides.yaml")
    return load_tuning(folder)


@app.command("check")
@report_errors
def check(
    dirs: Annotated[list[Path], typer.Argument(help="Folders or files of Sigma rules.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List the rules that compile.")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Compiled-rule cache (default: none).")] = None,
    tuning_dir: TuningDir = None,
) -> None:
    """Exit 0 when every rule loads and compiles (and every filter and override of --tuning is valid
    and names known rules), 1 otherwise. With --tuning, lists the rules each filter changes."""
    for d in dirs:
        if not d.exists():
            raise InputError("no such rules folder or file", Location(d))
    tuning = tuning_from(tuning_dir)
    ruleset = load_rules(dirs, cache_dir=cache_dir, tuning=tuning)
    with Progress(TextColumn("rules compiled"), BarColumn(), MofNCompleteColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("compile", total=len(ruleset.sources))
        plan = compile_rules(ruleset, cache_dir,
                             on_progress=lambda done, total: bar.update(task, completed=done))
    if verbose:
        for rule in plan.rules:
            console.print(f"[green]ok[/green]     {rule.path}: {rule.title}", soft_wrap=True)
    if tuning is not None:
        print_tuning(tuning, plan)
    problems = [*plan.load_errors, *plan.failures]
    for p in problems:
        console.print(f"[red]failed[/red] {p}", soft_wrap=True, highlight=False)
    for t in plan.tuning_problems:
        console.print(f"[red]tuning[/red] {t}", soft_wrap=True, highlight=False)
    ok = len(plan.rules)
    total = ok + len(problems)
    rate = 100.0 * ok / total if total else 100.0
    console.print(
        f"{len(ruleset.sources)} files: {ok} rules ok ({len(plan.correlations)} correlations), "
        f"{len(plan.load_errors)} failed to load, {len(plan.failures)} failed to compile — {rate:.1f}% ok"
        + (f"; tuning: {len(tuning.filters)} filters, {len(tuning.overrides)} overrides, "
           f"{len(plan.tuning_problems)} problems" if tuning is not None else "")
    )
    raise typer.Exit(1 if problems or plan.tuning_problems else 0)


def print_tuning(tuning: Tuning, plan: DetectionPlan) -> None:
    """Each filter with the rules it changes, and each override as applied."""
    for f in tuning.filters:
        touched = [r for r in plan.rules if f.label in r.filters]
        console.print(f"[cyan]filter[/cyan] {f.path}: {f.filter.title} — {len(touched)} rules",
                      soft_wrap=True, highlight=False)
        for r in touched:
            console.print(f"         {r.label}  {r.title}", soft_wrap=True, highlight=False)
    rules = {ref: r for r in plan.rules for ref in (r.id, r.name) if ref}
    unknown = {p.field for p in plan.tuning_problems}
    for ref, o in tuning.overrides.items():
        rule = rules.get(ref)
        if f"rules.{ref}" in unknown:
            continue  # named no known rule: listed among the tuning problems
        if rule is None:
            what = "disabled"
        else:
            what = ", ".join(x for x in (o.level and f"level {rule.level}",
                                         o.status and f"status {rule.status}") if x) or "no change"
        reason = f" ({o.reason})" if o.reason else ""
        console.print(f"[cyan]override[/cyan] {ref}: {what}{reason}", soft_wrap=True, highlight=False)


@app.command("diff")
@report_errors
def diff(
    old: Annotated[Path, typer.Argument(help="The rules as they were (e.g. the previous SigmaHQ release).")],
    new: Annotated[Path, typer.Argument(help="The rules as they are now.")],
    tuning_dir: TuningDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
) -> None:
    """Rules added, removed and changed between OLD and NEW, by rule id, saying what changed; with
    --tuning, the group's filters and overrides that name a removed or changed rule."""
    for d in (old, new):
        if not d.exists():
            raise InputError("no such rules folder or file", Location(d))
    result = diff_rules(old, new, tuning_from(tuning_dir))
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    print_diff(result)


def print_diff(result: RuleDiff) -> None:
    for e in result.added:
        console.print(f"[green]added[/green]    {e.key}  {e.title}  ({e.path})", soft_wrap=True,
                      highlight=False)
    for e in result.removed:
        console.print(f"[red]removed[/red]  {e.key}  {e.title}  ({e.path})", soft_wrap=True,
                      highlight=False)
    for c in result.changed:
        console.print(f"[yellow]changed[/yellow]  {c.new.key}  {c.new.title}: {c.describe()}", soft_wrap=True,
                      highlight=False)
    for note in result.tuning_notes:
        console.print(f"[cyan]tuning[/cyan]   {note}", soft_wrap=True, highlight=False)
    unread = {side: len(ps) for side, ps in result.problems.items() if ps}
    console.print(
        f"{len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed, "
        f"{result.unchanged} unchanged"
        + "".join(f"; {n} files or rules of {side} not read (rempart rules check lists them)"
                  for side, n in unread.items())
    )
