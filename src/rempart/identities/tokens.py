"""Random bearer secrets (session ids, API tokens): shown once, only their SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import secrets

SESSION_PREFIX = "rps_"
API_PREFIX = "rpt_"


def new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
