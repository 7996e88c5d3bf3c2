"""What receivers and the journal agree on: who sent a record, the record, and the sink that takes it.

A receiver authenticates its sender (:class:`Senders`), cuts what it receives into records (one syslog
message, one JSON event), hands them to the :class:`Sink` and acknowledges the sender only once
:meth:`Sink.accept` has returned: by then the records are on disk. When the sink raises
:class:`Backpressure`, the receiver acknowledges nothing and tells the sender to wait (HTTP 429/503 with
``Retry-After``, a RELP error response, paused TCP reads).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson

Kind = Literal["syslog", "json"]
KINDS: tuple[str, ...] = ("syslog", "json")


@dataclass(frozen=True)
class Sender:
    """An authenticated sender: the credential it used and the establishment that credential belongs to."""

    credential: str  # the name of the token, certificate or source network in serve.yaml
    establishment: str | None  # None: a group-wide credential (any establishment's events)
    address: str  # the peer, "ip:port"


@dataclass(frozen=True)
class IntakeRecord:
    """One event as received, before any reader has seen it."""

    input: str  # the input's name in serve.yaml ("syslog-tcp", "http"…)
    kind: Kind  # syslog: one message without its framing; json: one JSON object (an NDJSON line, a _bulk doc)
    sender: Sender
    received: float  # seconds since the epoch, when the receiver read it
    payload: bytes

    def encode(self) -> bytes:
        head = json.dumps([self.input, self.kind, self.sender.credential, self.sender.establishment,
                           self.sender.address, self.received], separators=(",", ":")).encode()
        return len(head).to_bytes(4, "big") + head + self.payload

    @classmethod
    def decode(cls, data: bytes) -> IntakeRecord:
        size = int.from_bytes(data[:4], "big")
        name, kind, credential, establishment, address, received = orjson.loads(data[4:4 + size])
        return cls(name, kind, Sender(credential, establishment, address), float(received), data[4 + size:])


class Backpressure(Exception):
    """The sink cannot take records now (disk full, detection behind): acknowledge nothing, ask to wait."""

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Sink(Protocol):
    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        """Return once every record is durable (journaled and fsynced), or raise :class:`Backpressure`
        having kept none of them."""


class Senders(Protocol):
    """The credentials of serve.yaml: who may send, and for which establishment."""

    def by_token(self, token: str, address: str) -> Sender | None: ...

    def by_address(self, address: str) -> Sender | None: ...  # "ip:port", a declared source network

    def by_certificate(self, subject: str, address: str) -> Sender | None: ...  # a TLS client cert's CN
