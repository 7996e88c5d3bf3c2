"""Deadline arithmetic for the legal clocks: computed in UTC, shown in Europe/Paris local time.

Calendar semantics (deliberately the *earlier* reading, so that rempart never shows a deadline later
than the legal one):

* **hours, minutes, days** (``PT24H``, ``PT72H``, ``P1D``) are *elapsed* time from the start, in UTC.
  72 h after T0 is exactly 72 × 3600 s later, even across a daylight-saving change: the local time
  shown then moves by one hour (T0 10:00 on Saturday 28 March 2026 → 24 h deadline 11:00 on Sunday
  29 March, local time). Regulation (EEC, Euratom) 1182/71 would start an hour period at the next
  full hour; we do not round up.
* **months** (``P1M``, ``P3M``) are calendar months on the Europe/Paris wall clock: the same local time
  on the same day of the month, or on the month's last day when that day does not exist (31 January +
  1 month → 28/29 February). Regulation 1182/71 would end the period at the end of that day; we keep
  the same time of day. A local time that does not exist (the spring gap, e.g. 02:30 on 29 March 2026)
  is read with the offset in force before the change (→ 03:30 CEST); an ambiguous one (the autumn
  repeat, 02:30 on 25 October 2026) is read as its first occurrence (CEST), the earlier instant.
* **"sans délai"** duties are due at once; the clocks show the group's internal target (``target:``).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rempart.notify.catalogue import Period

PARIS = ZoneInfo("Europe/Paris")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("deadline arithmetic needs timezone-aware datetimes")
    return value.astimezone(UTC)


def add_period(start: datetime, period: Period, tz: ZoneInfo = PARIS) -> datetime:
    """``start`` + ``period``, returned in UTC, with the semantics described in the module doc."""
    at = _aware(start)
    if period.months:
        local = at.astimezone(tz)
        month0 = local.month - 1 + period.months
        year, month = local.year + month0 // 12, month0 % 12 + 1
        day = min(local.day, calendar.monthrange(year, month)[1])
        wall = local.replace(tzinfo=None, year=year, month=month, day=day)
        at = _from_wall(wall, tz)
    return at + period.exact


def _from_wall(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive Paris wall-clock time → UTC; gap: offset before the change; repeat: first occurrence."""
    # PEP 495: fold=0 takes the offset in force before a transition, which gives both rules at once
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def local(value: datetime, tz: ZoneInfo = PARIS) -> datetime:
    return _aware(value).astimezone(tz)


def format_local(value: datetime, tz: ZoneInfo = PARIS) -> str:
    """'28/11/2026 14:03 (UTC+01:00)': what people read; the offset removes any DST doubt."""
    t = local(value, tz)
    offset = t.strftime("%z")
    return f"{t:%d/%m/%Y %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def format_short(value: datetime, tz: ZoneInfo = PARIS) -> str:
    """'28/11/26 14:03+01' for tables."""
    t = local(value, tz)
    return f"{t:%d/%m/%y %H:%M}{t.strftime('%z')[:3]}"


def format_remaining(delta: timedelta) -> str:
    """'2 j 03 h 15 min' or 'dépassé de 1 h 05 min' (French, minute precision)."""
    late = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    text = (f"{days} j " if days else "") + (
        f"{hours:02d} h {mins:02d} min" if days else f"{hours} h {mins:02d} min"
    )
    return f"dépassé de {text}" if late else text


def describe_deadline(immediate: bool, period: Period) -> str:
    """How the rule reads on a draft: 'sans délai (objectif interne : PT2H)' or 'PT72H'."""
    if immediate:
        return f"sans délai (objectif interne : {_french_period(period)})"
    return _french_period(period)


def _french_period(period: Period) -> str:
    parts: list[str] = []
    if period.months:
        parts.append(f"{period.months} mois")
    total_min = int(period.exact.total_seconds() // 60)
    if total_min or not parts:
        hours, mins = divmod(total_min, 60)
        parts.append(f"{hours} h" + (f" {mins:02d} min" if mins else ""))
    return " + ".join(parts)
