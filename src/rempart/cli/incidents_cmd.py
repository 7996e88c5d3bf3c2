"""`rempart incidents` and `rempart incident show REF`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from rempart.cli.auth import reading, reading_incident
from rempart.cli.console import console, report_errors
from rempart.cli.options import open_case_store
from rempart.detect.incidents import get_incident
from rempart.identities.authorize import sees_incident
from rempart.store.models.core import IncidentRow

app = typer.Typer(help="Incidents in the case store.", no_args_is_help=True)

DbOption = Annotated[
    str | None, typer.Option("--db", help="case store URL (default: REMPART_DATABASE_URL or SQLite)")
]




@report_errors
def list_incidents(db: DbOption = None) -> None:
    """List every incident: reference, establishment, severity, tactics, first and last alert."""
    store = open_case_store(db)
    actor = reading(store)
    with store.session() as s:
        rows = [
            r for r in s.execute(select(IncidentRow).order_by(IncidentRow.id)).scalars()
            if sees_incident(actor, r.ref, r.establishment)
        ]
        table = Table(show_edge=False)
        for col in ("incident", "établissement", "statut", "sévérité", "alertes", "tactiques", "du", "au"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r.ref,
                r.establishment or "(hors inventaire)",
                r.status,
                r.severity,
                str(len(r.alerts)),
                ", ".join(r.tactics),
                f"{r.first_seen:%d/%m %H:%M}",
                f"{r.last_seen:%d/%m %H:%M}",
            )
    console.print(table if rows else "no incident in the case store")


@app.command("show")
@report_errors
def show(ref: str, db: DbOption = None) -> None:
    """Show one incident with its alerts."""
    store = open_case_store(db)
    reading_incident(store, ref)
    with store.session() as s:
        r = get_incident(s, ref)
        console.print(
            f"[bold]{r.ref}[/bold] — {r.establishment or '(hors inventaire)'} — {r.severity} — {r.status}\n"
            f"hôtes : {', '.join(r.hosts)}\ntactiques : {', '.join(r.tactics)}\n"
            f"techniques : {', '.join(r.techniques)}"
        )
        table = Table(show_edge=False)
        for col in ("heure (UTC)", "niveau", "règle", "hôte", "événements"):
            table.add_column(col)
        for a in r.alerts:
            table.add_row(f"{a.time:%d/%m %H:%M:%S}", a.level, a.title, a.host or "", str(len(a.events)))
        console.print(table)
