"""The event store (DuckDB): see :mod:`rempart.events.store` for the ``events`` table contract."""

from rempart.events.store import TABLE, EventStore

__all__ = ["TABLE", "EventStore"]
