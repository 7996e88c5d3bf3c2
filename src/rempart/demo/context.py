"""What every demo step receives: where to write, the group, the stores, the incident, a console."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from rempart.domain.inventory import Group
from rempart.store.db import Store


@dataclass
class DemoContext:
    workdir: Path  # everything the demo writes goes under here
    group_path: Path
    group: Group
    store: Store  # the case store (SQLite under workdir)
    events_db: Path  # the DuckDB event store
    console: Console
    attacked: str  # establishment id of the attacked clinic
    attacker_ip: str  # the external address of the intrusion
    start: datetime  # first event of the generated stream (UTC)
    now: datetime  # the demo's "now": when the incident is opened (UTC)
    incident_ref: str | None = None  # set by the detect step
    incident_id: int | None = None
    run_id: int | None = None  # plan run, set by the respond step
    facts: dict[str, Any] = field(default_factory=dict)  # what a step tells the later ones
    timeline: list[tuple[datetime, str, str]] = field(default_factory=list)  # (when, stage, what)

    def mark(self, when: datetime, stage: str, what: str) -> None:
        self.timeline.append((when, stage, what))
