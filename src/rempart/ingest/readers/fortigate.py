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
from datetime import UTC, datetime, timedelta, timezone

from rempart.domain.events import Product
from rempart.ingest.columns import EPOCH
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.lines import RowBuffer, iter_text_lines
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source

_PAIR = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_TZ = re.compile(r"^([+-])(\d\d):?(\d\d)$")


class FortigateReader(Reader):
    name = "fortigate"
    extensions = (".log", ".txt")

    def sniff(self, head: bytes, filename: str) -> int:
        for line in head.split(b"\n")[:5]:
            if b"date=" in line and (b"devname=" in line or b"logid=" in line):
                return 80
        return 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        buffer = RowBuffer(Product.FORTIGATE.value)
        hints = ("srcip", "remip")
        for number, text in iter_text_lines(source, ctx):
            start = text.find("date=")
            row = parse_pairs(text[start:] if start >= 0 else text)
            if not row:
                ctx.quarantine(source, number, "no key=value pairs", text)
                continue
            when = _time(row)
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


def parse_pairs(text: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in _PAIR.findall(text):
        out[key] = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
    return out


def _time(row: dict[str, str | None]) -> tuple[datetime, bool] | None:
    """The time, and whether it has no zone (its wall clock then returned as UTC)."""
    epoch = row.get("eventtime")
    if epoch and epoch.isdigit():
        # seconds (10 digits), ms (13), µs (16) or ns (19): integer arithmetic, no float rounding
        scale = 10 ** max(0, min(len(epoch) - 10, 9))
        micros = int(epoch) * 1_000_000 // scale
        return EPOCH + timedelta(microseconds=micros), False
    try:
        local = datetime.strptime(f"{row.get('date')} {row.get('time')}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    zone = _TZ.match(row.get("tz") or "")
    if zone is None:
        return local.replace(tzinfo=UTC), True
    sign = -1 if zone.group(1) == "-" else 1
    offset = timezone(sign * timedelta(hours=int(zone.group(2)), minutes=int(zone.group(3))))
    return local.replace(tzinfo=offset).astimezone(UTC), False


registry.register(FortigateReader)
