"""The out-of-band SMTP relay: configured apart from the group's messaging, which may be suspended.

Settings come from a YAML file (``--relay relay.yaml``) or from the environment
(``REMPART_OOB_SMTP_HOST``, ``_PORT``, ``_SECURITY`` = starttls | ssl | none, ``_SENDER``,
``_USERNAME``, ``_PASSWORD``, ``_TIMEOUT``, ``_CA_FILE``). Certificates are always verified; a relay
with a private certificate is trusted through ``ca_file``. The notify service only sees the :class:`Transport`
protocol; tests and the demo use a real SMTP server (aiosmtpd) on loopback.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rempart.errors import ConfigError
from rempart.notify.transport import DeliveryError
from rempart.yamldoc import load_model


class RelaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REMPART_OOB_SMTP_", extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="From: address of the notifications")
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0)
    ca_file: Path | None = Field(default=None, description="CA bundle of a relay with a private certificate")


def load_relay_settings(path: Path | str | None = None) -> RelaySettings:
    if path is not None:
        return load_model(RelaySettings, path)
    try:
        return RelaySettings()  # from the environment
    except ValueError:
        raise ConfigError(
            "no out-of-band SMTP relay configured",
            hint="give --relay relay.yaml or set REMPART_OOB_SMTP_HOST and REMPART_OOB_SMTP_SENDER",
        ) from None


class SMTPRelay:
    """Sends through ``smtplib``; every refusal becomes a :class:`DeliveryError` naming the reply."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.sender = settings.sender

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        # certificates are always verified: the relay carries declarations to the authorities
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.security == "starttls":
            client.starttls(context=context)
        return client

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            with self._connect() as client:
                if s.username and s.password:
                    client.login(s.username, s.password.get_secret_value())
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(
                f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
            )
            raise DeliveryError(
                f"relay {where} refused the recipient(s): {refused}",
                hint="check the address, then send again",
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            raise DeliveryError(
                f"relay {where} refused the sender {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}",
                hint="check 'sender' in the relay settings",
            ) from None
        except smtplib.SMTPDataError as exc:
            raise DeliveryError(
                f"relay {where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
                hint="send again later or use another relay",
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"relay {where} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}",
                hint="check username and password",
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"cannot deliver through relay {where}: {exc}",
                hint="check that the relay is reachable, then send again",
            ) from None


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
