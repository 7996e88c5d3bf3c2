"""TOTP second factor (RFC 6238 with pyotp: SHA-1, 6 digits, 30 s, as every authenticator app reads it).

A code is accepted one step either side of now (clock skew) and each time step only once: the last
accepted step is kept with the account, so a code seen over a shoulder or in a log cannot be replayed.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

ISSUER = "rempart"
SKEW_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def code_at(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def accepted_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if valid at ``at`` and later than ``last_step``; else None."""
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(at)
    code = code.strip().replace(" ", "")
    for step in range(now_step - SKEW_STEPS, now_step + SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if last_step is None or step > last_step else None
    return None
