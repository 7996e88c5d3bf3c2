"""French drafts of each notification, rendered from Jinja2 templates into a small line markup.

The markup is what both outputs are made from, so the e-mail text and the PDF always say the same:

    ! banner (EXERCICE)          # title          ## section heading
    Label :: value               (a form row; further lines of the value start with "  | ")
    - bullet                     ~ small print    any other line: paragraph text
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from rempart.notify.catalogue import TEMPLATES, Catalogue, FieldSpec, Obligation, Stage
from rempart.notify.clocks import describe_deadline, format_local
from rempart.notify.facts import IncidentFacts
from rempart.notify.fields import FIELD_SOURCES, TO_COMPLETE

CHANNEL_FR = {
    "portal": "téléservice / portail",
    "email": "courriel (relais SMTP hors bande)",
    "paper": "papier",
    "phone": "téléphone",
    "in_person": "dépôt en personne",
    "internal": "registre interne",
    "letter": "courrier",
}

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=False,
)


def kv(label: str, value: str) -> str:
    lines = str(value).strip().splitlines() or [""]
    return "\n".join([f"{label} :: {lines[0]}".rstrip(), *(f"  | {line}" for line in lines[1:])])


_env.globals["kv"] = kv


@dataclass(frozen=True)
class FieldValue:
    id: str
    label: str
    value: str
    block: str | None

    @property
    def missing(self) -> bool:
        return self.value.startswith(TO_COMPLETE)


@dataclass
class Draft:
    incident_ref: str
    establishment: str
    obligation: Obligation
    stage: Stage
    subject: str
    markup: str
    fields: list[FieldValue]
    exercise: bool
    finding_ids: list[int] = field(default_factory=list)
    due: datetime | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.markup.encode()).hexdigest()

    @property
    def missing(self) -> list[FieldValue]:
        return [f for f in self.fields if f.missing]

    @property
    def basename(self) -> str:
        return f"{self.incident_ref}_{self.establishment}_{self.obligation.id}_{self.stage.id}"

    @property
    def email_text(self) -> str:
        return markup_to_text(self.markup)


def field_values(specs: list[FieldSpec], facts: IncidentFacts) -> list[FieldValue]:
    return [FieldValue(s.id, s.label, FIELD_SOURCES[s.id](facts).strip(), s.block) for s in specs]


def _blocks(values: list[FieldValue]) -> list[tuple[str | None, list[FieldValue]]]:
    out: list[tuple[str | None, list[FieldValue]]] = []
    for v in values:
        if out and out[-1][0] == v.block:
            out[-1][1].append(v)
        else:
            out.append((v.block, [v]))
    return out


def build_draft(
    catalogue: Catalogue, obligation: Obligation, stage: Stage, facts: IncidentFacts, due: datetime | None
) -> Draft:
    est = facts.establishment
    values = field_values(stage.fields, facts)
    recipient = obligation.recipient.name.replace("{region}", est.region)
    contact = next((c for c in facts.group.contacts if c.role == obligation.recipient.contact_role), None)
    phone = obligation.recipient.phone or (contact.phone if contact else None)
    email = obligation.recipient.email or (contact.email if contact else None)
    recipient += "".join(f" — {p}" for p in (phone and f"tél. {phone}", email) if p)
    prefix = "[EXERCICE] " if facts.incident.exercise else ""
    subject = f"{prefix}{obligation.title} — {stage.label} — {est.name} — {facts.incident.ref}"
    period = stage.target if stage.immediate else stage.within
    assert period is not None
    markup = _env.get_template(f"{stage.template}.md.j2").render(
        exercise=facts.incident.exercise,
        title=f"{prefix}{obligation.title}",
        ob=obligation,
        stage=stage,
        recipient=recipient,
        est=est,
        incident_ref=facts.incident.ref,
        rule_text=describe_deadline(stage.immediate, period),
        due_text=format_local(due) if due else "à la clôture",
        channel_text=CHANNEL_FR[obligation.channel],
        fields=values,
        blocks=_blocks(values),
        fallback=obligation.fallback,
        notes=obligation.notes,
        journal=[f"{format_local(e.at)[:16]} [{e.source}] {e.text}" for e in facts.log[-15:]],
        generated_text=format_local(facts.now),
        catalogue_version=catalogue.version,
    )
    return Draft(
        incident_ref=facts.incident.ref,
        establishment=est.id,
        obligation=obligation,
        stage=stage,
        subject=subject,
        markup=_tidy(markup),
        fields=values,
        exercise=facts.incident.exercise,
        finding_ids=sorted(f.id for f in facts.findings),
        due=due,
    )


def _tidy(markup: str) -> str:
    """Collapse the blank lines Jinja's control blocks leave behind."""
    out: list[str] = []
    for line in markup.splitlines():
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"


def markup_to_text(markup: str) -> str:
    """The e-mail body: the same content as the PDF, readable as plain text."""
    out: list[str] = []
    for line in markup.splitlines():
        if line.startswith("! "):
            out += ["*** " + line[2:] + " ***", ""]
        elif line.startswith("## "):
            out += ([""] if out and out[-1] else []) + [line[3:].upper(), "-" * min(len(line) - 3, 72)]
        elif line.startswith("# "):
            out += [line[2:], "=" * min(len(line) - 2, 72)]
        elif line.startswith("  | "):
            out.append("    " + line[4:])
        elif " :: " in line or line.endswith(" ::"):
            label, _, value = line.partition(" ::")
            out.append(f"{label} : {value.strip()}")
        elif line.startswith("~ "):
            out += ["", "-- ", line[2:]]
        else:
            out.append(line)
    return "\n".join(out).strip() + "\n"
