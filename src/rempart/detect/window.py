"""The slice of the stored events a hunt looks at: a time range and some hosts.

Events outside it are still stored (nothing read is lost) but match no rule and count in no correlation:
an investigator asking for the night of the 28th from one server gets what those events alone show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rempart.errors import InputError

EXAMPLE = "2026-11-28T22:00+01:00, 2026-11-28T21:00Z or 2026-11-28"


@dataclass(frozen=True)
class EventWindow:
    since: datetime | None = None  # included
    until: datetime | None = None  # excluded
    hosts: tuple[str, ...] = ()  # lower-case; a host matches by its full name or its first label

    def __bool__(self) -> bool:
        return self.since is not None or self.until is not None or bool(self.hosts)

    def sql(self) -> str:
        """A condition over the ``events`` table (``TRUE`` when the window holds everything)."""
        parts = []
        if self.since is not None:
            parts.append(f"_ts >= TIMESTAMPTZ '{self.since.isoformat()}'")
        if self.until is not None:
            parts.append(f"_ts < TIMESTAMPTZ '{self.until.isoformat()}'")
        if self.hosts:
            names = ", ".join("'" + h.replace("'", "''") + "'" for h in self.hosts)
            parts.append(f"(lower(_host) IN ({names}) OR lower(split_part(_host, '.', 1)) IN ({names}))")
        return " AND ".join(parts) or "TRUE"

    def describe(self) -> str:
        parts = []
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"until {self.until.isoformat()}")
        if self.hosts:
            parts.append("hosts " + ", ".join(self.hosts))
        return ", ".join(parts) or "everything"


def parse_bound(text: str, option: str) -> datetime:
    """An ISO 8601 time or date a user typed, in UTC; one written without a zone is read as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option}: '{text}' is not an ISO 8601 time",
                         hint=f"write e.g. {EXAMPLE}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def event_window(since: str | None, until: str | None, hosts: list[str] | None) -> EventWindow:
    start = parse_bound(since, "--since") if since else None
    end = parse_bound(until, "--until") if until else None
    if start is not None and end is not None and end <= start:
        raise InputError(f"--until ({end.isoformat()}) is not after --since ({start.isoformat()})",
                         hint="--until is excluded: give a later time")
    names = tuple(sorted({h.strip().lower() for h in hosts or [] if h.strip()}))
    return EventWindow(start, end, names)
