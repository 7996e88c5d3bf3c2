"""Run the whole lifecycle on the example group, step after step, and print what happened."""

from __future__ import annotations

import importlib
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import cast

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from rempart.demo.console_info import print_console
from rempart.demo.context import DemoContext, keys_environment
from rempart.demo.generate import now_utc
from rempart.errors import InputError
from rempart.inventory import load_group
from rempart.store.db import Store

# lifecycle order; each module has run(ctx) and may have teardown(ctx)
STEPS: tuple[tuple[str, str], ...] = (
    ("detect", "Détection"),
    ("respond", "Confinement (plan de sécurité)"),
    ("continuity", "Mode dégradé"),
    ("notify", "Notifications"),
    ("investigate", "Investigation"),
    ("recover", "Réouverture et clôture"),
)
ATTACKED = "saint-cyprien"
ATTACKER_IP = "203.0.113.66"
DAYS = 3


def default_group_path() -> Path:
    # an editable install keeps the checkout's examples beside the package
    return Path(__file__).resolve().parents[3] / "examples" / "group.yaml"


def make_context(workdir: Path, group_path: Path, console: Console, attacked: str = ATTACKED) -> DemoContext:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    group = load_group(group_path)
    if attacked not in {e.id for e in group.establishments}:
        raise InputError(
            f"no establishment '{attacked}' in {group_path}", hint="give an id from the inventory"
        )
    now = now_utc()
    return DemoContext(
        workdir=workdir,
        group_path=group_path,
        group=group,
        store=Store(f"sqlite:///{(workdir / 'cases.sqlite').as_posix()}"),
        events_db=workdir / "events.duckdb",
        console=console,
        attacked=attacked,
        attacker_ip=ATTACKER_IP,
        start=now - timedelta(days=DAYS),
        now=now,
    )


def _step(name: str) -> tuple[Callable[[DemoContext], None], Callable[[DemoContext], None] | None]:
    module = importlib.import_module(f"rempart.demo.{name}_step")
    run = cast(Callable[[DemoContext], None], module.run)
    teardown = cast(Callable[[DemoContext], None] | None, getattr(module, "teardown", None))
    return run, teardown


def run_demo(ctx: DemoContext, sigma_dirs: Sequence[Path] = (), steps: Sequence[str] | None = None) -> None:
    ctx.facts["sigma_dirs"] = list(sigma_dirs)
    wanted = [s for s in STEPS if steps is None or s[0] in steps]
    teardowns: list[Callable[[DemoContext], None]] = []
    durations: list[tuple[str, float]] = []
    with keys_environment(ctx):
        try:
            for name, title in wanted:
                ctx.console.print(Rule(f"[bold]{title}[/bold]"))
                run, teardown = _step(name)
                if teardown is not None:
                    teardowns.append(teardown)
                started = time.perf_counter()
                run(ctx)
                durations.append((title, time.perf_counter() - started))
        finally:
            for teardown in reversed(teardowns):
                teardown(ctx)
            ctx.store.close()
    _summary(ctx, durations)


def _summary(ctx: DemoContext, durations: list[tuple[str, float]]) -> None:
    ctx.console.print(Rule("[bold]Chronologie[/bold]"))
    table = Table(show_edge=False)
    table.add_column("heure (UTC)")
    table.add_column("étape")
    table.add_column("quoi")
    for when, stage, what in sorted(ctx.timeline, key=lambda item: item[0]):
        table.add_row(when.strftime("%d/%m %H:%M:%S"), stage, what)
    ctx.console.print(table)
    spent = ", ".join(f"{title} {seconds:.1f} s" for title, seconds in durations)
    ctx.console.print(f"Durées : {spent}")
    ctx.console.print(f"Tout ce que la démo a produit est sous [bold]{ctx.workdir}[/bold]")
    ctx.console.print(
        f"Ses clés de chiffrement (hors du dossier de données, 0700) : [bold]{ctx.keys_dir}[/bold]"
    )
    print_console(ctx)
