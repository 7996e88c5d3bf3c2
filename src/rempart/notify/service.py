"""The notify service: incident log, T0, clocks, drafts, sending, filings, acknowledgements, closing.

The CLI, the web console, the demo and the recover stage call these functions; none holds logic of its
own. Every change to the outside world (an e-mail) is journaled before and after; a failed sending is
kept with its error and can simply be sent again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.inventory import Group
from rempart.errors import InputError, StateError
from rempart.notify.catalogue import Catalogue, Obligation, StageKind, Start, load_catalogue
from rempart.notify.clocks import format_local
from rempart.notify.drafts import Draft, build_draft
from rempart.notify.facts import KNOWN_FACTS, entities, gather, latest_findings, t0_for
from rempart.notify.obligations import Clock, ClockStatus, clocks_for, sendings_for
from rempart.notify.pdf import write_pdf
from rempart.notify.transport import DeliveryError, Transport
from rempart.store import incident_log, journal
from rempart.store.db import Store
from rempart.store.models.core import IncidentRow, LogEntryRow
from rempart.store.models.notify import AckRow, SendingRow, T0Row

LOG_KINDS = ("note", "decision")
FILING_CHANNELS = ("portal", "paper", "phone", "in_person", "internal", "letter", "email")


def _now(now: datetime | None) -> datetime:
    value = now or datetime.now(UTC)
    if value.tzinfo is None:
        raise InputError("times must carry a time zone (e.g. 2026-11-28T14:03+01:00)")
    return value.astimezone(UTC)


def incident_by_ref(session: Session, ref: str) -> IncidentRow:
    row = session.execute(select(IncidentRow).where(IncidentRow.ref == ref)).scalar_one_or_none()
    if row is None:
        raise InputError(f"no incident '{ref}'", hint="list incidents with the detect commands")
    return row


def _incident(session: Session, incident: str | int) -> IncidentRow:
    if isinstance(incident, int):
        row = session.get(IncidentRow, incident)
        if row is None:
            raise InputError(f"no incident with id {incident}")
        return row
    return incident_by_ref(session, incident)


# ---------------------------------------------------------------- incident log (main courante)


def add_log_entry(
    store: Store, incident: str | int, text: str, author: str, kind: str = "note", at: datetime | None = None
) -> LogEntryRow:
    """A person's note or decision in the main courante."""
    if kind not in LOG_KINDS:
        raise InputError(f"kind '{kind}' is not one of {', '.join(LOG_KINDS)}")
    if not text.strip():
        raise InputError("the entry is empty")
    with store.session() as s:
        inc = _incident(s, incident)
        return incident_log.record(s, inc.id, "people", kind, text.strip(), author, at=_now(at))


def record_fact(
    store: Store, incident: str | int, name: str, value: str, author: str, at: datetime | None = None
) -> LogEntryRow:
    """A fact the drafts and triggers read (see ``facts.KNOWN_FACTS``), recorded as a decision in the log."""
    if name not in KNOWN_FACTS:
        raise InputError(f"unknown fact '{name}'", hint="known facts: " + ", ".join(sorted(KNOWN_FACTS)))
    if name == "resolved_at":
        value = _parse_time(value).isoformat()
    with store.session() as s:
        inc = _incident(s, incident)
        text = f"Fait établi : {name} = {value} ({KNOWN_FACTS[name]})"
        return incident_log.record(
            s, inc.id, "people", "decision", text, author, data={"fact": name, "value": value}, at=_now(at)
        )


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"'{text}' is not an ISO 8601 time such as 2026-11-28T14:03+01:00") from None
    return _now(value)


def log_entries(store: Store, incident: str | int) -> list[LogEntryRow]:
    with store.session() as s:
        return incident_log.entries(s, _incident(s, incident).id)


# ---------------------------------------------------------------- T0 and clocks


def set_t0(
    store: Store,
    incident: str | int,
    establishment: str,
    at: datetime,
    author: str,
    group: Group,
    note: str = "",
) -> T0Row:
    """Record when the organisation became aware, for one establishment; replaces an earlier value."""
    try:
        est = group.establishment(establishment)
    except KeyError:
        raise InputError(f"no establishment '{establishment}' in the group description") from None
    when = _now(at)
    with store.session() as s:
        inc = _incident(s, incident)
        row = t0_for(s, inc, est.id)
        before = row.at.isoformat() if row else None
        if row is None:
            row = T0Row(
                incident_id=inc.id,
                establishment=est.id,
                at=when,
                recorded_by=author,
                recorded_at=datetime.now(UTC),
                note=note,
            )
            s.add(row)
        else:
            row.at, row.recorded_by, row.recorded_at, row.note = when, author, datetime.now(UTC), note
        journal.append(
            s, author, "notify.t0", f"{inc.ref}:t0:{est.id}", {"at": when.isoformat(), "before": before}
        )
        incident_log.record(
            s,
            inc.id,
            "notify",
            "decision",
            f"T0 de {est.name} fixé au {format_local(when)}" + (f" ({note})" if note else ""),
            author,
            data={"t0": when.isoformat(), "establishment": est.id},
        )
        s.flush()
        return row


def compute_clocks(
    store: Store,
    incident: str | int,
    group: Group,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> list[Clock]:
    cat = catalogue or load_catalogue()
    when = _now(now)
    with store.session() as s:
        inc = _incident(s, incident)
        sendings = sendings_for(s, inc.id)
        out: list[Clock] = []
        for est in entities(s, inc):
            out += clocks_for(gather(s, inc, group, est, when), cat, sendings, when)
        return out


# ---------------------------------------------------------------- drafts


def make_drafts(
    store: Store,
    incident: str | int,
    group: Group,
    catalogue: Catalogue | None = None,
    obligation: str | None = None,
    stage: str | None = None,
    establishment: str | None = None,
    now: datetime | None = None,
) -> list[Draft]:
    """Drafts of every stage to do now (due, overdue), or of every stage of one obligation."""
    cat = catalogue or load_catalogue()
    when = _now(now)
    if obligation is not None:
        _obligation(cat, obligation)
    with store.session() as s:
        inc = _incident(s, incident)
        sendings = sendings_for(s, inc.id)
        drafts: list[Draft] = []
        for est in entities(s, inc):
            if establishment and est != establishment:
                continue
            facts = gather(s, inc, group, est, when)
            for clock in clocks_for(facts, cat, sendings, when):
                if obligation is not None and clock.obligation.id != obligation:
                    continue
                if stage is not None and clock.stage.id != stage:
                    continue
                if obligation is None and clock.status not in (ClockStatus.DUE, ClockStatus.OVERDUE):
                    continue
                drafts.append(build_draft(cat, clock.obligation, clock.stage, facts, clock.due))
        return drafts


def write_draft(draft: Draft, out_dir: Path) -> tuple[Path, Path]:
    """The PDF (the paper form) and the e-mail text, side by side."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf = write_pdf(draft.markup, out_dir / f"{draft.basename}.pdf", draft.subject, draft.exercise)
    txt = out_dir / f"{draft.basename}.txt"
    txt.write_text(f"Objet : {draft.subject}\n\n{draft.email_text}", encoding="utf-8")
    return pdf, txt


def _obligation(cat: Catalogue, obligation: str) -> Obligation:
    try:
        return cat.obligation(obligation)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None


def _one_draft(
    store: Store,
    incident: str | int,
    group: Group,
    cat: Catalogue,
    obligation: str,
    stage: str | None,
    establishment: str | None,
    when: datetime,
) -> Draft:
    drafts = make_drafts(store, incident, group, cat, obligation, stage, establishment, when)
    if stage is None:
        drafts = [d for d in drafts if _is_open(store, incident, group, cat, d, when)]
    if not drafts:
        raise StateError(
            f"nothing to send for '{obligation}'" + (f" stage '{stage}'" if stage else ""),
            hint="it does not apply, is done, or waits for its start; see `rempart obligations`",
        )
    return drafts[0]


def _is_open(
    store: Store, incident: str | int, group: Group, cat: Catalogue, d: Draft, when: datetime
) -> bool:
    return any(
        c.obligation.id == d.obligation.id
        and c.stage.id == d.stage.id
        and c.establishment == d.establishment
        and c.status in (ClockStatus.DUE, ClockStatus.OVERDUE)
        for c in compute_clocks(store, incident, group, cat, when)
    )


# ---------------------------------------------------------------- sending, filings, acknowledgements


def _message(
    draft: Draft, transport: Transport, to: Sequence[str], message_id: str, when: datetime, pdf: Path
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = transport.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = draft.subject
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(when)
    msg["X-Rempart-Incident"] = draft.incident_ref
    msg["X-Rempart-Obligation"] = f"{draft.obligation.id}/{draft.stage.id}"
    msg.set_content(draft.email_text)
    msg.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf", filename=pdf.name)
    return msg


def send(
    store: Store,
    incident: str | int,
    obligation: str,
    group: Group,
    transport: Transport,
    to: Sequence[str],
    author: str,
    out_dir: Path,
    *,
    stage: str | None = None,
    establishment: str | None = None,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> SendingRow:
    """Draft, record, send, record the outcome. Raises :class:`DeliveryError` after recording a failure."""
    if not to:
        raise InputError("give at least one recipient address (--to)")
    cat = catalogue or load_catalogue()
    when = _now(now)
    draft = _one_draft(store, incident, group, cat, obligation, stage, establishment, when)
    pdf, _ = write_draft(draft, out_dir)
    domain = transport.sender.rpartition("@")[2]
    message_id = make_msgid(
        idstring=f"{draft.incident_ref}.{draft.obligation.id}.{draft.stage.id}", domain=domain
    )
    with store.session() as s:  # recorded before the attempt: a crash leaves a visible 'sending' row
        inc = _incident(s, incident)
        row = SendingRow(
            incident_id=inc.id,
            establishment=draft.establishment,
            obligation=draft.obligation.id,
            stage=draft.stage.id,
            channel="email",
            recipients=list(to),
            subject=draft.subject,
            message_id=message_id,
            status="sending",
            attempted_at=when,
            author=author,
            draft_sha256=draft.sha256,
            findings=draft.finding_ids,
            data={"pdf": str(pdf)},
        )
        s.add(row)
        s.flush()
        journal.append(
            s,
            author,
            "notify.send",
            f"{inc.ref}:notify:{draft.obligation.id}:{draft.stage.id}",
            {"sending": row.id, "to": list(to), "message_id": message_id, "sha256": draft.sha256},
        )
    error: DeliveryError | None = None
    try:
        transport.send(_message(draft, transport, to, message_id, when, pdf))
    except DeliveryError as exc:
        error = exc
    with store.session() as s:
        row = s.get_one(SendingRow, row.id)
        row.status, row.error = ("failed", str(error)) if error else ("sent", None)
        row.done_at = None if error else when
        subject = f"{draft.incident_ref}:notify:{draft.obligation.id}:{draft.stage.id}"
        journal.append(
            s,
            author,
            "notify.sent" if error is None else "notify.failed",
            subject,
            {"sending": row.id, "message_id": message_id, "error": row.error},
        )
        text = (
            f"{draft.obligation.title} — {draft.stage.label} : envoyé à {', '.join(to)} ({message_id})"
            if error is None
            else f"{draft.obligation.title} — {draft.stage.label} : ÉCHEC de l'envoi "
            f"à {', '.join(to)} ({error.message}) ; à renvoyer"
        )
        incident_log.record(
            s,
            row.incident_id,
            "notify",
            "notification",
            text,
            author,
            data={"sending": row.id, "message_id": message_id, "status": row.status},
            at=when,
        )
    if error is not None:
        raise DeliveryError(
            f"{error.message} (attempt #{row.id} recorded as failed; the draft is kept in {pdf})",
            hint=error.hint,
        )
    return row


def record_filing(
    store: Store,
    incident: str | int,
    obligation: str,
    stage: str,
    group: Group,
    *,
    channel: str,
    reference: str,
    author: str,
    establishment: str | None = None,
    catalogue: Catalogue | None = None,
    at: datetime | None = None,
) -> SendingRow:
    """A stage done by other means: portal receipt, paper form handed over, phone call, complaint filed."""
    if channel not in FILING_CHANNELS:
        raise InputError(f"channel '{channel}' is not one of {', '.join(FILING_CHANNELS)}")
    cat = catalogue or load_catalogue()
    ob = _obligation(cat, obligation)
    try:
        st = ob.stage(stage)
    except KeyError:
        raise InputError(
            f"'{obligation}' has no stage '{stage}' (stages: {', '.join(x.id for x in ob.stages)})"
        ) from None
    when = _now(at)
    with store.session() as s:
        inc = _incident(s, incident)
        est = establishment or inc.establishment
        if est is None:
            raise InputError("give the establishment (--establishment)")
        group.establishment(est)
        facts = gather(s, inc, group, est, when)
        row = SendingRow(
            incident_id=inc.id,
            establishment=est,
            obligation=ob.id,
            stage=st.id,
            channel=channel,
            recipients=[ob.recipient.name.replace("{region}", facts.establishment.region)],
            subject=f"{ob.title} — {st.label}",
            message_id=None,
            status="filed",
            attempted_at=when,
            done_at=when,
            author=author,
            draft_sha256="",
            findings=sorted(f.id for f in facts.findings),
            reference=reference,
        )
        s.add(row)
        s.flush()
        journal.append(
            s,
            author,
            "notify.filed",
            f"{inc.ref}:notify:{ob.id}:{st.id}",
            {"sending": row.id, "channel": channel, "reference": reference},
        )
        incident_log.record(
            s,
            inc.id,
            "notify",
            "notification",
            f"{ob.title} — {st.label} : fait ({channel}, réf. {reference})",
            author,
            data={"sending": row.id},
            at=when,
        )
        return row


def record_ack(
    store: Store, sending: str, by: str, reference: str, author: str, at: datetime | None = None
) -> AckRow:
    """An acknowledgement, for a sending given by its number or its Message-ID."""
    when = _now(at)
    with store.session() as s:
        row: SendingRow | None
        if sending.isdigit():
            row = s.get(SendingRow, int(sending))
        else:
            row = s.execute(select(SendingRow).where(SendingRow.message_id == sending)).scalar_one_or_none()
        if row is None:
            raise InputError(f"no sending '{sending}'", hint="see `rempart notify status INCIDENT`")
        if row.status not in ("sent", "filed"):
            raise StateError(
                f"sending #{row.id} was not delivered (status {row.status}); send it again first"
            )
        ack = AckRow(sending_id=row.id, at=when, by=by, reference=reference, recorded_by=author)
        s.add(ack)
        s.flush()
        inc = s.get_one(IncidentRow, row.incident_id)
        journal.append(
            s,
            author,
            "notify.ack",
            f"{inc.ref}:notify:{row.obligation}:{row.stage}",
            {"sending": row.id, "by": by, "reference": reference},
        )
        incident_log.record(
            s,
            row.incident_id,
            "notify",
            "acknowledgement",
            f"Accusé de réception de {by} pour « {row.subject} » (réf. {reference})",
            author,
            data={"sending": row.id, "ack": ack.id},
            at=when,
        )
        return ack


@dataclass(frozen=True)
class SendingView:
    row: SendingRow
    acks: list[AckRow]
    newer_findings: list[str]  # findings written after this was sent: a complementary notification is due

    @property
    def stale(self) -> bool:
        return bool(self.newer_findings) and self.row.status in ("sent", "filed")


def sendings(store: Store, incident: str | int) -> list[SendingView]:
    with store.session() as s:
        inc = _incident(s, incident)
        current = latest_findings(s, inc.id)
        out: list[SendingView] = []
        for r in sendings_for(s, inc.id):
            newer = [
                f"{f.kind} v{f.version}"
                for f in current
                if f.id not in r.findings and r.done_at is not None and f.created_at > r.done_at
            ]
            out.append(SendingView(r, list(r.acks), newer))
        return out


# ---------------------------------------------------------------- closing (used by recover)


def is_closing_task(clock: Clock) -> bool:
    return clock.stage.start == Start.RESOLUTION or (
        clock.stage.kind == StageKind.FINAL and (clock.obligation.id != "eigs")
    )


def record_resolution(
    store: Store, incident: str | int, at: datetime, author: str, summary: str = ""
) -> None:
    record_fact(store, incident, "resolved_at", _now(at).isoformat(), author, at=at)
    if summary:
        record_fact(store, incident, "resolution_summary", summary, author, at=at)


def closing_tasks_status(
    store: Store,
    incident_id: int | str,
    group: Group,
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> list[Clock]:
    """The closing duties (CSP notice of resolution, NIS2 final report …) with their status.

    ``all(c.status == ClockStatus.DONE for c in closing_tasks_status(...))`` tells the recover stage that
    the notifications side of the closing is complete. Stages that do not apply are not listed.
    """
    return [c for c in compute_clocks(store, incident_id, group, catalogue, now) if is_closing_task(c)]


def send_closing_notices(
    store: Store,
    incident_id: int | str,
    group: Group,
    transport: Transport,
    recipients: Mapping[str, Sequence[str]],
    author: str,
    out_dir: Path,
    *,
    resolved_at: datetime | None = None,
    summary: str = "",
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> list[SendingRow]:
    """At closing: record the resolution (if given), then send every open closing stage by e-mail.

    ``recipients`` maps an obligation id to addresses; closing stages of obligations without addresses
    are left open (file them by hand with ``record_filing``). Failed sendings raise nothing here: they
    are returned with status 'failed' and can be sent again.
    """
    when = _now(now)
    if resolved_at is not None:
        record_resolution(store, incident_id, resolved_at, author, summary)
    done: list[SendingRow] = []
    for clock in closing_tasks_status(store, incident_id, group, catalogue, when):
        to = recipients.get(clock.obligation.id)
        if not to or clock.status not in (ClockStatus.DUE, ClockStatus.OVERDUE):
            continue
        try:
            done.append(
                send(
                    store,
                    incident_id,
                    clock.obligation.id,
                    group,
                    transport,
                    to,
                    author,
                    out_dir,
                    stage=clock.stage.id,
                    establishment=clock.establishment,
                    catalogue=catalogue,
                    now=when,
                )
            )
        except DeliveryError:
            done += [v.row for v in sendings(store, incident_id)[-1:]]
    return done
