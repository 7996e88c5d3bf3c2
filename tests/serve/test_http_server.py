"""The server around the app: TLS, and a graceful stop that answers the requests in flight."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from rempart.serve.http import HttpInput

from .http_support import TOKEN, serving

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rempart-intake")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "intake.crt", folder / "intake.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with serving(tls_cert=str(cert), tls_key=str(key)) as running:
        url = running.url.replace("http://", "https://")
        trust = ssl.create_default_context(cafile=str(cert))
        response = httpx.post(url + "/ingest", content=b'{"tls": true}\n', headers=BEARER, verify=trust)
        assert response.status_code == 200
        assert running.sink.documents() == [{"tls": True}]
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets no answer
            httpx.post(running.url + "/ingest", content=b'{"plain": true}\n', headers=BEARER, timeout=2)
        assert len(running.sink.records) == 1


def test_tls_needs_both_the_certificate_and_its_key() -> None:
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        HttpInput(tls_cert=Path("intake.crt"))


def test_stop_answers_the_request_in_flight_before_closing() -> None:
    answers: list[httpx.Response] = []
    with serving() as running:
        running.sink.delay = 0.5
        sender = threading.Thread(target=lambda: answers.append(
            httpx.post(running.url + "/ingest", content=b'{"in": "flight"}\n', headers=BEARER, timeout=10)))
        sender.start()
        deadline = time.monotonic() + 5
        while running.sink.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.sink.calls == 1
    # the context stopped the server while accept() was still running
    sender.join(10)
    assert [a.status_code for a in answers] == [200]
    assert running.sink.documents() == [{"in": "flight"}]
