"""A loopback SMTP server (aiosmtpd) that keeps what it receives: the demo's relay and the tests' one.

It can be told to refuse at RCPT or at DATA, to show what happens when a relay says no.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    refuse: Literal["rcpt", "data"] | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse == "rcpt":
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse == "data":
            return "550 5.7.1 message rejected by policy"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


def _authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == user.encode()
            and data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalSMTPServer:
    """``with LocalSMTPServer() as srv:`` — listens on 127.0.0.1:srv.port until the block ends."""

    def __init__(
        self,
        refuse: Literal["rcpt", "data"] | None = None,
        tls_context: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        """``tls_context``: offer STARTTLS and require it; ``login``: require AUTH with this user/password."""
        self.handler = _Handler(refuse)
        self.port = free_port()
        self.host = "127.0.0.1"
        options: dict[str, Any] = {}
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if login is not None:
            options.update(authenticator=_authenticator(*login), auth_required=True)
        self._controller = Controller(self.handler, hostname=self.host, port=self.port, **options)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> LocalSMTPServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LocalSMTPServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
