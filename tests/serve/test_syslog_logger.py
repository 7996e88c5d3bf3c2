"""util-linux ``logger`` sends over UDP and TCP, in RFC 5424 and RFC 3164: each message arrives as sent."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from rempart.serve.metrics import IntakeMetrics
from rempart.serve.syslog import SyslogInput, start_tcp, start_udp
from tests.conftest import need
from tests.serve.shippers import ListSink, LoopbackSenders, wait_for

MESSAGES = [f"sudo: alice : TTY=pts/{i} ; PWD=/root ; USER=root ; COMMAND=/bin/cat /etc/shadow"
            for i in range(50)]
SHAPES = {
    "--rfc3164": rb"<13>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ app: ",
    "--rfc5424": rb"<13>1 \S+ \S+ app - - \[timeQuality [^\]]*\] ",
}


async def logger(*args: str, lines: list[str]) -> None:
    need(shutil.which("logger") is not None, "logger is not installed (Debian package bsdutils)")
    process = await asyncio.create_subprocess_exec("logger", "-t", "app", *args,
                                                   stdin=asyncio.subprocess.PIPE)
    await process.communicate("".join(line + "\n" for line in lines).encode())
    assert process.returncode == 0


def assert_arrived(payloads: list[bytes], style: str, messages: list[str]) -> None:
    assert len(payloads) == len(messages)
    for payload, message in zip(payloads, messages, strict=True):
        assert re.fullmatch(SHAPES[style] + re.escape(message.encode()), payload), payload


@pytest.mark.parametrize("style", ["--rfc5424", "--rfc3164"])
@pytest.mark.parametrize("framing", [[], ["--octet-count"]], ids=["newline", "octet-counted"])
def test_logger_over_tcp(style: str, framing: list[str]) -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        receiver = await start_tcp(SyslogInput(name="syslog-tcp", protocol="tcp", port=0), sink,
                                   LoopbackSenders(), metrics)
        try:
            await logger("--tcp", "--server", "127.0.0.1", "--port", str(receiver.port), style, *framing,
                         lines=MESSAGES)
            await wait_for(lambda: len(sink.records) >= len(MESSAGES))
        finally:
            await receiver.close()
        assert_arrived(sink.payloads, style, MESSAGES)
        assert {r.sender.establishment for r in sink.records} == {"toulouse"}

    asyncio.run(main())


@pytest.mark.parametrize("style", ["--rfc5424", "--rfc3164"])
def test_logger_over_udp(style: str) -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        receiver = await start_udp(SyslogInput(name="syslog-udp", protocol="udp", port=0), sink,
                                   LoopbackSenders(), metrics)
        try:
            for message in MESSAGES[:10]:  # one process per datagram: loopback UDP keeps them in order
                await logger("--udp", "--server", "127.0.0.1", "--port", str(receiver.port), style,
                             lines=[message])
            await wait_for(lambda: len(sink.records) >= 10)
        finally:
            await receiver.close()
        assert_arrived(sink.payloads, style, MESSAGES[:10])
        assert all(r.sender.address.startswith("127.0.0.1:") for r in sink.records)
        assert {r.input for r in sink.records} == {"syslog-udp"}

    asyncio.run(main())


def test_many_connections_at_once_each_keep_their_order() -> None:
    async def main() -> None:
        sink, metrics = ListSink(delay=0.005), IntakeMetrics()
        receiver = await start_tcp(SyslogInput(name="syslog-tcp", protocol="tcp", port=0), sink,
                                   LoopbackSenders(), metrics)
        senders = {f"s{k}": [f"s{k} line {n}" for n in range(40)] for k in range(20)}
        try:
            await asyncio.gather(*(logger("--tcp", "--octet-count", "--server", "127.0.0.1", "--port",
                                          str(receiver.port), lines=lines) for lines in senders.values()))
            await wait_for(lambda: len(sink.records) >= 800)
        finally:
            await receiver.close()
        by_address: dict[str, list[bytes]] = {}
        for record in sink.records:
            by_address.setdefault(record.sender.address, []).append(record.payload.rsplit(b"] ", 1)[1])
        assert len(by_address) == 20
        sent = [[m.encode() for m in lines] for lines in senders.values()]
        assert sorted(by_address.values()) == sorted(sent)

    asyncio.run(main())
