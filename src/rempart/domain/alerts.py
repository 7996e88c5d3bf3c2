"""Alerts (one rule matched) and the levels and ATT&CK tags they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


class Level(IntEnum):
    INFORMATIONAL = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str | None) -> Level:
        try:
            return cls[(text or "informational").strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown level '{text}' (use informational, low, medium, high or critical)"
            ) from None

    def __str__(self) -> str:
        return self.name.lower()


# ATT&CK enterprise tactics in kill-chain order, as Sigma tags spell them (attack.<name>)
TACTICS: tuple[str, ...] = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)


def attack_from_tags(tags: list[str]) -> tuple[list[str], list[str]]:
    """Split Sigma tags into ATT&CK tactics and technique ids (T1003.001)."""
    tactics: list[str] = []
    techniques: list[str] = []
    for tag in tags:
        t = tag.lower()
        if not t.startswith("attack."):
            continue
        name = t.removeprefix("attack.").replace("_", "-")
        if name in TACTICS and name not in tactics:
            tactics.append(name)
        elif name.startswith("t") and name[1:2].isdigit():
            tech = name.upper()
            if tech not in techniques:
                techniques.append(tech)
    return tactics, techniques


@dataclass(frozen=True)
class EventRef:
    """Where the matching event lies: its source file (and archive member) and record number."""

    source: str
    record: int

    def __str__(self) -> str:
        return f"{self.source}#{self.record}"


@dataclass
class Alert:
    rule_id: str
    title: str
    level: Level
    time: datetime
    host: str | None
    establishment: str | None
    asset: str | None = None
    tactics: list[str] = field(default_factory=list)
    techniques: list[str] = field(default_factory=list)
    events: list[EventRef] = field(default_factory=list)
    correlation: bool = False
    rule_path: str | None = None
    details: dict[str, str] = field(default_factory=dict)  # e.g. the group-by values of a correlation
