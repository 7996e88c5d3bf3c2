"""Encrypted snapshots: nothing readable on disk, a wrong key is a clear error, freshness is tracked."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from rempart.continuity import service, snapshot
from rempart.errors import InputError
from rempart.settings import Settings
from rempart.store.db import Store
from tests.continuity.conftest import TAKEN
from tests.continuity.conftest import db_bytes as _db_bytes


def _names(fhir_dir: Path) -> list[str]:
    out = []
    for line in (fhir_dir / "Patient.ndjson").read_bytes().splitlines():
        p = orjson.loads(line)
        out += [p["name"][0]["family"], *p["name"][0]["given"], p["identifier"][0]["value"], p["birthDate"]]
    return out


def test_snapshot_file_holds_no_patient_data_in_clear(
    imported: Store, settings: Settings, fhir_dir: Path
) -> None:
    files = list((settings.home / "snapshots" / "capitouls").glob("*.snap"))
    assert len(files) == 1
    data = files[0].read_bytes()
    names = _names(fhir_dir)
    assert len(names) > 40
    for text in names:
        assert text.encode() not in data, "patient data in clear in the snapshot file"
        assert text.upper().encode() not in data
    # and the case store holds counts, not people
    db = _db_bytes(imported)
    assert not any(n.encode() in db for n in names[::4] if len(n) > 4)
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_key_is_per_establishment_outside_the_data_and_private(imported: Store, settings: Settings) -> None:
    key = snapshot.key_path(settings.key_directory, "capitouls")
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert settings.home not in key.parents


def test_roundtrip_gives_back_the_validated_resources(imported: Store, settings: Settings) -> None:
    with imported.session() as s:
        snap = snapshot.load_latest(s, "capitouls", settings.key_directory)
    assert snap.taken_at == TAKEN and len(snap.resources["Patient"]) == 24


def test_wrong_key_fails_with_a_clear_message(imported: Store, settings: Settings) -> None:
    key = snapshot.key_path(settings.key_directory, "capitouls")
    key.write_bytes(os.urandom(32))
    with imported.session() as s, pytest.raises(InputError) as err:
        snapshot.load_latest(s, "capitouls", settings.key_directory)
    assert "wrong key" in str(err.value) and ".snap" in str(err.value)


def test_a_file_moved_to_another_establishment_does_not_decrypt(imported: Store, settings: Settings) -> None:
    # the header (establishment, time) is authenticated: swapping it is detected even with the right key
    path = next((settings.home / "snapshots" / "capitouls").glob("*.snap"))
    data = path.read_bytes()
    forged = data.replace(b'"capitouls"', b'"capitoulz"')
    key = snapshot.load_or_create_key(settings.key_directory, "capitouls", create=False)
    with pytest.raises(InputError, match="wrong key"):
        snapshot.open_sealed(forged, key, path)


def test_freshness_warns_after_the_limit(imported: Store) -> None:
    with imported.session() as s:
        fresh = snapshot.freshness(s, "capitouls", now=TAKEN + timedelta(minutes=90))
        stale = snapshot.freshness(s, "capitouls", now=TAKEN + timedelta(hours=2, minutes=1))
        none = snapshot.freshness(s, "dombes", now=TAKEN)
        custom = snapshot.freshness(
            s, "capitouls", now=TAKEN + timedelta(minutes=90), max_age=timedelta(hours=1)
        )
    assert not fresh.stale and stale.stale and none.stale and custom.stale
    assert fresh.counts["Patient"] == 24


def test_kits_use_the_latest_snapshot_before_the_incident(
    imported: Store, settings: Settings, fhir_dir: Path
) -> None:
    later = TAKEN + timedelta(hours=5)
    service.import_snapshot(imported, settings, "capitouls", [fhir_dir], taken_at=later, now=later)
    with imported.session() as s:
        row = snapshot.latest(s, "capitouls", before=TAKEN + timedelta(hours=1))
    assert row is not None and row.taken_at == TAKEN
