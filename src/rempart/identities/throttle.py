"""Growing delays after failed logins, per account and per source; never a hard lock-out.

An attacker who types wrong passwords for the RSSI's account must not be able to lock the RSSI out in
the middle of a crisis: after a few free attempts each new failure doubles the wait before the next
attempt is even looked at, up to a ceiling. The counters live in the case store so that every process
(CLI, console, API) sees the same ones. A refused-for-waiting attempt does not count as a failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from rempart.store.models.identities import LoginFailureRow

FREE_ATTEMPTS = 3
CEILING = timedelta(minutes=5)
FORGET_AFTER = timedelta(hours=24)  # a quiet day wipes the slate


def delay(failures: int) -> timedelta:
    """How long to wait after ``failures`` consecutive failures: 0, 0, 0, 1 s, 2 s, 4 s … 5 min."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - FREE_ATTEMPTS)), CEILING)


def keys(account: str, source: str) -> list[str]:
    return [f"account:{account.lower()}", f"source:{source}"]


def wait_left(s: Session, keys: list[str], at: datetime) -> timedelta:
    """The longest wait any of ``keys`` still imposes at ``at`` (zero: the attempt may be checked)."""
    left = timedelta(0)
    for key in keys:
        row = s.get(LoginFailureRow, key)
        if row is None or at - row.last_at > FORGET_AFTER:
            continue
        left = max(left, row.last_at + delay(row.failures) - at)
    return left


def failed(s: Session, keys: list[str], at: datetime) -> None:
    for key in keys:
        row = s.get(LoginFailureRow, key)
        if row is None:
            s.add(LoginFailureRow(key=key, failures=1, last_at=at))
        else:
            row.failures = 1 if at - row.last_at > FORGET_AFTER else row.failures + 1
            row.last_at = at


def succeeded(s: Session, keys: list[str]) -> None:
    for key in keys:
        row = s.get(LoginFailureRow, key)
        if row is not None:
            s.delete(row)
