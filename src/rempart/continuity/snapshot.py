"""Encrypted snapshots of an establishment's clinical data, taken before any incident.

File layout: ``RMPSNAP1`` + 4-byte header length + header JSON (establishment, taken_at: no patient data)
+ 12-byte nonce + AES-256-GCM ciphertext of the zlib-compressed resources. The header is the associated
data, so a file cannot be passed off as another establishment's or another time's snapshot. The key is
one file per establishment in ``Settings().key_directory``, outside the data directory, created on first
import with mode 0600.

Other clinical documents written to disk (the FHIR export of back-entered records, the reconciliation
JSON) are sealed the same way with the same key: ``RMPSEAL1`` + header (establishment, kind, created_at,
the file name it decrypts to) + nonce + AES-256-GCM of the zlib-compressed bytes.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.continuity.fhir_import import ImportResult
from rempart.errors import InputError, Location, StateError
from rempart.store.models.continuity import SnapshotRow

MAGIC = b"RMPSNAP1"
DOC_MAGIC = b"RMPSEAL1"
SEALED_SUFFIX = ".enc"
DEFAULT_MAX_AGE = timedelta(hours=2)


def key_path(key_dir: Path, establishment: str) -> Path:
    return key_dir / f"{establishment}.snapshot.key"


def load_or_create_key(key_dir: Path, establishment: str, create: bool = True) -> bytes:
    path = key_path(key_dir, establishment)
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise InputError(
                "snapshot key is not 32 bytes long", Location(path), "restore the key from its backup"
            )
        return key
    if not create:
        raise InputError(
            f"no snapshot key for '{establishment}'",
            Location(path),
            "point REMPART_KEYS_DIR at the folder holding the establishment's keys "
            "(a key is created by the establishment's first `rempart snapshot import`)",
        )
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = AESGCM.generate_key(bit_length=256)
    # O_EXCL: two imports racing cannot each write a different key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _header(establishment: str, taken_at: datetime) -> bytes:
    return orjson.dumps(
        {"establishment": establishment, "taken_at": taken_at.astimezone(UTC).isoformat()},
        option=orjson.OPT_SORT_KEYS,
    )


def seal(key: bytes, establishment: str, taken_at: datetime, resources: dict[str, Any]) -> bytes:
    header = _header(establishment, taken_at)
    nonce = os.urandom(12)
    body = zlib.compress(orjson.dumps(resources), 6)
    return MAGIC + struct.pack(">I", len(header)) + header + nonce + AESGCM(key).encrypt(nonce, body, header)


@dataclass(frozen=True)
class Snapshot:
    """A decrypted snapshot, held in memory only."""

    establishment: str
    taken_at: datetime
    resources: dict[str, dict[str, dict[str, Any]]]  # type -> id -> FHIR JSON

    def age(self, now: datetime) -> timedelta:
        return now - self.taken_at


def open_sealed(data: bytes, key: bytes, path: Path) -> Snapshot:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise InputError("not a rempart snapshot file", Location(path))
    (n,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = data[start : start + n]
    nonce, ct = data[start + n : start + n + 12], data[start + n + 12 :]
    try:
        meta = orjson.loads(header)
        body = AESGCM(key).decrypt(nonce, ct, header)
    except (InvalidTag, orjson.JSONDecodeError):
        raise InputError(
            "cannot decrypt the snapshot: wrong key for this establishment, or the file was altered",
            Location(path),
            "use the key created by the import of this establishment's snapshot",
        ) from None
    return Snapshot(
        meta["establishment"], datetime.fromisoformat(meta["taken_at"]), orjson.loads(zlib.decompress(body))
    )


def _split(data: bytes, magic: bytes, path: Path) -> tuple[bytes, bytes, bytes]:
    """(header, nonce, ciphertext) of a sealed file."""
    start = len(magic) + 4
    if not data.startswith(magic) or len(data) < start:
        raise InputError("not a rempart encrypted file", Location(path))
    (n,) = struct.unpack(">I", data[len(magic) : start])
    return data[start : start + n], data[start + n : start + n + 12], data[start + n + 12 :]


@dataclass(frozen=True)
class SealedDoc:
    establishment: str
    kind: str  # "fhir-export", "reconciliation", …
    created_at: datetime
    name: str  # the clear file name it decrypts to
    payload: bytes


def seal_doc(key: bytes, doc: SealedDoc) -> bytes:
    header = orjson.dumps(
        {
            "establishment": doc.establishment,
            "kind": doc.kind,
            "created_at": doc.created_at.astimezone(UTC).isoformat(),
            "name": doc.name,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, zlib.compress(doc.payload, 6), header)
    return DOC_MAGIC + struct.pack(">I", len(header)) + header + nonce + body


def doc_establishment(data: bytes, path: Path) -> str:
    """Which establishment's key opens this sealed file (the header is in clear, and authenticated)."""
    header, _, _ = _split(data, DOC_MAGIC, path)
    try:
        return str(orjson.loads(header)["establishment"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise InputError("damaged header in an encrypted file", Location(path)) from None


def open_doc(data: bytes, key: bytes, path: Path) -> SealedDoc:
    header, nonce, ct = _split(data, DOC_MAGIC, path)
    try:
        meta = orjson.loads(header)
        body = zlib.decompress(AESGCM(key).decrypt(nonce, ct, header))
    except (InvalidTag, orjson.JSONDecodeError, zlib.error):
        raise InputError(
            "cannot decrypt the file: wrong key for this establishment, or the file was altered",
            Location(path),
            "use the key of the establishment named in the file (REMPART_KEYS_DIR)",
        ) from None
    return SealedDoc(
        meta["establishment"], meta["kind"], datetime.fromisoformat(meta["created_at"]), meta["name"], body
    )


SEALED_VALUE = "sealed:v1:"  # a case-store column value sealed with the establishment's key


def seal_value(key: bytes, aad: str, value: str) -> str:
    """One short value (a drug name, an IPP) for a text column; ``aad`` ties it to its row."""
    nonce = os.urandom(12)
    return (
        SEALED_VALUE
        + base64.b64encode(nonce + AESGCM(key).encrypt(nonce, value.encode(), aad.encode())).decode()
    )


def open_value(key: bytes, aad: str, stored: str) -> str:
    """The clear value; a row written before values were sealed is returned as it was stored."""
    if not stored.startswith(SEALED_VALUE):
        return stored
    raw = base64.b64decode(stored.removeprefix(SEALED_VALUE))
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad.encode()).decode()
    except InvalidTag:
        raise InputError(
            "cannot decrypt a value of the case store: wrong key for this establishment",
            hint="use the key created by the import of this establishment's snapshot (REMPART_KEYS_DIR)",
        ) from None


def write_private(path: Path, data: bytes) -> Path:
    """Owner-only, written whole then renamed: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)
    return path


def write_sealed(path: Path, key_dir: Path, doc: SealedDoc) -> Path:
    return write_private(path, seal_doc(load_or_create_key(key_dir, doc.establishment, create=False), doc))


def read_sealed(path: Path, key_dir: Path) -> SealedDoc:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", Location(path)) from None
    return open_doc(data, load_or_create_key(key_dir, doc_establishment(data, path), create=False), path)


def snapshot_dir(home: Path, establishment: str) -> Path:
    return home / "snapshots" / establishment


def store_snapshot(
    session: Session,
    result: ImportResult,
    establishment: str,
    home: Path,
    key_dir: Path,
    taken_at: datetime | None = None,
    now: datetime | None = None,
) -> SnapshotRow:
    """Encrypt the validated resources to a file and record it (counts only, no patient data)."""
    now = now or datetime.now(UTC)
    taken = (taken_at or result.taken_at or now).astimezone(UTC)
    if taken > now + timedelta(minutes=5):
        raise InputError(f"snapshot time {taken.isoformat()} is in the future")
    if not result.resources.get("Patient"):
        raise InputError("no valid Patient in the input: nothing to snapshot")
    key = load_or_create_key(key_dir, establishment)
    folder = snapshot_dir(home, establishment)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{taken.strftime('%Y%m%dT%H%M%SZ')}.snap"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(seal(key, establishment, taken, result.resources))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    row = SnapshotRow(
        establishment=establishment,
        taken_at=taken,
        imported_at=now,
        path=str(path),
        counts=result.counts(),
        problems=len(result.problems),
    )
    session.add(row)
    session.flush()
    return row


def latest(session: Session, establishment: str, before: datetime | None = None) -> SnapshotRow | None:
    q = select(SnapshotRow).where(SnapshotRow.establishment == establishment)
    if before is not None:
        q = q.where(SnapshotRow.taken_at <= before)
    return session.execute(q.order_by(SnapshotRow.taken_at.desc(), SnapshotRow.id.desc()).limit(1)).scalar()


def load(row: SnapshotRow, key_dir: Path) -> Snapshot:
    path = Path(row.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the snapshot: {exc.strerror}", Location(path)) from None
    return open_sealed(data, load_or_create_key(key_dir, row.establishment, create=False), path)


def load_latest(
    session: Session, establishment: str, key_dir: Path, before: datetime | None = None
) -> Snapshot:
    row = latest(session, establishment, before)
    if row is None:
        raise StateError(f"no snapshot for '{establishment}'", hint="run `rempart snapshot import` first")
    return load(row, key_dir)


@dataclass(frozen=True)
class Freshness:
    establishment: str
    taken_at: datetime | None
    age: timedelta | None
    max_age: timedelta
    counts: dict[str, int]

    @property
    def stale(self) -> bool:
        return self.age is None or self.age > self.max_age


def freshness(
    session: Session, establishment: str, now: datetime | None = None, max_age: timedelta = DEFAULT_MAX_AGE
) -> Freshness:
    now = now or datetime.now(UTC)
    row = latest(session, establishment, before=now)
    if row is None:
        return Freshness(establishment, None, None, max_age, {})
    return Freshness(establishment, row.taken_at, now - row.taken_at, max_age, dict(row.counts))


def format_age(age: timedelta) -> str:
    """French, for kits: '1 h 40 min', '3 j 2 h'."""
    minutes = max(0, int(age.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h"
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"
