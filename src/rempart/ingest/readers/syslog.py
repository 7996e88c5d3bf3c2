"""Linux syslog / auth.log, RFC 3164 (BSD) and RFC 5424 lines, with sshd and sudo messages parsed.

Samples::

    Nov 28 10:02:11 dpi-srv01 sshd[4242]: Failed password for invalid user admin from 203.0.113.7 port 51234 ssh2
    <38>1 2026-11-28T10:02:13.120+01:00 dpi-srv01 sudo - - - alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id

Also accepted: RFC 3164 with a leading ``<PRI>`` and rsyslog's ISO timestamps in place of ``Mmm dd hh:mm:ss``,
and what ``journalctl`` prints (``-o short``, ``short-precise`` with microseconds, ``short-iso``); its
``-- Boot … --`` lines are skipped, being neither events nor bad records.

Fields: ``hostname``, ``program``, ``pid``, ``message`` (and ``facility`` / ``severity`` from ``<PRI>``,
``msgid`` for RFC 5424), plus what :mod:`rempart.ingest.linux` reads in the message: sshd (and OpenSSH
9.8+'s ``sshd-session`` / ``sshd-auth``) adds ``outcome`` (``failure`` / ``success`` / ``invalid_user``),
``user``, ``source_ip``, ``source_port``, ``auth_method``; sudo adds ``user``, ``target_user``, ``command``,
``tty``, ``pwd`` (and ``outcome=failure`` for "incorrect password attempts"); a ``sysmon`` message is a
Sysmon for Linux event, an ``audispd`` one an audit record.

Time: RFC 3164 has no year and no zone. The year is ``reference_year`` when given, else the year of the
file's modification time, minus one for a date after that time (a December line in a file written in
January). A time with no zone is the server's local time: the pipeline reads it in the zone of the host
that logged it (``timezone`` of the inventory: the asset's, its establishment's or the group's, Europe/Paris
by default), or ``--timezone`` / UTC for a host outside the inventory.

``_service``: ``sshd`` for sshd lines, ``sudo`` for sudo lines, ``sysmon`` / ``auditd`` for those events,
``auth`` for other lines of a file named ``auth.log*`` / ``secure*``, ``syslog`` otherwise.
"""  # noqa: E501 - real log lines as samples

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from rempart.domain.events import Product
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.lines import RowBuffer, first_lines, iter_text_lines, share_score, unreadable
from rempart.ingest.linux import read_message
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source

_PRI = r"(?:<(?P<pri>\d{1,3})>)?"
_RFC3164 = re.compile(
    _PRI + r"(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,6})?|\d{4}-\d\d-\d\dT\S+)\s+"
    r"(?P<host>\S+)\s+(?P<program>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<message>.*)$"
)
_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<program>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)\s?(?P<message>.*)$"
)
_JOURNAL_MARK = re.compile(  # what journalctl prints between entries: not events, not bad records
    r"^-- (?:Boot [0-9a-f]{32}|No entries|Reboot|Logs begin at .*|Journal begins at .*) --$"
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_AUTH_FILES = ("auth.log", "secure")


class SyslogReader(Reader):
    name = "syslog"
    extensions = (".log", ".syslog", "auth.log", "secure", "messages", "syslog")
    per_line = True

    def sniff(self, head: bytes, filename: str) -> int:
        lines = first_lines(head)
        rfc5424 = share_score(70, lines, lambda line: _RFC5424.match(line) is not None)
        return rfc5424 or share_score(60, lines, lambda line: _RFC3164.match(line) is not None)

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        base = datetime.fromtimestamp(source.mtime, UTC)
        year = ctx.reference_year or base.year
        auth_file = (source.member or source.path.name).lower().rsplit("/", 1)[-1].startswith(_AUTH_FILES)
        buffer = RowBuffer(Product.LINUX.value)
        for number, text in iter_text_lines(source, ctx):
            if _JOURNAL_MARK.match(text):
                continue
            try:
                parsed = _parse(text, year, base if ctx.reference_year is None else None)
                if isinstance(parsed, str):
                    ctx.quarantine(source, number, parsed, text)
                    continue
                row, ts, local = parsed
                said = read_message(row.get("program") or "", row.get("message") or "", auth_file)
            except Exception as exc:  # noqa: BLE001 - a record costs at most itself
                ctx.quarantine(source, number, unreadable(exc), text)
                continue
            row.update(said.fields)
            if said.time is not None:  # Sysmon's own UTC time, to the microsecond
                ts, local = said.time, False
            buffer.add(row, ts, row.get("hostname"), said.service, number, text, local=local)
            if len(buffer) >= ctx.batch_size:
                yield buffer.batch(ctx, ("source_ip",))
        if len(buffer):
            yield buffer.batch(ctx, ("source_ip",))


def _parse(text: str, year: int, mtime: datetime | None
           ) -> tuple[dict[str, str | None], datetime, bool] | str:
    m = _RFC5424.match(text) or _RFC3164.match(text)
    if m is None:
        return "not a syslog line (RFC 3164 / RFC 5424)"
    groups = m.groupdict()
    when = _time(groups["ts"], year, mtime)
    if when is None:
        return f"bad syslog timestamp {groups['ts']!r}"
    pid = groups.get("pid")
    row: dict[str, str | None] = {
        "hostname": groups["host"],
        "program": groups["program"],
        "pid": None if pid in (None, "-") else pid,
        "message": groups["message"],
    }
    if groups.get("pri"):
        pri = int(groups["pri"])
        row["facility"], row["severity"] = str(pri // 8), str(pri % 8)
    if groups.get("msgid") not in (None, "-"):
        row["msgid"] = groups["msgid"]
    return row, *when


def _time(text: str, year: int, mtime: datetime | None) -> tuple[datetime, bool] | None:
    """The time, and whether it was written with no zone (its wall clock is then returned as UTC)."""
    # out of range is None, never an error: 'Feb 29' in a year that has none, year 1 east of Greenwich
    try:
        if text[:1].isdigit():
            ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return (ts.astimezone(UTC), False) if ts.tzinfo else (ts.replace(tzinfo=UTC), True)
        clock_text, _, fraction = text[4:].strip().partition(".")
        month = _MONTHS[text[:3]]
        clock = datetime.strptime(clock_text, "%d %H:%M:%S")
        micro = int(fraction.ljust(6, "0")) if fraction else 0
        ts = datetime(year, month, clock.day, clock.hour, clock.minute, clock.second, micro, tzinfo=UTC)
        if mtime is not None and ts > mtime.replace(microsecond=0) and (ts - mtime).days > 1:
            ts = ts.replace(year=year - 1)  # a December line in a file last written in January
    except (KeyError, ValueError, OverflowError):
        return None
    return ts, True


registry.register(SyslogReader)
