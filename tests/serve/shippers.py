"""What the syslog tests share: a list sink standing for the journal, loopback senders, certificates,
and rsyslogd run on a configuration of the test's own (the real shipper)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rempart.serve.contracts import Backpressure, IntakeRecord, Sender
from tests.conftest import need

# rsyslog sends every message through this template: a fixed RFC 5424 head, then the line we wrote
HEAD = b"<14>1 2026-12-03T10:00:00Z clinic-srv app - - - "


@dataclass
class ListSink:
    """Keeps what it accepts; refuses (Backpressure) while ``refuse`` is true, counting the refusals."""

    records: list[IntakeRecord] = field(default_factory=list)
    refuse: bool = False
    refused: int = 0
    delay: float = 0.0

    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            self.refused += 1
            raise Backpressure("journal full", retry_after=0.2)
        self.records.extend(records)

    @property
    def payloads(self) -> list[bytes]:
        return [r.payload for r in self.records]


class LoopbackSenders:
    """127.0.0.1 is the Toulouse clinic's log server; the certificate CN ``rsyslog-clinic`` too."""

    def __init__(self, allowed: str = "127.0.0.1") -> None:
        self.allowed = allowed

    def by_token(self, token: str, address: str) -> Sender | None:
        return None

    def by_address(self, address: str) -> Sender | None:
        host = address.rsplit(":", 1)[0]
        return Sender("clinic-network", "toulouse", address) if host == self.allowed else None

    def by_certificate(self, subject: str, address: str) -> Sender | None:
        return Sender("cert-rsyslog", "toulouse", address) if subject == "rsyslog-clinic" else None


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for localhost / 127.0.0.1, a client certificate for rsyslog-clinic."""
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("rempart test CA")).issuer_name(name("rempart test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    paths = {}
    for role, cn in (("server", "localhost"), ("client", "rsyslog-clinic")):
        key = ec.generate_private_key(ec.SECP256R1())
        loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        san = x509.SubjectAlternativeName([x509.DNSName(cn), loopback])
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(san, critical=False))
        cert = builder.sign(ca_key, hashes.SHA256())
        (folder / f"{role}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, folder / f"{role}.key")
        paths[role] = (folder / f"{role}.crt", folder / f"{role}.key")
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return Pki(folder / "ca.crt", *paths["server"], *paths["client"])


def rsyslog_config(folder: Path, lines: Sequence[bytes], action: str, globals_: str = "",
                   modules: str = "") -> Path:
    """A configuration that reads ``lines`` from a file (imfile) and sends them with ``action``."""
    work = folder / "work"
    work.mkdir()
    source = folder / "source.log"
    source.write_bytes(b"".join(line + b"\n" for line in lines))
    template = HEAD.decode() + "%msg%"
    conf = folder / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{work}" {globals_})
module(load="imfile" mode="inotify")
{modules}
template(name="t" type="string" string="{template}")
ruleset(name="fwd") {{
  {action}
}}
input(type="imfile" file="{source}" tag="app" ruleset="fwd")
""")
    return conf


async def run_rsyslogd(conf: Path, body: Callable[[], Awaitable[None]]) -> None:
    """Run rsyslogd on ``conf`` while ``body`` runs; always stopped afterwards."""
    need(shutil.which("rsyslogd") is not None, "rsyslogd is not installed (Debian package rsyslog)")
    pid = conf.parent / "rsyslogd.pid"
    log = (conf.parent / "rsyslogd.err").open("wb")
    process = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(pid)], stdout=log,
                               stderr=subprocess.STDOUT, env={**os.environ, "RSYSLOG_DYNNAME": "rempart"})
    try:
        await body()
    except AssertionError as exc:
        log.flush()
        raise AssertionError(f"{exc}\nrsyslogd said:\n{(conf.parent / 'rsyslogd.err').read_text()}") from exc
    finally:
        process.send_signal(signal.SIGTERM)
        # waited for without blocking the loop: rsyslogd closes its RELP session with our receiver
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
