"""Who may send events, and for which establishment: the ``senders`` section of serve.yaml.

- **tokens** (HTTP shippers): serve.yaml keeps only the SHA-256 of each token, so the file can be read by
  the operations team without handing out credentials; ``rempart serve token NAME`` makes one.
- **networks** (syslog without TLS): the source addresses an establishment's servers send from. A
  declared network is a weak credential (an address can be spoofed on UDP); prefer TLS with certificates.
- **certificates** (syslog over TLS, RELP over TLS): the subject CN of a client certificate signed by the
  CA given to the input.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rempart.serve.contracts import Sender

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenCredential(_Strict):
    name: Name
    establishment: str | None = Field(default=None, description="None: group-wide (any establishment)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the token, hex")


class NetworkCredential(_Strict):
    name: Name
    establishment: str | None = None
    networks: list[str] = Field(min_length=1)

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network (write 10.1.0.0/16 or 10.1.2.3)") from None
        return value


class CertificateCredential(_Strict):
    name: Name
    establishment: str | None = None
    subject: str = Field(min_length=1, description="the client certificate's subject CN")


class SendersConfig(_Strict):
    tokens: list[TokenCredential] = Field(default_factory=list)
    networks: list[NetworkCredential] = Field(default_factory=list)
    certificates: list[CertificateCredential] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> SendersConfig:
        names = [c.name for c in self.tokens] + [c.name for c in self.networks] + \
            [c.name for c in self.certificates]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two senders are named {name!r}: each credential needs its own name")
        return self


def new_token() -> tuple[str, str]:
    """A fresh token and the SHA-256 to write in serve.yaml."""
    token = "rmp_" + secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


class SenderDirectory:
    """:class:`rempart.serve.contracts.Senders` over serve.yaml's credentials."""

    def __init__(self, config: SendersConfig) -> None:
        self._tokens = [(bytes.fromhex(t.sha256), t) for t in config.tokens]
        self._networks = [(ipaddress.ip_network(n, strict=False), c)
                          for c in config.networks for n in c.networks]
        # the most specific network first: a server's /32 inside its clinic's /16
        self._networks.sort(key=lambda pair: -pair[0].prefixlen)
        self._subjects = {c.subject: c for c in config.certificates}

    def by_token(self, token: str, address: str) -> Sender | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for expected, cred in self._tokens:  # every one compared: the time says nothing of which matched
            if hmac.compare_digest(digest, expected):
                found = cred
        return Sender(found.name, found.establishment, address) if found else None

    def by_address(self, address: str) -> Sender | None:
        host = address.rsplit(":", 1)[0].strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for net, cred in self._networks:
            if ip.version == net.version and ip in net:
                return Sender(cred.name, cred.establishment, address)
        return None

    def by_certificate(self, subject: str, address: str) -> Sender | None:
        cred = self._subjects.get(subject)
        return Sender(cred.name, cred.establishment, address) if cred else None
