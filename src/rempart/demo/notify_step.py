"""Demo: the notifications of the attacked clinic, with their clocks.

The crisis cell records T0 and a few facts in the incident log, rempart drafts every notification due
(PDF + e-mail text, in French), sends the e-mail ones through an out-of-band relay — here a local SMTP
server started for the demo on 127.0.0.1 — including one refused by the relay and sent again, records
the filings made on portals and in person, then the acknowledgements, and shows the clocks.

For the recover step: ``ctx.facts["notify"]["closing_recipients"]`` holds the addresses for
``rempart.notify.service.send_closing_notices``; recover starts its own
``rempart.adapters.smtp_sink.LocalSMTPServer`` to send the CSP notice of resolution and the NIS2 final report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from rempart.adapters.smtp import RelaySettings, SMTPRelay
from rempart.adapters.smtp_sink import LocalSMTPServer
from rempart.demo.accounts import who as logged_in
from rempart.demo.context import DemoContext
from rempart.notify import service
from rempart.notify.catalogue import load_catalogue
from rempart.notify.clocks import format_local
from rempart.notify.display import clocks_table, sendings_table
from rempart.notify.obligations import ClockStatus
from rempart.notify.transport import DeliveryError

SENDER = "cellule-crise@secours.horizon-sante.example"  # the out-of-band relay's domain, not the group's mail


def _addresses(ctx: DemoContext) -> dict[str, str]:
    region = ctx.group.establishment(ctx.attacked).region.lower().replace(" ", "-")
    return {
        "csp_signalement": f"ars-{region}-alerte@ars.sante.example",
        "nis2_anssi": "cert-fr@ssi.gouv.example",
        "partners": "direction@labo-bio-partenaire.example",
    }


def run(ctx: DemoContext) -> None:
    assert ctx.incident_id is not None, "the detect step sets the incident"
    con, store, group, iid = ctx.console, ctx.store, ctx.group, ctx.incident_id
    cat = load_catalogue()
    with store.session() as s:
        from rempart.store.models.core import IncidentRow

        opened = s.get_one(IncidentRow, iid).opened_at
    t0 = opened + timedelta(minutes=4)  # the director's call: when the organisation became aware
    on_duty = logged_in(ctx, "direction-garde")  # the director on duty records T0 for the crisis cell
    service.set_t0(
        store, iid, ctx.attacked, t0, on_duty, group, note="appel du directeur à la cellule"
    )

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    service.add_log_entry(
        store,
        iid,
        "Cellule de crise ouverte ; le directeur délègue la déclaration au RSSI",
        "directeur",
        "decision",
        at=at(10),
    )
    service.record_fact(
        store,
        iid,
        "people_count",
        "environ 2 300 patients (file active de l'établissement)",
        "dpo",
        at=at(25),
    )
    service.record_fact(store, iid, "records_count", "environ 41 000 dossiers du DPI", "dpo", at=at(25))
    service.record_fact(
        store, iid, "insurer", "Assureur cyber du groupe (contrat à rappeler)", "daf", at=at(30)
    )

    out = ctx.workdir / "notifications"
    drafts = service.make_drafts(store, iid, group, cat, now=at(30))
    for d in drafts:
        service.write_draft(d, out)
    con.print(f"{len(drafts)} projets rédigés en français (PDF + texte du courriel) sous {out}")
    ctx.mark(at(30), "notification", f"{len(drafts)} projets de notification rédigés")

    addresses = _addresses(ctx)
    sent, received = _send(ctx, iid, at, addresses, out)
    filings = (
        (90, "cnil_violation", "initial", "portal", "CNIL notification n° 2026-DEMO-0001 (initiale)", "dpo"),
        (95, "breach_register", "entry", "internal", "registre des violations, ligne 2026-07", "dpo"),
        (
            26 * 60,
            "police_complaint",
            "complaint",
            "in_person",
            "plainte reçue, PV n° 2026/DEMO/417",
            "directeur",
        ),
    )
    for minutes, ob, stage, channel, ref, who in filings:
        service.record_filing(
            store,
            iid,
            ob,
            stage,
            group,
            channel=channel,
            reference=ref,
            author=who,
            catalogue=cat,
            at=at(minutes),
        )
        ctx.mark(at(minutes), "notification", f"{ob}/{stage} fait ({channel})")
    for view in service.sendings(store, iid):
        if view.row.status == "sent":
            by = {
                "csp_signalement": "ARS — point focal régional",
                "nis2_anssi": "CERT-FR",
                "partners": "Laboratoire partenaire",
            }[view.row.obligation]
            service.record_ack(
                store,
                str(view.row.id),
                by,
                f"AR-{view.row.id:04d}",
                "rssi",
                at=view.row.attempted_at + timedelta(minutes=35),
            )
    con.print(sendings_table(service.sendings(store, iid)))

    now = at(28 * 60)
    clocks = service.compute_clocks(store, iid, group, cat, now)
    con.print(clocks_table(clocks, now, title=f"Échéances au {format_local(now)}"))
    closing = service.closing_tasks_status(store, iid, group, cat, now)
    ctx.facts["notify"] = {
        "received_by_relay": received,
        "sent": sent,
        "drafts": len(drafts),
        "overdue": sum(c.status == ClockStatus.OVERDUE for c in clocks),
        "open": sum(c.status in (ClockStatus.DUE, ClockStatus.OVERDUE) for c in clocks),
        "closing_tasks": [f"{c.obligation.id}/{c.stage.id}" for c in closing],
        "closing_recipients": {
            k: [v] for k, v in addresses.items() if k in ("csp_signalement", "nis2_anssi")
        },
        "out": str(out),
    }
    ctx.mark(
        now,
        "notification",
        f"échéances : {ctx.facts['notify']['open']} à faire, {ctx.facts['notify']['overdue']} en retard",
    )


def _send(
    ctx: DemoContext, iid: int, at: Callable[[int], datetime], addresses: dict[str, str], out: Path
) -> tuple[int, int]:
    """E-mail what goes by e-mail through a loopback relay; one refusal on the way, sent again."""
    con, store, group, cat = ctx.console, ctx.store, ctx.group, load_catalogue()
    sent = 0
    with LocalSMTPServer() as relay_srv:
        relay = SMTPRelay(
            RelaySettings(
                host=relay_srv.host, port=relay_srv.port, security="none", sender=SENDER, timeout=10
            )
        )
        con.print(f"Relais SMTP hors bande de démonstration : {relay_srv.host}:{relay_srv.port}")
        for minutes, ob in ((40, "csp_signalement"), (55, "nis2_anssi")):
            row = service.send(
                store, iid, ob, group, relay, [addresses[ob]], "rssi", out, catalogue=cat, now=at(minutes)
            )
            sent += 1
            con.print(f"  envoyé : {ob}/{row.stage} → {addresses[ob]}  {row.message_id}")
            ctx.mark(at(minutes), "notification", f"{ob}/{row.stage} envoyé ({row.message_id})")
        # the partner's old address: the relay refuses it; the attempt is kept and sent again
        with LocalSMTPServer(refuse="rcpt") as strict:
            strict_relay = SMTPRelay(
                RelaySettings(host=strict.host, port=strict.port, security="none", sender=SENDER, timeout=10)
            )
            try:
                service.send(
                    store,
                    iid,
                    "partners",
                    group,
                    strict_relay,
                    ["labo@ancien-domaine.example"],
                    "rssi",
                    out,
                    catalogue=cat,
                    now=at(60),
                )
            except DeliveryError as exc:
                con.print(f"  [red]refusé[/red] : {exc.message}")
        row = service.send(
            store,
            iid,
            "partners",
            group,
            relay,
            [addresses["partners"]],
            "rssi",
            out,
            catalogue=cat,
            now=at(65),
        )
        sent += 1
        con.print(f"  renvoyé : partners/{row.stage} → {addresses['partners']}  {row.message_id}")
        received = len(relay_srv.received)
    ctx.mark(at(65), "notification", "information des partenaires renvoyée après un refus du relais")

    return sent, received
