"""What makes a journal entry impossible to forge without the key: HMAC-SHA256 over an unambiguous encoding.

HMAC rather than Ed25519 signatures: rempart both writes and verifies the journal on the same host, so a
public verification key would not keep the secret any further from an attacker than a MAC key does, and
verifying a long journal stays a matter of milliseconds. The key is 32 random bytes in ``journal.key``
under ``REMPART_KEYS_DIR`` (mode 0600, created on first use), never in the case store.

The encoding is canonical JSON (sorted keys, every value a JSON string or number), so that no text moved
from one field into another can give the same bytes, as a separator-joined string could.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from rempart.errors import InputError, Location

KEY_FILE = "journal.key"
KEY_BYTES = 32
# the fields a verifier can name when an entry was edited, each with its own MAC
FIELDS = ("at", "actor", "action", "subject", "payload", "prev_hash")


@dataclass(frozen=True)
class JournalKey:
    path: Path
    secret: bytes = b""

    @property
    def key_id(self) -> str:
        """A fingerprint that names the key without revealing it (stored with every entry)."""
        return hashlib.sha256(b"rempart-journal-key-id\0" + self.secret).hexdigest()[:16]

    def mac(self, purpose: str, material: bytes) -> str:
        return hmac.digest(self.secret, purpose.encode() + b"\0" + material, "sha256").hex()


def load_key(path: Path) -> JournalKey | None:
    """The key in PATH, None when there is none."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(secret) != KEY_BYTES:
        raise InputError(
            f"journal key is {len(secret)} bytes long, not {KEY_BYTES}",
            Location(path),
            "restore journal.key from its backup",
        )
    return JournalKey(path, secret)


def create_key(path: Path) -> JournalKey:
    """A new key in PATH; when another process created one first, that one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(KEY_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        # link() fails if the name exists: two processes starting at once cannot each keep their own key
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        else:
            _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    key = load_key(path)
    assert key is not None
    return key


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Content:
    """An entry's authenticated content, as written (seq is where it was written)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: str
    prev_hash: str
    key_id: str

    def material(self) -> bytes:
        return canonical(
            {
                "v": 2,
                "seq": self.seq,
                "at": iso(self.at),
                "actor": self.actor,
                "action": self.action,
                "subject": self.subject,
                "payload": self.payload,
                "prev_hash": self.prev_hash,
                "key_id": self.key_id,
            }
        )

    def field_value(self, name: str) -> str:
        return iso(self.at) if name == "at" else str(getattr(self, name))

    def content_hash(self) -> str:
        return hashlib.sha256(self.material()).hexdigest()

    def mac(self, key: JournalKey) -> str:
        return key.mac("entry", self.material())

    def field_mac(self, key: JournalKey, name: str) -> str:
        return key.mac("field", canonical([name, self.seq, self.field_value(name)]))[:16]

    def field_macs(self, key: JournalKey) -> str:
        return canonical({name: self.field_mac(key, name) for name in FIELDS}).decode()

    def changed_fields(self, key: JournalKey, stored: str | None) -> list[str] | None:
        """The fields whose MAC no longer matches; None when no per-field MAC could be read at all."""
        try:
            macs = orjson.loads(stored or "")
        except orjson.JSONDecodeError:
            return None
        if not isinstance(macs, dict):
            return None
        return [n for n in FIELDS if not hmac.compare_digest(str(macs.get(n, "")), self.field_mac(key, n))]
