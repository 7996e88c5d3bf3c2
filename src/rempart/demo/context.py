"""What every demo step receives: where to write, the group, the stores, the incident, a console."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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

    @property
    def keys_dir(self) -> Path:
        """Beside the data folder, never in it: whoever copies or leaks rempart-demo/ has no key."""
        return keys_dir_for(self.workdir)

    def mark(self, when: datetime, stage: str, what: str) -> None:
        self.timeline.append((when, stage, what))


def keys_dir_for(workdir: Path) -> Path:
    return workdir.resolve().parent / f"{workdir.resolve().name}-keys"


@contextmanager
def keys_environment(ctx: DemoContext) -> Iterator[Path]:
    """REMPART_KEYS_DIR points at the demo's keys while it runs, so every stage finds the same keys.

    Keys left by an earlier run are kept and reused: a keys folder is never emptied by rempart."""
    ctx.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(ctx.keys_dir, 0o700)
    before = os.environ.get("REMPART_KEYS_DIR")
    os.environ["REMPART_KEYS_DIR"] = str(ctx.keys_dir)
    try:
        yield ctx.keys_dir
    finally:
        if before is None:
            os.environ.pop("REMPART_KEYS_DIR", None)
        else:
            os.environ["REMPART_KEYS_DIR"] = before
