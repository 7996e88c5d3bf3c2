"""Incidents: alerts of one establishment grouped in a sliding time window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rempart.domain.alerts import TACTICS, Alert, Level


class IncidentStatus(StrEnum):
    OPEN = "open"
    CONTAINED = "contained"
    RECOVERING = "recovering"
    CLOSED = "closed"


@dataclass
class Incident:
    establishment: str | None
    first_seen: datetime
    last_seen: datetime
    alerts: list[Alert] = field(default_factory=list)
    id: str | None = None
    status: IncidentStatus = IncidentStatus.OPEN
    exercise: bool = False

    @property
    def severity(self) -> Level:
        return max((a.level for a in self.alerts), default=Level.INFORMATIONAL)

    @property
    def tactics(self) -> list[str]:
        seen = {t for a in self.alerts for t in a.tactics}
        return [t for t in TACTICS if t in seen]

    @property
    def techniques(self) -> list[str]:
        return sorted({t for a in self.alerts for t in a.techniques})

    @property
    def hosts(self) -> list[str]:
        return sorted({a.host for a in self.alerts if a.host})

    @property
    def rule_ids(self) -> list[str]:
        return sorted({a.rule_id for a in self.alerts})
