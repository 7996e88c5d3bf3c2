"""RELP (rsyslog ``omrelp`` → us): the acknowledged syslog input.

A frame is ``TXNR SP COMMAND SP DATALEN [SP DATA] LF``. The client opens with ``open`` and its offers; we
answer ``rsp`` ``200 OK`` and ours (relp_version, relp_software, commands=syslog). Every ``syslog`` frame
is answered ``200 OK`` only once :meth:`Sink.accept` has returned, so an acknowledged message is on disk.
The client keeps a window of unacknowledged frames and resends them on a new session (librelp's
``relpSessTryReestablish``). Under back-pressure we answer nothing for those frames and end the session
with ``serverclose``: librelp drops a frame answered with an error status (``scrsp.c``), whereas a broken
session makes it resend every unacknowledged frame once the sender's retry interval has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rempart.serve.contracts import Backpressure, IntakeRecord, Sender, Senders, Sink
from rempart.serve.metrics import IntakeMetrics
from rempart.serve.syslog import StreamReceiver, SyslogInput

MAX_HEADER = 9 + 1 + 32 + 1 + 9 + 1  # TXNR (9 digits), command (32 chars), DATALEN (9 digits), separators
SOFTWARE = "rempart"


class RelpError(Exception):
    """The peer does not speak RELP (or we lost the frame boundaries): the session is closed."""


@dataclass(frozen=True)
class Frame:
    txnr: int
    command: str
    data: bytes


@dataclass
class RelpParser:
    max_data: int
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        buf = self._buffer
        pos = 0
        while True:
            frame, end = self._one(buf, pos)
            if frame is None:
                break
            frames.append(frame)
            pos = end
        del buf[:pos]
        return frames

    def _one(self, buf: bytearray, pos: int) -> tuple[Frame | None, int]:
        first = buf.find(b" ", pos, pos + MAX_HEADER)
        second = buf.find(b" ", first + 1, pos + MAX_HEADER) if first >= 0 else -1
        if second < 0:
            if len(buf) - pos >= MAX_HEADER:
                raise RelpError(f"no RELP header in {bytes(buf[pos:pos + 20])!r}")
            return None, pos
        txnr, command = bytes(buf[pos:first]), bytes(buf[first + 1:second])
        if not txnr.isdigit() or not command.isalpha():
            raise RelpError(f"bad RELP header {bytes(buf[pos:second])[:40]!r}")
        i = second + 1
        while i < len(buf) and i - second <= 10 and buf[i:i + 1].isdigit():
            i += 1
        if i >= len(buf):
            return None, pos
        datalen_text = bytes(buf[second + 1:i])
        if not datalen_text or bytes(buf[i:i + 1]) not in (b" ", b"\n"):
            raise RelpError(f"bad RELP data length {bytes(buf[second + 1:i + 1])[:20]!r}")
        datalen = int(datalen_text)
        if datalen > self.max_data:
            raise RelpError(f"RELP frame of {datalen} octets, more than {self.max_data}")
        if datalen == 0:
            return Frame(int(txnr), command.decode(), b""), i + 1
        start = i + 1
        end = start + datalen
        if len(buf) < end + 1:
            return None, pos
        if buf[i:i + 1] != b" " or buf[end:end + 1] != b"\n":
            raise RelpError("RELP frame without its trailer (LF)")
        return Frame(int(txnr), command.decode(), bytes(buf[start:end])), end + 1


def response(txnr: int, text: str) -> bytes:
    body = text.encode()
    return b"%d rsp %d %s\n" % (txnr, len(body), body) if body else b"%d rsp 0\n" % txnr


def offers(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition("=")
        out[name.strip()] = value.strip()
    return out


async def start_relp(spec: SyslogInput, sink: Sink, senders: Senders,
                     metrics: IntakeMetrics) -> StreamReceiver:
    """RELP, over TLS when the input has a certificate."""
    receiver = StreamReceiver(spec, senders, metrics)
    # the data of a syslog frame is the message; offers and the header fit in a few hundred octets more
    max_data = spec.max_message_bytes + 1024

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: Sender) -> None:
        parser = RelpParser(max_data)
        session = Session(spec, sink, metrics, sender, writer)
        while not receiver.closing.is_set():
            try:
                data = await receiver.read(reader)
            except asyncio.CancelledError:  # the server is closing: the client will resend elsewhere/later
                with contextlib.suppress(ConnectionError):
                    await asyncio.shield(session.server_close())
                raise
            if not data:
                with contextlib.suppress(ConnectionError):  # idle: tell the client to open a new session
                    await session.server_close()
                return
            try:
                frames = parser.feed(data)
            except RelpError:
                metrics.reject(spec.name, sender.establishment, "malformed RELP frame")
                return
            receiver.busy(True)
            try:
                if not await session.handle(frames):
                    return
            finally:
                receiver.busy(False)
        await session.server_close()

    await receiver.start(handle)
    return receiver


class Session:
    def __init__(self, spec: SyslogInput, sink: Sink, metrics: IntakeMetrics, sender: Sender,
                 writer: asyncio.StreamWriter) -> None:
        self.spec, self.sink, self.metrics, self.sender, self.writer = spec, sink, metrics, sender, writer
        self.opened = False

    async def handle(self, frames: Sequence[Frame]) -> bool:
        """Answer the frames read together; False once the session is over."""
        out: list[bytes] = []
        batch: list[Frame] = []
        for frame in frames:
            if frame.command == "syslog" and self.opened:
                batch.append(frame)
                continue
            if batch:  # keep the order of answers: the syslog frames before this one first
                if not await self._syslog(batch, out):
                    return False
                batch = []
            if not self._control(frame, out):
                await self._send(out)
                return False
        if batch and not await self._syslog(batch, out):
            return False
        await self._send(out)
        return True

    def _control(self, frame: Frame, out: list[bytes]) -> bool:
        if frame.command == "open" and not self.opened:
            version = offers(frame.data).get("relp_version", "0")
            self.opened = True
            out.append(response(frame.txnr, f"200 OK\nrelp_version={version}\nrelp_software={SOFTWARE}\n"
                                            "commands=syslog\n"))
            return True
        if frame.command == "close":
            out.append(response(frame.txnr, ""))
            return False
        if frame.command == "syslog":  # before open
            self.metrics.reject(self.spec.name, self.sender.establishment, "malformed RELP frame")
            out.append(response(frame.txnr, "500 session not open"))
            return False
        self.metrics.reject(self.spec.name, self.sender.establishment, "malformed RELP frame")
        out.append(response(frame.txnr, f"500 command {frame.command[:32]} not supported"))
        return frame.command != "open"  # a second open is a protocol error; other commands are skipped

    async def _syslog(self, batch: list[Frame], out: list[bytes]) -> bool:
        establishment = self.sender.establishment
        too_long = [f for f in batch if len(f.data) > self.spec.max_message_bytes]
        if too_long:
            # it would be retransmitted forever if refused; the sender is told, and it is counted
            self.metrics.reject(self.spec.name, establishment, "message too long", len(too_long))
        keep = [f for f in batch if len(f.data) <= self.spec.max_message_bytes]
        now = time.time()
        records = [IntakeRecord(self.spec.name, "syslog", self.sender, now, f.data.rstrip(b"\n"))
                   for f in keep]
        if records:
            self.metrics.received.labels(self.spec.name, establishment or "-").inc(len(records))
            try:
                await self.sink.accept(records)
            except Backpressure:
                self.metrics.reject(self.spec.name, establishment, "backpressure", len(records))
                await self._send(out)  # what was answered before stays answered
                out.clear()
                await self.server_close()
                return False
            self.metrics.accepted.labels(self.spec.name, establishment or "-").inc(len(records))
        for frame in batch:
            if len(frame.data) > self.spec.max_message_bytes:
                out.append(response(frame.txnr, "500 message too long"))
            else:
                out.append(response(frame.txnr, "200 OK"))
        return True

    async def _send(self, out: list[bytes]) -> None:
        if out:
            self.writer.write(b"".join(out))
            await self.writer.drain()

    async def server_close(self) -> None:
        self.writer.write(b"0 serverclose 0\n")
        await self.writer.drain()
