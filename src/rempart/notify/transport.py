"""What the notify stage needs from a mail transport: the out-of-band relay is an adapter
(:mod:`rempart.adapters.smtp`); the stage only sees this protocol."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from rempart.errors import RempartError


class DeliveryError(RempartError):
    """The relay could not take the message; the attempt is recorded as failed and can be retried."""


class Transport(Protocol):
    sender: str

    def send(self, message: EmailMessage) -> None:
        """Hand the message to the relay, or raise :class:`DeliveryError`."""
