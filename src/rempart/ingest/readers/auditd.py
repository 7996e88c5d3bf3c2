"""Linux audit logs (``/var/log/audit/audit.log``): one event per record, as SigmaHQ's ``auditd`` rules
read them (``type: EXECVE`` with ``a0``, ``a1``…; ``type: SYSCALL`` with ``exe``, ``comm``, ``key``,
``SYSCALL``; ``type: PATH`` with ``name``).

Samples (RHEL 9, ``log_format = ENRICHED``: the interpreted values follow a ``\\x1d``)::

    type=SYSCALL msg=audit(1795856531.123:4242): arch=c000003e syscall=59 success=yes exit=0 a0=55d1 a1=55d2
    a2=55d3 a3=0 items=2 ppid=1580 pid=1602 auid=1000 uid=0 … comm="curl" exe="/usr/bin/curl"
    key="susp_activity"\\x1dARCH=x86_64 SYSCALL=execve AUID="c.martin" UID="root" …
    type=EXECVE msg=audit(1795856531.123:4242): argc=3 a0="curl" a1="-s" a2=687474703A2F2F3230332E302E…

- Fields: every ``key=value`` of the record, the interpreted ones after ``\\x1d`` included (``SYSCALL``,
  ``AUID``…; each replaces the raw value of the same name, ``syscall=59``, as ``ausearch -i`` shows them:
  SigmaHQ's rules test the interpreted ones), and those of a user message's inner ``msg='…'`` (``op``,
  ``acct``, ``addr``, ``res``…).
  ``type`` is the record type, ``serial`` the event serial that ties the records of one event together.
- Strings auditd wrote in hexadecimal (an argument with a space, a ``proctitle`` whose arguments are
  separated by NUL bytes) are decoded; NULs become spaces.
- Time: ``msg=audit(<epoch>.<ms>:<serial>)``, UTC. Host: ``node=`` when the records were forwarded (audisp),
  else none, and the pipeline attributes them by the server folder of their path, when the inventory knows
  one (``collecte/tls-cap-dpi01/var/log/audit/audit.log``).
- ``_service`` is ``auditd``.
"""

from __future__ import annotations

from collections.abc import Iterator

from rempart.domain.events import Product
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.lines import RowBuffer, first_lines, iter_text_lines, share_score, unreadable
from rempart.ingest.linux import AUDITD, ENRICHED, audit_record, is_audit_record
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source


class AuditdReader(Reader):
    name = "auditd"
    extensions = (".log", "audit.log")
    per_line = True

    def sniff(self, head: bytes, filename: str) -> int:
        return share_score(85, first_lines(head), is_audit_record)

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        buffer = RowBuffer(Product.LINUX.value)
        for number, text in iter_text_lines(source, ctx, allow=ENRICHED):
            try:
                parsed = audit_record(text)
            except Exception as exc:  # noqa: BLE001 - a record costs at most itself
                ctx.quarantine(source, number, unreadable(exc), text)
                continue
            if parsed is None:
                reason = "not an audit record (type=… msg=audit(…):), or its time out of range"
                ctx.quarantine(source, number, reason, text)
                continue
            row, ts = parsed
            buffer.add(row, ts, row.get("node"), AUDITD, number, text)
            if len(buffer) >= ctx.batch_size:
                yield buffer.batch(ctx, ("addr",))
        if len(buffer):
            yield buffer.batch(ctx, ("addr",))


registry.register(AuditdReader)
