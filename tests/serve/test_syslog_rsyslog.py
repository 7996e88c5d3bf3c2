"""rsyslogd (omfwd over TCP and TLS, omrelp) forwards what it reads; every line arrives, exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rempart.serve.metrics import IntakeMetrics
from rempart.serve.relp import start_relp
from rempart.serve.syslog import SyslogInput, start_tcp, start_tls
from tests.serve.shippers import (
    HEAD,
    ListSink,
    LoopbackSenders,
    make_pki,
    rsyslog_config,
    run_rsyslogd,
    wait_for,
)

LINES = [f"sshd[4242]: Failed password for root from 203.0.113.{i % 250} port {40000 + i} ssh2 é".encode()
         for i in range(300)]


def test_rsyslog_octet_counted_tcp_arrives_whole(tmp_path: Path) -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="syslog-tcp", protocol="tcp", port=0)
        receiver = await start_tcp(spec, sink, LoopbackSenders(), metrics)
        action = (f'action(type="omfwd" target="127.0.0.1" port="{receiver.port}" protocol="tcp" '
                  'TCP_Framing="octet-counted" template="t")')
        conf = rsyslog_config(tmp_path, LINES, action)

        async def body() -> None:
            await wait_for(lambda: len(sink.records) >= len(LINES))

        try:
            await run_rsyslogd(conf, body)
        finally:
            await receiver.close()
        assert sink.payloads == [HEAD + line for line in LINES]
        assert {r.sender.credential for r in sink.records} == {"clinic-network"}
        assert {r.sender.establishment for r in sink.records} == {"toulouse"}
        assert all(r.sender.address.startswith("127.0.0.1:") for r in sink.records)
        assert {r.kind for r in sink.records} == {"syslog"}
        assert metrics.accepted.labels("syslog-tcp", "toulouse")._value.get() == len(LINES)

    asyncio.run(main())


def test_rsyslog_over_tls_is_known_by_its_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)

    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="syslog-tls", protocol="tls", port=0, tls_cert=pki.server_cert,
                           tls_key=pki.server_key, tls_ca=pki.ca)
        # the address alone would not do: only the certificate names this sender
        receiver = await start_tls(spec, sink, LoopbackSenders(allowed="192.0.2.1"), metrics)
        action = (f'action(type="omfwd" target="127.0.0.1" port="{receiver.port}" protocol="tcp" '
                  'TCP_Framing="octet-counted" template="t" StreamDriver="gtls" StreamDriverMode="1" '
                  'StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost")')
        globals_ = (f'defaultNetstreamDriverCAFile="{pki.ca}" '
                    f'defaultNetstreamDriverCertFile="{pki.client_cert}" '
                    f'defaultNetstreamDriverKeyFile="{pki.client_key}"')
        conf = rsyslog_config(tmp_path, LINES, action, globals_=globals_)

        async def body() -> None:
            await wait_for(lambda: len(sink.records) >= len(LINES))

        try:
            await run_rsyslogd(conf, body)
        finally:
            await receiver.close()
        assert sink.payloads == [HEAD + line for line in LINES]
        assert {(r.sender.credential, r.sender.establishment) for r in sink.records} == {("cert-rsyslog",
                                                                                          "toulouse")}

    asyncio.run(main())


def test_rsyslog_relp_arrives_whole(tmp_path: Path) -> None:
    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="relp", protocol="relp", port=0)
        receiver = await start_relp(spec, sink, LoopbackSenders(), metrics)
        action = f'action(type="omrelp" target="127.0.0.1" port="{receiver.port}" template="t")'
        conf = rsyslog_config(tmp_path, LINES, action, modules='module(load="omrelp")')

        async def body() -> None:
            await wait_for(lambda: len(sink.records) >= len(LINES))

        try:
            await run_rsyslogd(conf, body)
        finally:
            await receiver.close()
        assert sink.payloads == [HEAD + line for line in LINES]
        assert {r.sender.credential for r in sink.records} == {"clinic-network"}

    asyncio.run(main())


def test_rsyslog_relp_resends_what_backpressure_refused(tmp_path: Path) -> None:
    async def main() -> None:
        sink, metrics = ListSink(refuse=True), IntakeMetrics()
        spec = SyslogInput(name="relp", protocol="relp", port=0)
        receiver = await start_relp(spec, sink, LoopbackSenders(), metrics)
        action = (f'action(type="omrelp" target="127.0.0.1" port="{receiver.port}" template="t" '
                  'action.resumeInterval="1")')
        conf = rsyslog_config(tmp_path, LINES, action, modules='module(load="omrelp")')

        async def body() -> None:
            await wait_for(lambda: sink.refused >= 3)
            sink.refuse = False
            await wait_for(lambda: len(set(sink.payloads)) >= len(LINES), timeout=20)
            await asyncio.sleep(0.5)  # anything resent twice would arrive now

        try:
            await run_rsyslogd(conf, body)
        finally:
            await receiver.close()
        # refused frames were never answered, so librelp resends exactly those: nothing lost, none twice
        assert sorted(sink.payloads) == sorted(HEAD + line for line in LINES)
        assert metrics.rejected.labels("relp", "toulouse", "backpressure")._value.get() > 0

    asyncio.run(main())


def test_rsyslog_relp_over_tls_with_a_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)

    async def main() -> None:
        sink, metrics = ListSink(), IntakeMetrics()
        spec = SyslogInput(name="relp-tls", protocol="relp", port=0, tls_cert=pki.server_cert,
                           tls_key=pki.server_key, tls_ca=pki.ca)
        receiver = await start_relp(spec, sink, LoopbackSenders(allowed="192.0.2.1"), metrics)
        action = (f'action(type="omrelp" target="127.0.0.1" port="{receiver.port}" template="t" tls="on" '
                  f'tls.cacert="{pki.ca}" tls.mycert="{pki.client_cert}" tls.myprivkey="{pki.client_key}" '
                  'tls.authmode="name" tls.permittedpeer=["localhost"])')
        conf = rsyslog_config(tmp_path, LINES, action, modules='module(load="omrelp")')

        async def body() -> None:
            await wait_for(lambda: len(sink.records) >= len(LINES))

        try:
            await run_rsyslogd(conf, body)
        finally:
            await receiver.close()
        assert sink.payloads == [HEAD + line for line in LINES]
        assert {r.sender.credential for r in sink.records} == {"cert-rsyslog"}

    asyncio.run(main())
