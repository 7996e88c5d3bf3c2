"""Options every stage's commands share, defined once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from rempart.errors import InputError
from rempart.settings import Settings
from rempart.store.db import Store

# the group description: --inventory / -i (or --group), or REMPART_INVENTORY
Inventory = Annotated[
    Path,
    typer.Option(
        "--inventory", "-i", "--group", envvar="REMPART_INVENTORY", help="the group description (group.yaml)"
    ),
]

# the case store: --db, or REMPART_DATABASE_URL, or SQLite under REMPART_HOME
CaseDb = Annotated[
    str | None, typer.Option("--db", help="case store URL (default: REMPART_DATABASE_URL or SQLite)")
]


def open_case_store(db: str | None = None) -> Store:
    return Store(db or Settings().case_store_url)


def parse_time(text: str | None) -> datetime:
    """A time a user typed (ISO 8601 with its offset), as UTC; now when none was given."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"'{text}' is not an ISO 8601 time such as 2026-11-28T14:03+01:00") from None
    if value.tzinfo is None:
        raise InputError(f"'{text}' has no time zone; write e.g. 2026-11-28T14:03+01:00 or …Z")
    return value.astimezone(UTC)
