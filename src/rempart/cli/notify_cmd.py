"""`rempart log …`, `rempart t0 set …`, `rempart obligations INCIDENT`, `rempart notify …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rempart.adapters.smtp import SMTPRelay, load_relay_settings
from rempart.cli.auth import acting, acting_for, reading_incident
from rempart.cli.console import console, report_errors
from rempart.cli.options import Inventory, open_case_store, parse_time
from rempart.inventory import load_group
from rempart.notify import service
from rempart.notify.catalogue import load_catalogue
from rempart.notify.clocks import format_local
from rempart.notify.display import clocks_table, sendings_table
from rempart.notify.facts import KNOWN_FACTS
from rempart.settings import Settings

log_app = typer.Typer(help="The incident log (main courante): notes and decisions.", no_args_is_help=True)
t0_app = typer.Typer(help="T0: when the organisation became aware, per establishment.", no_args_is_help=True)
app = typer.Typer(help="Notifications: drafts, sending, filings, acknowledgements.", no_args_is_help=True)

Db = Annotated[
    str | None, typer.Option("--db", help="case store URL (default: REMPART_DATABASE_URL or SQLite)")
]
CatOpt = Annotated[
    Path | None, typer.Option("--catalogue", envvar="REMPART_CATALOGUE", help="obligations catalogue (YAML)")
]
Now = Annotated[str | None, typer.Option("--now", help="compute clocks at this time (ISO 8601), default now")]
Est = Annotated[
    str | None, typer.Option("--establishment", help="establishment id (default: the incident's)")
]
DEFAULT_GROUP = Path("group.yaml")


def _out(out: Path | None, incident: str) -> Path:
    return out or Settings().home / "notifications" / incident


@log_app.command("add")
@report_errors
def log_add(
    incident: str,
    text: str,
    kind: Annotated[str, typer.Option(help="note or decision")] = "note",
    db: Db = None,
) -> None:
    """Add a note or a decision to the incident log (signed by the logged-in account)."""
    store = open_case_store(db)
    author = acting(store).who
    row = service.add_log_entry(store, incident, text, author, kind)
    console.print(f"[green]ok[/green] {incident} #{row.id} {format_local(row.at)} {kind} — {author}")


@log_app.command("show")
@report_errors
def log_show(incident: str, db: Db = None) -> None:
    """Show the incident log in time order."""
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("quand (Paris)", "source", "type", "qui", "texte"):
        table.add_column(col, overflow="fold")
    store = open_case_store(db)
    reading_incident(store, incident)
    for e in service.log_entries(store, incident):
        table.add_row(format_local(e.at)[:16], e.source, e.kind, e.author, e.text)
    console.print(table)


@t0_app.command("set")
@report_errors
def t0_set(
    incident: str,
    establishment: str,
    at: Annotated[str, typer.Option("--at", help="when the organisation became aware (ISO 8601 with zone)")],
    note: Annotated[str, typer.Option(help="how it became aware")] = "",
    group: Inventory = DEFAULT_GROUP,
    db: Db = None,
) -> None:
    """Record T0 for one establishment (default T0: when the incident was opened)."""
    store = open_case_store(db)
    author = acting_for(store, establishment)
    row = service.set_t0(store, incident, establishment, parse_time(at), author, load_group(group), note)
    console.print(f"[green]ok[/green] T0 {incident} / {establishment} = {format_local(row.at)}")


@report_errors
def obligations(
    incident: str, group: Inventory = DEFAULT_GROUP, catalogue: CatOpt = None, now: Now = None, db: Db = None
) -> None:
    """Every applicable obligation of the incident, with its deadline and the time left."""
    when = parse_time(now)
    store = open_case_store(db)
    reading_incident(store, incident)
    clocks = service.compute_clocks(
        store, incident, load_group(group), load_catalogue(catalogue), when
    )
    console.print(clocks_table(clocks, when, title=f"{incident} — obligations au {format_local(when)}"))
    late = [c for c in clocks if c.status == "overdue"]
    if late:
        console.print(f"[bold red]{len(late)} échéance(s) dépassée(s)[/bold red]")


@app.command("draft")
@report_errors
def draft(
    incident: str,
    obligation: Annotated[
        str | None, typer.Argument(help="one obligation id (default: every stage due)")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="one stage of the obligation")] = None,
    establishment: Est = None,
    out: Annotated[Path | None, typer.Option("--out", help="directory for the PDF and e-mail text")] = None,
    group: Inventory = DEFAULT_GROUP,
    catalogue: CatOpt = None,
    now: Now = None,
    db: Db = None,
) -> None:
    """Write the French drafts (PDF + e-mail text) from the incident log, inventory and findings."""
    store = open_case_store(db)
    reading_incident(store, incident)
    drafts = service.make_drafts(
        store,
        incident,
        load_group(group),
        load_catalogue(catalogue),
        obligation,
        stage,
        establishment,
        parse_time(now),
    )
    if not drafts:
        console.print("nothing due: see `rempart obligations`")
    for d in drafts:
        pdf, txt = service.write_draft(d, _out(out, incident))
        console.print(f"[green]draft[/green] {pdf}  {txt.name}")
        for f in d.missing:
            console.print(f"   [yellow]à compléter[/yellow] {f.label} ({f.id})")


@app.command("send")
@report_errors
def send(
    incident: str,
    obligation: str,
    to: Annotated[list[str], typer.Option("--to", help="recipient address (repeat for several)")],
    stage: Annotated[str | None, typer.Option(help="stage (default: the first one due)")] = None,
    establishment: Est = None,
    relay: Annotated[
        Path | None, typer.Option(help="out-of-band relay settings (YAML); default: env")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out")] = None,
    group: Inventory = DEFAULT_GROUP,
    catalogue: CatOpt = None,
    db: Db = None,
) -> None:
    """Send a draft through the out-of-band SMTP relay; the attempt is recorded whatever happens."""
    store = open_case_store(db)
    author = acting(store).who
    transport = SMTPRelay(load_relay_settings(relay))
    row = service.send(
        store,
        incident,
        obligation,
        load_group(group),
        transport,
        to,
        author,
        _out(out, incident),
        stage=stage,
        establishment=establishment,
        catalogue=load_catalogue(catalogue),
    )
    console.print(
        f"[green]sent[/green] #{row.id} {row.obligation}/{row.stage} → {', '.join(to)}  {row.message_id}"
    )


@app.command("done")
@report_errors
def done(
    incident: str,
    obligation: str,
    stage: str,
    channel: Annotated[str, typer.Option(help="portal, paper, phone, in_person, internal, letter, email")],
    reference: Annotated[str, typer.Option("--ref", help="receipt number, complaint number, who was called")],
    establishment: Est = None,
    at: Annotated[str | None, typer.Option("--at", help="when it was done (default now)")] = None,
    group: Inventory = DEFAULT_GROUP,
    catalogue: CatOpt = None,
    db: Db = None,
) -> None:
    """Record a stage done by other means (portal filing, paper form, phone call, complaint lodged)."""
    store = open_case_store(db)
    author = acting(store).who
    row = service.record_filing(
        store,
        incident,
        obligation,
        stage,
        load_group(group),
        channel=channel,
        reference=reference,
        author=author,
        establishment=establishment,
        catalogue=load_catalogue(catalogue),
        at=parse_time(at),
    )
    console.print(f"[green]ok[/green] #{row.id} {obligation}/{stage} fait ({channel}, réf. {reference})")


@app.command("ack")
@report_errors
def ack(
    sending: Annotated[str, typer.Argument(help="sending number or Message-ID")],
    by: Annotated[str, typer.Option("--by", help="who acknowledged (the authority)")],
    reference: Annotated[str, typer.Option("--ref", help="their receipt or ticket number")] = "",
    at: Annotated[str | None, typer.Option("--at")] = None,
    db: Db = None,
) -> None:
    """Record an acknowledgement of receipt."""
    store = open_case_store(db)
    author = acting(store).who
    row = service.record_ack(store, sending, by, reference, author, parse_time(at))
    console.print(f"[green]ok[/green] accusé #{row.id} pour l'envoi #{row.sending_id} ({by})")


@app.command("status")
@report_errors
def status(incident: str, db: Db = None) -> None:
    """Every sending and filing of the incident, with acknowledgements."""
    store = open_case_store(db)
    reading_incident(store, incident)
    views = service.sendings(store, incident)
    console.print(sendings_table(views) if views else "no sending yet")


@app.command("fact")
@report_errors
def fact(incident: str, name: str, value: str, db: Db = None) -> None:
    """Record a fact the triggers and drafts use (personal_data, eigs, people_count, …)."""
    store = open_case_store(db)
    service.record_fact(store, incident, name, value, acting(store).who)
    console.print(f"[green]ok[/green] {name} = {value}  ({KNOWN_FACTS[name]})")


@app.command("catalogue")
@report_errors
def catalogue_check(
    file: Annotated[Path | None, typer.Argument(help="default: the packaged one")] = None,
) -> None:
    """Validate an obligations catalogue and list what it holds."""
    cat = load_catalogue(file)
    console.print(f"[green]ok[/green] catalogue version {cat.version}: {len(cat.obligations)} obligations")
    for ob in cat.obligations:
        stages = ", ".join(f"{s.id} ({'sans délai' if s.immediate else s.within})" for s in ob.stages)
        console.print(f"  {ob.id}{'' if ob.enabled else ' [dim](désactivée)[/dim]'}: {stages}")
