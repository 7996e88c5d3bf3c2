"""Rich tables for the clocks and the sendings, shared by the CLI and the demo (presentation only)."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

from rempart.notify.clocks import format_local, format_remaining, format_short
from rempart.notify.obligations import Clock, ClockStatus
from rempart.notify.service import SendingView

_STYLE = {
    ClockStatus.DONE: "green",
    ClockStatus.DUE: "yellow",
    ClockStatus.OVERDUE: "bold red",
    ClockStatus.WAITING: "dim",
    ClockStatus.NOT_NEEDED: "dim",
}


def clocks_table(clocks: list[Clock], now: datetime, title: str | None = None) -> Table:
    table = Table(title=title, show_edge=False, title_justify="left")
    for col in (
        "établissement",
        "obligation / étape",
        "destinataire",
        "échéance (Paris)",
        "reste",
        "statut",
    ):
        table.add_column(col, overflow="fold")
    for c in clocks:
        remaining = c.remaining(now)
        if c.status == ClockStatus.DONE and c.done_at:
            rest = f"fait le {format_short(c.done_at)}" + (" (en retard)" if c.done_late else "")
        elif remaining is not None:
            rest = format_remaining(remaining)
        else:
            rest = c.note or "—"
        due = format_short(c.due) if c.due else (c.note or "—")
        if c.status == ClockStatus.WAITING and c.due:
            due += " (prév.)"
        style = _STYLE[c.status]
        table.add_row(
            c.establishment,
            f"{c.obligation.id} / {c.stage.id}",
            c.recipient,
            due,
            rest,
            f"[{style}]{c.status.french}[/{style}]",
        )
    return table


def sendings_table(views: list[SendingView]) -> Table:
    table = Table(show_edge=False)
    for col in (
        "n°",
        "quand (Paris)",
        "obligation / étape",
        "canal",
        "destinataires",
        "statut",
        "Message-ID / réf.",
        "accusés",
    ):
        table.add_column(col, overflow="fold")
    for v in views:
        r = v.row
        status = {
            "sent": "[green]envoyé[/green]",
            "filed": "[green]fait[/green]",
            "failed": f"[red]ÉCHEC[/red] {(r.error or '').split(' — ')[0][:90]}",
            "sending": "[yellow]en cours[/yellow]",
        }
        if v.stale:
            newer = ", ".join(v.newer_findings)
            status[r.status] += f" [yellow]⚠ nouvelles conclusions ({newer}) : complément à envoyer[/yellow]"
        acks = "; ".join(f"{a.by} ({a.reference}) {format_local(a.at)[:16]}" for a in v.acks) or "—"
        table.add_row(
            str(r.id),
            format_local(r.attempted_at)[:16],
            f"{r.obligation} / {r.stage}",
            r.channel,
            ", ".join(x.split(" — ")[0].split(" (")[0] for x in r.recipients),
            status.get(r.status, r.status),
            _short_id(r.message_id) if r.message_id else (r.reference or ""),
            acks,
        )
    return table


def _short_id(message_id: str) -> str:
    """'<1795899153.…@secours.example>': enough to recognise it; the full id is in the store and journal."""
    local, _, domain = message_id.strip("<>").partition("@")
    return f"<{local.split('.')[0]}…@{domain}>"
