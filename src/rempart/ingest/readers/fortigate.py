"""FortiGate (FortiOS 6.x/7.x) key=value logs: SSL-VPN events and traffic logs.

Each line is ``key=value`` pairs separated by spaces, values quoted when they hold spaces, possibly behind a
syslog header. Samples (FortiOS 7.2, as sent to syslog)::

    date=2026-11-28 time=10:01:02 devname="FGT-TOULOUSE" devid="FG100FTK22001234" eventtime=1795856462123456789 tz="+0100" logid="0101039426" type="event" subtype="vpn" level="alert" vd="root" logdesc="SSL VPN login fail" action="ssl-login-fail" tunneltype="ssl-web" tunnelid=0 remip=203.0.113.50 user="c.martin" group="N/A" dst_host="N/A" reason="sslvpn_login_permission_denied" msg="SSL user failed to logged in"
    date=2026-11-28 time=10:05:40 devname="FGT-TOULOUSE" devid="FG100FTK22001234" eventtime=1795856740000000000 tz="+0100" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.20.1.15 srcport=50122 srcintf="lan" dstip=198.51.100.20 dstport=443 dstintf="wan1" proto=6 action="close" service="HTTPS" duration=62 sentbyte=18234 rcvdbyte=502311

Field names are FortiOS's own (``srcip``, ``dstip``, ``remip``, ``user``, ``action``, ``sentbyte``,
``rcvdbyte``, ``tunnelip``…). ``_service`` is ``subtype`` for events (``vpn``, ``system``…) and ``traffic``
for traffic logs; ``_host`` is ``devname``. Time: ``eventtime`` (epoch in s, ms, µs or ns) when present,
else ``date`` + ``time`` with ``tz``; without ``tz``, the device's local time, read by the pipeline in the
zone of the establishment it belongs to (see :meth:`rempart.inventory.Resolver.zone`).
"""  # noqa: E501 - real log lines as samples

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone

from rempart.domain.events import Product
from rempart.ingest.columns import EPOCH
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.lines import RowBuffer, first_lines, iter_text_lines, share_score, unreadable
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source

# linear in the line's length, whatever it holds: a key starts only where a word does (a run of letters
# with no '=' is tried once, not from each of its letters) and nothing is given back (possessive '*+'); a
# quoted value runs to its closing quote or, cut short, to the end of the line
_PAIR = re.compile(r'(?<![\w-])([A-Za-z_][\w-]*+)=(?:"((?:[^"\\]|\\.)*+)(?:"|\\?\Z)|(\S*+))')
# what a FortiGate line is: key=value pairs from its start, or after a <PRI> and a syslog header
_LINE = re.compile(
    r"^(?:<\d{1,3}>)?(?:(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ )?"
    r"(?=[A-Za-z_][\w-]*=)"
)
_TZ = re.compile(r"^([+-])(\d\d):?(\d\d)$")


class FortigateReader(Reader):
    name = "fortigate"
    extensions = (".log", ".txt")
    per_line = True

    def sniff(self, head: bytes, filename: str) -> int:
        # by the shape of the first lines, never by a string that may sit in a value: an sshd line logging
        # the user name 'date=1 devname=x' is no FortiGate line
        return share_score(80, first_lines(head), _is_fortigate)

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        buffer = RowBuffer(Product.FORTIGATE.value)
        hints = ("srcip", "remip")
        for number, text in iter_text_lines(source, ctx):
            start = text.find("date=")
            try:
                row = parse_pairs(text[start:] if start >= 0 else text)
                when = _time(row) if row else None
            except Exception as exc:  # noqa: BLE001 - a record costs at most itself
                ctx.quarantine(source, number, unreadable(exc), text)
                continue
            if not row:
                ctx.quarantine(source, number, "no key=value pairs", text)
                continue
            if when is None:
                ctx.quarantine(source, number, "no valid date/time or eventtime", text)
                continue
            ts, local = when
            kind = row.get("type")
            service = "traffic" if kind == "traffic" else (row.get("subtype") or kind or "event")
            buffer.add(row, ts, row.get("devname"), service, number, text, local=local)
            if len(buffer) >= ctx.batch_size:
                yield buffer.batch(ctx, hints)
        if len(buffer):
            yield buffer.batch(ctx, hints)


def _is_fortigate(line: str) -> bool:
    start = _LINE.match(line)
    keys = parse_pairs(line[start.end() :]) if start is not None else {}
    return "date" in keys and ("devname" in keys or "logid" in keys)


def parse_pairs(text: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for match in _PAIR.finditer(text):
        quoted = match.group(2)
        out[match.group(1)] = quoted.replace('\\"', '"') if quoted is not None else match.group(3)
    return out


def _time(row: dict[str, str | None]) -> tuple[datetime, bool] | None:
    """The time, and whether it has no zone (its wall clock then returned as UTC)."""
    # out of range is None, never an error: a 5,000-digit eventtime, tz="+9900", year 1 at +01:00
    epoch = row.get("eventtime")
    if epoch and epoch.isascii() and epoch.isdigit() and len(epoch) <= 19:
        # seconds (10 digits), ms (13), µs (16) or ns (19): integer arithmetic, no float rounding
        scale = 10 ** max(0, min(len(epoch) - 10, 9))
        micros = int(epoch) * 1_000_000 // scale
        with suppress(OverflowError):
            return EPOCH + timedelta(microseconds=micros), False
    try:
        local = datetime.strptime(f"{row.get('date')} {row.get('time')}", "%Y-%m-%d %H:%M:%S")
        zone = _TZ.match(row.get("tz") or "")
        if zone is None:
            return local.replace(tzinfo=UTC), True
        sign = -1 if zone.group(1) == "-" else 1
        offset = timezone(sign * timedelta(hours=int(zone.group(2)), minutes=int(zone.group(3))))
        return local.replace(tzinfo=offset).astimezone(UTC), False
    except (ValueError, OverflowError):
        return None


registry.register(FortigateReader)
