"""What a receiver does with bad or difficult senders: it counts, closes what it must, and loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from pathlib import Path

import pytest

from rempart.serve.framing import Framer
from rempart.serve.metrics import IntakeMetrics
from rempart.serve.relp import start_relp
from rempart.serve.syslog import SyslogInput, start_tcp, start_tls, start_udp
from tests.serve.shippers import ListSink, LoopbackSenders, make_pki, wait_for
from tests.serve.test_syslog_logger import logger


def rejected(metrics: IntakeMetrics, name: str, establishment: str | None, reason: str) -> float:
    value: float = metrics.rejected.labels(name, establishment or "-", reason)._value.get()
    return value


def test_framing_survives_any_cut_of_the_stream() -> None:
    stream = b"<13>one\n<13>two\0<13>three\r\n\n<13>four\n"
    framer = Framer()
    out = [m for byte in stream for m in framer.feed(bytes([byte]))]
    assert out == [b"<13>one", b"<13>two", b"<13>three", b"<13>four"]
    counted = b"7 <13>one8 <13>two\n12 <13>three xy"
    framer = Framer()
    assert [m for byte in counted for m in framer.feed(bytes([byte]))] == [b"<13>one", b"<13>two\n",
                                                                          b"<13>three xy"]


@pytest.mark.parametrize("bad", [b"12x <13>bad", b"012 <13>bad", b"99999999999 <13>x", b"5<13>bad"])
def test_framing_refuses_a_malformed_octet_count(bad: bytes) -> None:
    framer = Framer()
    assert framer.feed(b"4 <13>") == [b"<13>"]
    assert framer.feed(b"5 <13>a" + bad) == [b"<13>a"]
    assert framer.error is not None
    assert framer.feed(b"5 <13>b") == []


def test_malformed_octet_count_closes_only_that_connection() -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        receiver = await start_tcp(SyslogInput(name="syslog-tcp", protocol="tcp", port=0), sink,
                                   LoopbackSenders(), metrics)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
            writer.write(b"9 <13>first" + b"9x <13>broken")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the receiver
            writer.close()
            await logger("--tcp", "--octet-count", "--server", "127.0.0.1", "--port", str(receiver.port),
                         lines=["after"])
            await wait_for(lambda: len(sink.records) >= 2)
        finally:
            await receiver.close()
        assert sink.payloads[0] == b"<13>first"
        assert sink.payloads[1].endswith(b" after")
        assert rejected(metrics, "syslog-tcp", "toulouse", "malformed octet count") == 1

    asyncio.run(main())


@pytest.mark.parametrize("framing", [[], ["--octet-count"]], ids=["newline", "octet-counted"])
def test_over_long_message_is_dropped_and_the_connection_goes_on(framing: list[str]) -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="syslog-tcp", protocol="tcp", port=0, max_message_bytes=300)
        receiver = await start_tcp(spec, sink, LoopbackSenders(), metrics)
        lines = ["before", "x" * 5000, "after"]
        try:
            await logger("--tcp", *framing, "--size", "10000", "--server", "127.0.0.1", "--port",
                         str(receiver.port), lines=lines)
            await wait_for(lambda: len(sink.records) >= 2)
            await asyncio.sleep(0.2)
        finally:
            await receiver.close()
        assert [p.rsplit(b" ", 1)[-1] for p in sink.payloads] == [b"before", b"after"]
        assert rejected(metrics, "syslog-tcp", "toulouse", "message too long") == 1

    asyncio.run(main())


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_unknown_sender_is_refused_and_counted(protocol: str) -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name=f"syslog-{protocol}", protocol=protocol, port=0)  # type: ignore[arg-type]
        start = start_tcp if protocol == "tcp" else start_udp
        receiver = await start(spec, sink, LoopbackSenders(allowed="192.0.2.1"), metrics)  # type: ignore[operator]
        try:
            await logger(f"--{protocol}", "--server", "127.0.0.1", "--port", str(receiver.port),
                         lines=["who am I"])
            await wait_for(lambda: rejected(metrics, spec.name, None, "unknown sender") >= 1)
            await asyncio.sleep(0.2)
        finally:
            await receiver.close()
        assert sink.records == []

    asyncio.run(main())


def test_an_idle_client_is_closed_while_others_are_served() -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="syslog-tcp", protocol="tcp", port=0, idle_timeout=2.0)
        receiver = await start_tcp(spec, sink, LoopbackSenders(), metrics)
        try:
            idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", receiver.port)
            idle_writer.write(b"<13>half a mess")  # and then nothing more
            await idle_writer.drain()
            opened = time.monotonic()
            for n in range(3):
                await logger("--tcp", "--server", "127.0.0.1", "--port", str(receiver.port),
                             lines=[f"busy {n}"])
            await wait_for(lambda: len(sink.records) >= 3, timeout=1.8)  # before the idle one times out
            assert await asyncio.wait_for(idle_reader.read(), 5) == b""
            assert 1.9 < time.monotonic() - opened < 5
            idle_writer.close()
        finally:
            await receiver.close()
        assert [p.rsplit(b" ", 1)[-1] for p in sink.payloads] == [b"0", b"1", b"2"]
        assert rejected(metrics, "syslog-tcp", None, "idle timeout") == 1

    asyncio.run(main())


def test_tcp_backpressure_pauses_reading_and_drops_nothing() -> None:
    async def main() -> None:
        sink, metrics = ListSink(refuse=True), IntakeMetrics()
        receiver = await start_tcp(SyslogInput(name="syslog-tcp", protocol="tcp", port=0), sink,
                                   LoopbackSenders(), metrics)
        lines = [f"event {n}" for n in range(2000)]
        try:
            sending = asyncio.create_task(logger("--tcp", "--octet-count", "--server", "127.0.0.1", "--port",
                                                 str(receiver.port), lines=lines))
            await wait_for(lambda: sink.refused >= 3)
            sink.refuse = False
            await sending
            await wait_for(lambda: len(sink.records) >= len(lines))
            await asyncio.sleep(0.2)
        finally:
            await receiver.close()
        assert [p.rsplit(b" ", 2)[-2:] for p in sink.payloads] == [line.encode().split() for line in lines]

    asyncio.run(main())


def test_close_lets_the_accept_under_way_finish() -> None:
    async def main() -> None:
        sink, metrics = ListSink(delay=0.5), IntakeMetrics()
        receiver = await start_tcp(SyslogInput(name="syslog-tcp", protocol="tcp", port=0), sink,
                                   LoopbackSenders(), metrics)
        _, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        writer.write(b"<13>in flight\n")
        await writer.drain()
        await asyncio.sleep(0.2)  # the receiver is inside accept now
        await receiver.close()
        assert sink.payloads == [b"<13>in flight"]
        writer.close()

    asyncio.run(main())


def test_relp_over_long_frame_is_refused_alone_and_a_broken_frame_ends_the_session() -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="relp", protocol="relp", port=0, max_message_bytes=100)
        receiver = await start_relp(spec, sink, LoopbackSenders(), metrics)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
            offers = b"relp_version=0\nrelp_software=librelp\ncommands=syslog"
            long = b"<13>" + b"x" * 200
            writer.write(b"1 open %d %s\n" % (len(offers), offers) + b"2 syslog 8 <13>kept\n"
                         + b"3 syslog %d %s\n" % (len(long), long) + b"4 syslog 9 <13>after\n")
            await writer.drain()
            answers = b""
            while answers.count(b"\n") < 8:  # the open answer holds 4 lines
                answers += await asyncio.wait_for(reader.read(4096), 5)
            assert b"\n2 rsp 6 200 OK\n3 rsp 20 500 message too long\n4 rsp 6 200 OK\n" in answers
            assert answers.startswith(b"1 rsp ") and b"commands=syslog" in answers
            writer.write(b"5 syslog 5x <13>broken\n")
            await writer.drain()
            assert (await asyncio.wait_for(reader.read(), 5)) == b""
            writer.close()
        finally:
            await receiver.close()
        assert sink.payloads == [b"<13>kept", b"<13>after"]
        assert rejected(metrics, "relp", "toulouse", "message too long") == 1
        assert rejected(metrics, "relp", "toulouse", "malformed RELP frame") == 1

    asyncio.run(main())


def test_closing_the_relp_receiver_says_serverclose() -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        receiver = await start_relp(SyslogInput(name="relp", protocol="relp", port=0), sink,
                                    LoopbackSenders(), metrics)
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        writer.write(b"1 open 14 relp_version=0\n2 syslog 8 <13>kept\n")
        await writer.drain()
        await wait_for(lambda: len(sink.records) == 1)
        await receiver.close()
        answers = await asyncio.wait_for(reader.read(), 5)
        assert answers.endswith(b"2 rsp 6 200 OK\n0 serverclose 0\n")
        writer.close()

    asyncio.run(main())


def test_tls_client_without_a_certificate_of_our_ca_is_refused_and_counted(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)

    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="syslog-tls", protocol="tls", port=0, tls_cert=pki.server_cert,
                           tls_key=pki.server_key, tls_ca=pki.ca)
        receiver = await start_tls(spec, sink, LoopbackSenders(), metrics)
        try:
            context = ssl.create_default_context(cafile=pki.ca)  # trusts us, shows no certificate
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port, ssl=context,
                                                           server_hostname="localhost")
            writer.write(b"<13>from nobody\n")
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.drain()
                assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            await wait_for(lambda: rejected(metrics, "syslog-tls", None, "tls handshake failed") == 1)
        finally:
            await receiver.close()
        assert sink.records == []

    asyncio.run(main())
