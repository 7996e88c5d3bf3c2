"""All case-store tables. Each stage owns one module; Alembic sees them all through ``Base.metadata``."""

import rempart.store.models.continuity  # registers the degraded-mode tables
import rempart.store.models.identities  # registers accounts, sessions, API tokens, login failures
import rempart.store.models.investigate  # registers the evidence locker tables
import rempart.store.models.notify  # registers the notification tables (T0, sendings, acks)
import rempart.store.models.recover  # registers the re-opening gate tables
import rempart.store.models.respond  # noqa: F401  (registers the plan run tables: runs, steps, approvals)
from rempart.store.models.base import Base
from rempart.store.models.core import AlertRow, FindingRow, IncidentRow, JournalRow, LogEntryRow

__all__ = ["AlertRow", "Base", "FindingRow", "IncidentRow", "JournalRow", "LogEntryRow"]
