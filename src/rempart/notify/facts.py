"""What the notify stage knows about an incident for one establishment, gathered from the case store.

Sources, in this order of trust: facts people recorded in the incident log (``data = {"fact": name,
"value": ...}``, e.g. ``rempart notify fact INC-0001 eigs oui``), the inventory (NIS2 category, OSE/OIV,
partner links, asset roles) and the findings of the investigation (latest version of each kind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.inventory import AccessKind, AssetRole, Establishment, Group, NisCategory
from rempart.notify.catalogue import Condition
from rempart.store import incident_log
from rempart.store.models.core import AlertRow, FindingRow, IncidentRow, LogEntryRow
from rempart.store.models.notify import T0Row

# Assets whose compromise touches patients' personal data (availability counts: GDPR breach of availability)
PERSONAL_DATA_ROLES = {
    AssetRole.HIS_SERVER,
    AssetRole.DATABASE_SERVER,
    AssetRole.FILE_SERVER,
    AssetRole.PACS_SERVER,
    AssetRole.LAB_SERVER,
    AssetRole.MAIL_SERVER,
    AssetRole.BACKUP_SERVER,
}

# Facts people may record, with what they mean; anything else is kept but not interpreted
KNOWN_FACTS = {
    "personal_data": "oui/non: des données personnelles sont concernées",
    "eigs": "oui/non: un événement du mode dégradé a gravement nui à un patient",
    "processor": "oui/non: l'entité agit comme sous-traitant d'un autre responsable de traitement",
    "controller": "le responsable de traitement à prévenir (si sous-traitant)",
    "people_count": "nombre approximatif de personnes concernées",
    "records_count": "nombre approximatif d'enregistrements concernés",
    "people_categories": "catégories de personnes concernées",
    "data_categories": "catégories de données concernées",
    "consequences": "conséquences probables",
    "causes": "causes connues",
    "impact_structure": "impact sur la structure (activité, déprogrammations …)",
    "cross_border": "impact transfrontière",
    "delay_reasons": "motifs du retard de notification",
    "art34_decision": "décision sur l'information des patients (et exception invoquée)",
    "insurer": "assureur cyber et numéro de contrat",
    "complaint_office": "service de police ou de gendarmerie saisi",
    "evidence": "éléments de preuve conservés",
    "eigs_nature": "EIGS: nature de l'événement",
    "eigs_circumstances": "EIGS: circonstances",
    "eigs_first_measures": "EIGS: premières mesures",
    "eigs_patient_info": "EIGS: information du patient",
    "eigs_analysis": "EIGS: analyse des causes",
    "eigs_action_plan": "EIGS: plan d'actions",
    "resolved_at": "date de résolution (ISO 8601)",
    "resolution_summary": "résumé de la résolution",
}

_TRUE = {"oui", "yes", "true", "1", "vrai", "o", "y"}
_FALSE = {"non", "no", "false", "0", "faux", "n"}


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


@dataclass
class IncidentFacts:
    incident: IncidentRow
    group: Group
    establishment: Establishment
    t0: datetime
    t0_recorded: bool
    now: datetime
    log: list[LogEntryRow]
    alerts: list[AlertRow]
    findings: list[FindingRow]  # the latest version of each finding (none superseded)
    facts: dict[str, Any] = field(default_factory=dict)

    def fact(self, name: str) -> Any:
        return self.facts.get(name)

    def flag(self, name: str) -> bool | None:
        value = self.facts.get(name)
        return None if value is None else as_bool(value)

    @property
    def hosts_here(self) -> list[str]:
        """Incident hosts that belong to this establishment (by the inventory)."""
        return [h for h in self.incident.hosts if self.establishment.asset(h) is not None]

    @property
    def personal_data(self) -> bool:
        recorded = self.flag("personal_data")
        if recorded is not None:
            return recorded
        if any(f.kind == "data_theft" and f.positive for f in self.findings):
            return True
        hosts = self.hosts_here
        if not hosts:
            return True  # nothing known yet: a clinic's information system holds health data
        return any(
            (a := self.establishment.asset(h)) is not None and a.role in PERSONAL_DATA_ROLES for h in hosts
        )

    @property
    def resolved_at(self) -> datetime | None:
        value = self.facts.get("resolved_at")
        if value is None:
            return None
        return datetime.fromisoformat(str(value))

    def holds(self, condition: Condition) -> bool:
        est = self.establishment
        checks: dict[Condition, Callable[[], bool]] = {
            Condition.ALWAYS: lambda: True,
            Condition.PERSONAL_DATA: lambda: self.personal_data,
            Condition.NIS2_ESSENTIAL: lambda: est.nis2_category == NisCategory.ESSENTIAL,
            Condition.NIS2_IMPORTANT: lambda: est.nis2_category == NisCategory.IMPORTANT,
            Condition.NIS2: lambda: est.nis2_category != NisCategory.NONE,
            Condition.OES: lambda: est.oes,
            Condition.EIGS: lambda: self.flag("eigs") is True,
            Condition.PROCESSOR: lambda: self.flag("processor") is True,
            Condition.PARTNER_LINKS: lambda: any(
                a.kind == AccessKind.PARTNER_LINK for a in est.external_accesses
            ),
        }
        return checks[condition]()


def recorded_facts(log: list[LogEntryRow]) -> dict[str, Any]:
    """The latest value of each fact recorded in the incident log."""
    facts: dict[str, Any] = {}
    for entry in log:  # entries come in time order: a later statement replaces an earlier one
        data = entry.data or {}
        if "fact" in data and "value" in data:
            facts[str(data["fact"])] = data["value"]
    return facts


def latest_findings(session: Session, incident_id: int) -> list[FindingRow]:
    rows = list(
        session.execute(
            select(FindingRow).where(FindingRow.incident_id == incident_id).order_by(FindingRow.created_at)
        ).scalars()
    )
    superseded = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    return [r for r in rows if r.id not in superseded]


def t0_for(session: Session, incident: IncidentRow, establishment: str) -> T0Row | None:
    return session.execute(
        select(T0Row).where(T0Row.incident_id == incident.id, T0Row.establishment == establishment)
    ).scalar_one_or_none()


def entities(session: Session, incident: IncidentRow) -> list[str]:
    """Establishments the clocks run for: the incident's own, plus any with a recorded T0."""
    ids = [incident.establishment] if incident.establishment else []
    for row in session.execute(select(T0Row).where(T0Row.incident_id == incident.id)).scalars():
        if row.establishment not in ids:
            ids.append(row.establishment)
    return ids


def gather(
    session: Session, incident: IncidentRow, group: Group, establishment: str, now: datetime
) -> IncidentFacts:
    t0_row = t0_for(session, incident, establishment)
    log = incident_log.entries(session, incident.id)
    return IncidentFacts(
        incident=incident,
        group=group,
        establishment=group.establishment(establishment),
        t0=t0_row.at if t0_row else incident.opened_at,
        t0_recorded=t0_row is not None,
        now=now,
        log=log,
        alerts=list(incident.alerts),
        findings=latest_findings(session, incident.id),
        facts=recorded_facts(log),
    )
