"""Options every stage's commands share, defined once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from rempart.domain.inventory import time_zone
from rempart.errors import InputError
from rempart.inventory import Resolver, load_group
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


# the zone of log times written with no zone (RFC 3164 syslog…), for hosts the inventory does not place
TimeZone = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="IANA time zone of log times written without one (syslog), for hosts outside the inventory "
        "(default: the inventory's, Europe/Paris unless it says otherwise; UTC without an inventory)",
    ),
]


def resolver_for(inventory: Path | None, zone: str | None) -> Resolver | None:
    """What attributes events to establishments and reads their zone-less times (None: neither)."""
    if zone is not None:
        try:
            time_zone(zone)
        except ValueError as exc:
            raise InputError(str(exc), hint="--timezone") from None
    if inventory is None and zone is None:
        return None
    return Resolver(load_group(inventory) if inventory is not None else None, zone)


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
