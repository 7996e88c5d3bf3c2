"""Syslog receivers: UDP (one datagram, one message), TCP and TLS (RFC 5425) with RFC 6587 framing.

Each message becomes ``IntakeRecord(kind="syslog")`` with the message as sent, without its framing, and
goes to the :class:`~rempart.serve.contracts.Sink`. Plain TCP and TLS have no application
acknowledgement: we await :meth:`Sink.accept` before reading more, so when the journal is slower than the
sender the socket buffers fill and TCP's own flow control makes the sender wait. On
:class:`~rempart.serve.contracts.Backpressure` the records already read stay pending, reading stays
paused, and accept is retried after ``retry_after``: nothing read is dropped. What is in flight when a
TCP connection breaks is lost on the sender's side (rsyslog's own note); RELP is the acknowledged input.
UDP is at most once: a datagram that the sink refuses is counted and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rempart.serve.contracts import Backpressure, IntakeRecord, Sender, Senders, Sink
from rempart.serve.framing import Framer
from rempart.serve.metrics import IntakeMetrics

READ_CHUNK = 64 * 1024
UDP_SOCKET_BUFFER = 8 * 1024 * 1024  # the kernel caps it at net.core.rmem_max
UDP_QUEUE = 10_000  # datagrams waiting for the sink; beyond, UDP drops (and counts) as the kernel would


class SyslogInput(BaseModel):
    """One syslog or RELP listener of serve.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str
    protocol: Literal["udp", "tcp", "tls", "relp"]
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    tls_cert: Path | None = None  # server certificate (PEM); required for tls, turns RELP into RELP/TLS
    tls_key: Path | None = None
    tls_ca: Path | None = None  # when set, clients must show a certificate from this CA; its CN is the sender
    max_message_bytes: int = Field(default=64 * 1024, gt=0)
    idle_timeout: float = Field(default=300.0, gt=0)  # seconds without a byte before a connection is closed

    @model_validator(mode="after")
    def _tls_files(self) -> SyslogInput:
        if self.protocol == "tls" and (self.tls_cert is None or self.tls_key is None):
            raise ValueError("protocol tls needs tls_cert and tls_key (PEM files)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give tls_cert and tls_key together")
        if self.tls_ca is not None and self.tls_cert is None:
            raise ValueError("tls_ca (client certificates) needs tls_cert and tls_key")
        return self


def server_context(spec: SyslogInput) -> ssl.SSLContext | None:
    if spec.tls_cert is None or spec.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(spec.tls_cert, spec.tls_key)
    if spec.tls_ca is not None:
        context.load_verify_locations(spec.tls_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def peer_address(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


def identify(writer: asyncio.StreamWriter, senders: Senders, client_certs: bool) -> Sender | None:
    """The sender of a connection: its certificate's CN when the input asks for one, else its address."""
    address = peer_address(writer.get_extra_info("peername"))
    if client_certs:
        cert = writer.get_extra_info("peercert")
        subject = dict(item[0] for item in cert.get("subject", ())) if cert else {}
        common_name = subject.get("commonName")
        return senders.by_certificate(str(common_name), address) if common_name else None
    return senders.by_address(address)


async def accept_patiently(sink: Sink, records: Sequence[IntakeRecord]) -> None:
    """Accept, waiting out back-pressure for as long as it lasts; the records stay ours meanwhile. Reading
    is paused all that time, so TCP makes the sender wait. A shutdown waits for it up to its grace."""
    while True:
        try:
            await sink.accept(records)
            return
        except Backpressure as exc:
            await asyncio.sleep(max(exc.retry_after, 0.01))


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Sender], Awaitable[None]]


class StreamReceiver:
    """A TCP/TLS server whose connections are tracked, so that close() lets in-flight accepts finish."""

    def __init__(self, spec: SyslogInput, senders: Senders, metrics: IntakeMetrics) -> None:
        self.spec = spec
        self.senders = senders
        self.metrics = metrics
        self.closing = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], bool] = {}  # task → inside an accept (do not cancel)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, handler: Handler) -> None:
        context = server_context(self.spec)
        client_certs = self.spec.tls_ca is not None

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections[task] = False
            try:
                if context is not None and not await self._handshake(writer, context):
                    return
                sender = identify(writer, self.senders, client_certs)
                if sender is None:
                    self.metrics.reject(self.spec.name, None, "unknown sender")
                    return
                if not self.closing.is_set():
                    await handler(reader, writer, sender)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                pass  # the peer went away; what it had sent and we accepted is journaled
            finally:
                self._connections.pop(task, None)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        # TLS is started by hand on each connection, so that a failed handshake (no certificate, one from
        # another CA) is counted, and a client that never finishes it is dropped after idle_timeout
        self._server = await asyncio.start_server(connected, self.spec.host, self.spec.port, limit=READ_CHUNK)

    async def _handshake(self, writer: asyncio.StreamWriter, context: ssl.SSLContext) -> bool:
        try:
            await writer.start_tls(context, ssl_handshake_timeout=self.spec.idle_timeout)
        except (ssl.SSLError, ConnectionError, TimeoutError):
            self.metrics.reject(self.spec.name, None, "tls handshake failed")
            return False
        return True

    def busy(self, inside_accept: bool) -> None:
        task = asyncio.current_task()
        if task in self._connections:
            self._connections[task] = inside_accept

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        """Some bytes, b"" at the end; an idle connection is closed after ``idle_timeout``."""
        try:
            return await asyncio.wait_for(reader.read(READ_CHUNK), self.spec.idle_timeout)
        except TimeoutError:
            self.metrics.reject(self.spec.name, None, "idle timeout")
            return b""

    async def deliver(self, sink: Sink, sender: Sender, payloads: list[bytes]) -> None:
        received = time.time()
        records = [IntakeRecord(self.spec.name, "syslog", sender, received, p) for p in payloads]
        establishment = sender.establishment or "-"
        self.metrics.received.labels(self.spec.name, establishment).inc(len(records))
        self.busy(True)
        try:
            await accept_patiently(sink, records)
        finally:
            self.busy(False)
        self.metrics.accepted.labels(self.spec.name, establishment).inc(len(records))

    async def close(self, grace: float = 10.0) -> None:
        """Stop listening, let every accept under way return, then close the connections."""
        self.closing.set()
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while any(self._connections.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def start_stream(spec: SyslogInput, sink: Sink, senders: Senders,
                       metrics: IntakeMetrics) -> StreamReceiver:
    """Syslog over TCP, or over TLS when the input has a certificate (RFC 5425)."""
    receiver = StreamReceiver(spec, senders, metrics)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: Sender) -> None:
        framer = Framer(spec.max_message_bytes)
        establishment = sender.establishment
        while not receiver.closing.is_set():
            data = await receiver.read(reader)
            if not data:
                return
            dropped = framer.too_long
            payloads = framer.feed(data)
            if framer.too_long > dropped:
                metrics.reject(spec.name, establishment, "message too long", framer.too_long - dropped)
            if payloads:
                await receiver.deliver(sink, sender, payloads)
            if framer.error is not None:  # the complete messages before it are kept, then we hang up
                metrics.reject(spec.name, establishment, "malformed octet count")
                return

    await receiver.start(handle)
    return receiver


async def start_tcp(spec: SyslogInput, sink: Sink, senders: Senders,
                    metrics: IntakeMetrics) -> StreamReceiver:
    return await start_stream(spec, sink, senders, metrics)


async def start_tls(spec: SyslogInput, sink: Sink, senders: Senders,
                    metrics: IntakeMetrics) -> StreamReceiver:
    if spec.tls_cert is None:
        raise ValueError(f"input {spec.name}: protocol tls needs tls_cert and tls_key")
    return await start_stream(spec, sink, senders, metrics)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: UdpReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.receiver.received(data, peer_address(addr))


class UdpReceiver:
    """One datagram, one message. Datagrams are queued and handed to the sink in batches."""

    def __init__(self, spec: SyslogInput, sink: Sink, senders: Senders, metrics: IntakeMetrics) -> None:
        self.spec, self.sink, self.senders, self.metrics = spec, sink, senders, metrics
        self._queue: asyncio.Queue[IntakeRecord] = asyncio.Queue(UDP_QUEUE)
        self._transport: asyncio.DatagramTransport | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._in_accept = False

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(self.spec.host, self.spec.port))
        sock = self._transport.get_extra_info("socket")
        with contextlib.suppress(OSError):  # a burst waits in the kernel rather than being dropped there
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_SOCKET_BUFFER)
        self._flusher = asyncio.create_task(self._flush())

    def received(self, data: bytes, address: str) -> None:
        sender = self.senders.by_address(address)
        if sender is None:
            self.metrics.reject(self.spec.name, None, "unknown sender")
            return
        payload = data.rstrip(b"\n\0")  # some senders end a datagram with LF or NUL: framing, not message
        if len(payload) > self.spec.max_message_bytes:
            self.metrics.reject(self.spec.name, sender.establishment, "message too long")
            return
        if not payload:
            return
        self.metrics.received.labels(self.spec.name, sender.establishment or "-").inc()
        try:
            self._queue.put_nowait(IntakeRecord(self.spec.name, "syslog", sender, time.time(), payload))
        except asyncio.QueueFull:
            self.metrics.reject(self.spec.name, sender.establishment, "backpressure")

    async def _flush(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # one more turn of the loop reads the datagrams already waiting
            while not self._queue.empty() and len(batch) < UDP_QUEUE:
                batch.append(self._queue.get_nowait())
            self._in_accept = True
            try:
                await self._accept(batch)
            finally:
                self._in_accept = False
            if self._closing.is_set() and self._queue.empty():
                return

    async def _accept(self, batch: list[IntakeRecord]) -> None:
        # UDP cannot make its sender wait: under back-pressure we hold this batch and retry, while new
        # datagrams queue up to UDP_QUEUE and beyond are dropped and counted (at most once)
        while True:
            try:
                await self.sink.accept(batch)
                break
            except Backpressure as exc:
                if self._closing.is_set():
                    for record in batch:
                        self.metrics.reject(self.spec.name, record.sender.establishment, "backpressure")
                    return
                await asyncio.sleep(max(exc.retry_after, 0.01))
        for record in batch:
            self.metrics.accepted.labels(self.spec.name, record.sender.establishment or "-").inc()

    async def close(self, grace: float = 10.0) -> None:
        """Stop listening, hand what was already received to the sink, then stop."""
        self._closing.set()
        if self._transport is not None:
            self._transport.close()
        if self._flusher is not None:
            if self._queue.empty() and not self._in_accept:
                self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._flusher, grace)


async def start_udp(spec: SyslogInput, sink: Sink, senders: Senders, metrics: IntakeMetrics) -> UdpReceiver:
    receiver = UdpReceiver(spec, sink, senders, metrics)
    await receiver.start()
    return receiver


class Receiver(Protocol):
    """What every start_* returns: the port it listens on (useful with port 0) and a graceful close."""

    @property
    def port(self) -> int: ...

    async def close(self, grace: float = 10.0) -> None: ...


async def start_input(spec: SyslogInput, sink: Sink, senders: Senders, metrics: IntakeMetrics) -> Receiver:
    """Start the listener ``spec`` describes (udp, tcp, tls or relp)."""
    if spec.protocol == "udp":
        return await start_udp(spec, sink, senders, metrics)
    if spec.protocol == "relp":
        from rempart.serve.relp import start_relp  # relp builds on this module's stream receiver

        return await start_relp(spec, sink, senders, metrics)
    return await start_stream(spec, sink, senders, metrics)
