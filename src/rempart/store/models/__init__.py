"""All case-store tables. Each stage owns one module; Alembic sees them all through ``Base.metadata``."""

import rempart.store.models.continuity  # noqa: F401  (registers the degraded-mode tables)
from rempart.store.models.base import Base
from rempart.store.models.core import AlertRow, FindingRow, IncidentRow, JournalRow, LogEntryRow

__all__ = ["AlertRow", "Base", "FindingRow", "IncidentRow", "JournalRow", "LogEntryRow"]
