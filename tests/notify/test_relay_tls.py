"""STARTTLS and AUTH against a real aiosmtpd server on loopback with a private certificate."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rempart.adapters.smtp import RelaySettings, SMTPRelay
from rempart.adapters.smtp_sink import LocalSMTPServer
from rempart.notify.transport import DeliveryError

SENDER = "crise@secours.example"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1: the server context and the CA file a client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relais-secours.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, "ars@ars.example", "Déclaration"
    msg.set_content("Bloc 1 …")
    return msg


def test_starttls_and_login(tls: tuple[ssl.SSLContext, Path]) -> None:
    ctx, ca = tls
    with LocalSMTPServer(tls_context=ctx, login=("crise", "s3cret")) as server:
        relay = SMTPRelay(
            RelaySettings(
                host=server.host,
                port=server.port,
                security="starttls",
                sender=SENDER,
                username="crise",
                password="s3cret",
                ca_file=ca,
                timeout=5,
            )
        )
        relay.send(_message())
        assert len(server.received) == 1


def test_untrusted_certificate_is_refused(tls: tuple[ssl.SSLContext, Path]) -> None:
    ctx, _ = tls
    with LocalSMTPServer(tls_context=ctx) as server:
        relay = SMTPRelay(
            RelaySettings(host=server.host, port=server.port, security="starttls", sender=SENDER, timeout=5)
        )
        with pytest.raises(DeliveryError, match="certificate verify failed"):
            relay.send(_message())
        assert server.received == []


def test_wrong_password_and_missing_starttls(tls: tuple[ssl.SSLContext, Path]) -> None:
    ctx, ca = tls
    with LocalSMTPServer(tls_context=ctx, login=("crise", "s3cret")) as server:
        relay = SMTPRelay(
            RelaySettings(
                host=server.host,
                port=server.port,
                security="starttls",
                sender=SENDER,
                username="crise",
                password="faux",
                ca_file=ca,
                timeout=5,
            )
        )
        with pytest.raises(DeliveryError, match="refused the login: 535"):
            relay.send(_message())
        plain = SMTPRelay(
            RelaySettings(host=server.host, port=server.port, security="none", sender=SENDER, timeout=5)
        )
        with pytest.raises(DeliveryError, match="530"):  # the relay demands STARTTLS first
            plain.send(_message())
        assert server.received == []
