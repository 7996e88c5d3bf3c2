"""The degraded-mode commands end to end, through the real CLI, on a store and key directory in tmp_path."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.continuity import snapshot
from rempart.continuity.register import forms_of
from rempart.settings import Settings
from rempart.store import journal
from rempart.store.db import Store
from tests.identities.helpers import People


@pytest.fixture
def env(tmp_path: Path, example_group_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # forms returned, voided and linked are signed by an account: the IT on-call logs in first
    monkeypatch.setenv("REMPART_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REMPART_KEYS_DIR", str(tmp_path / "keys"))  # the journal's key, as for the commands
    People(f"sqlite:///{tmp_path / 'home' / 'cases.sqlite'}").login("astreinte-dsi")
    return {
        "REMPART_HOME": str(tmp_path / "home"),
        "REMPART_KEYS_DIR": str(tmp_path / "keys"),
        "REMPART_INVENTORY": str(example_group_path),
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(app, list(args))
    return result.exit_code, result.output


def test_snapshot_kits_forms_reconcile(env: dict[str, str], tmp_path: Path) -> None:
    taken = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    code, out = _run(
        env,
        "continuity",
        "generate",
        "--establishment",
        "dombes",
        "--patients",
        "6",
        "--out",
        str(tmp_path / "fhir"),
        "--taken-at",
        taken,
    )
    assert code == 0, out
    code, out = _run(env, "snapshot", "import", "dombes", str(tmp_path / "fhir" / "dombes"))
    assert code == 0 and "6 Patient" in out and "0 rejected" in out, out
    code, out = _run(env, "snapshot", "status", "dombes")
    assert code == 0 and "fresh" in out, out
    code, out = _run(env, "snapshot", "status")  # every other clinic has none: a warning and exit 1
    assert code == 1 and "missing" in out

    code, out = _run(
        env, "kits", "build", "dombes", "--incident", "INC-0042", "--out", str(tmp_path / "kits")
    )
    assert code == 2 and "no incident 'INC-0042'" in out and not (tmp_path / "kits").exists()
    code, out = _run(env, "kits", "build", "dombes", "--out", str(tmp_path / "kits"))
    assert code == 0, out
    pdfs = sorted((tmp_path / "kits").glob("*.pdf"))
    assert pdfs and all(p.stat().st_size > 5000 for p in pdfs)

    store = Store(Settings(home=tmp_path / "home").case_store_url)
    with store.session() as s:
        forms = [(f.serial, f.form_type) for f in forms_of(s, "dombes")]
    store.close()
    lab = next(s for s, t in forms if t == "lab")
    code, out = _run(env, "forms", "return", lab)
    assert code == 0, out
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump({"serial": lab, "entered_by": "labo", "entries": []}))
    code, out = _run(env, "forms", "enter", str(tmp_path / "lab.yaml"))
    assert code == 0 and "0 line(s)" in out, out
    store = Store(f"sqlite:///{tmp_path / 'home' / 'cases.sqlite'}")
    with store.session() as s:  # recorded as entered by the logged-in account, not the file's name
        (entered,) = [e.actor for e in journal.entries(s) if e.action == "continuity.form_entered"]
    assert entered == "astreinte-dsi"
    other = next(s for s, t in forms if t == "lab" and s != lab)
    typed = tmp_path / "lab2.yaml"
    typed.write_text(yaml.safe_dump({"serial": other, "entered_by": "labo", "entries": []}))
    code, out = _run(env, "forms", "enter", "--remove-entered", str(typed))
    assert code == 2 and "only a returned form" in out and typed.exists(), out  # refused: the file stays
    _run(env, "forms", "return", other)
    code, out = _run(env, "forms", "enter", "--remove-entered", str(typed))
    assert code == 0 and "deleted" in out and not typed.exists(), out
    code, out = _run(env, "forms", "void", forms[0][0], "--reason", "taché")
    assert code == 0, out
    code, out = _run(env, "forms", "void", forms[0][0], "--reason", "encore")
    assert code == 2 and "already voided" in out and "Traceback" not in out

    code, out = _run(env, "forms", "list", "dombes", "--status", "voided")
    assert code == 0 and forms[0][0] in out and "1 form(s)" in out, out
    code, out = _run(env, "reconcile", "dombes", "--out", str(tmp_path / "rep"))
    assert code == 0, out
    n = len(forms)
    assert f"issued {n} = returned 0 + entered 2 + voided 1 + unaccounted {n - 3}" in out
    assert (tmp_path / "rep" / "rapprochement-dombes.pdf").exists()

    code, out = _run(env, "forms", "link", "dombes", "PROV-DOMBES-1-001", "9100001")
    assert code == 2 and "no downtime admission" in out  # nothing admitted under it yet
    code, out = _run(env, "continuity", "export", "dombes", "--out", str(tmp_path / "bundle.json"))
    assert code == 2 and "should end with .enc" in out and not (tmp_path / "bundle.json").exists(), out
    code, out = _run(env, "continuity", "export", "dombes", "--out", str(tmp_path / "bundle.json.enc"))
    assert code == 0 and "0 resources written encrypted" in out, out
    assert b"transaction" not in (tmp_path / "bundle.json.enc").read_bytes()
    code, out = _run(env, "continuity", "decrypt", str(tmp_path / "bundle.json.enc"), "--out", "-")
    assert code == 0 and orjson.loads(out)["type"] == "transaction", out
    code, out = _run(env, "continuity", "export", "dombes", "--out", "-")  # asked for: clear, to stdout
    assert code == 0 and orjson.loads(out)["type"] == "transaction", out
    code, out = _run(
        env,
        "continuity",
        "decrypt",
        str(tmp_path / "rep" / "rapprochement-dombes.json.enc"),
        "--out",
        str(tmp_path / "r.json"),
    )
    assert code == 0 and "decrypted" in out, out
    assert orjson.loads((tmp_path / "r.json").read_bytes())["counts"]["voided"] == 1
    assert (tmp_path / "r.json").stat().st_mode & 0o077 == 0

    # the director of another clinic cannot return or void this clinic's forms
    People(f"sqlite:///{tmp_path / 'home' / 'cases.sqlite'}").login("j.roux")
    left = next(s for s, _t in forms[3:])
    for args in (("return", left), ("void", left, "--reason", "x")):
        code, out = _run(env, "forms", *args)
        assert code == 2 and "j.roux acts only for saint-cyprien, not for dombes" in out, out


def test_wrong_key_and_unknown_serial_are_clear_errors(env: dict[str, str], tmp_path: Path) -> None:
    _run(
        env,
        "continuity",
        "generate",
        "--establishment",
        "adour",
        "--patients",
        "3",
        "--out",
        str(tmp_path / "f"),
    )
    assert _run(env, "snapshot", "import", "adour", str(tmp_path / "f" / "adour"))[0] == 0
    snapshot.key_path(tmp_path / "keys", "adour").write_bytes(os.urandom(32))
    code, out = _run(env, "kits", "build", "adour", "--out", str(tmp_path / "k"))
    assert code == 2 and "wrong key" in out and "Traceback" not in out
    code, out = _run(env, "forms", "return", "ADOUR-K9-RX-0001")
    assert code == 2 and "unknown form serial" in out


def test_bad_fhir_is_reported_and_the_rest_imported(env: dict[str, str], tmp_path: Path) -> None:
    _run(
        env,
        "continuity",
        "generate",
        "--establishment",
        "adour",
        "--patients",
        "3",
        "--out",
        str(tmp_path / "f"),
    )
    with (tmp_path / "f" / "adour" / "Patient.ndjson").open("a") as fh:
        fh.write("{not json\n")
    code, out = _run(env, "snapshot", "import", "adour", str(tmp_path / "f" / "adour"))
    assert code == 0 and "rejected" in out and "Patient.ndjson:4" in out and "invalid JSON" in out, out
    assert "3 Patient" in out


def test_decrypt_refuses_a_wrong_key_an_altered_file_or_a_clear_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    _run(
        env,
        "continuity",
        "generate",
        "--establishment",
        "adour",
        "--patients",
        "3",
        "--out",
        str(tmp_path / "f"),
    )
    assert _run(env, "snapshot", "import", "adour", str(tmp_path / "f" / "adour"))[0] == 0
    sealed = tmp_path / "b.json.enc"
    assert _run(env, "continuity", "export", "adour", "--out", str(sealed))[0] == 0
    data = sealed.read_bytes()
    altered = tmp_path / "altered.json.enc"
    altered.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    code, out = _run(env, "continuity", "decrypt", str(altered), "--out", "-")
    assert code == 2 and "was altered" in out and str(altered) in out and "Traceback" not in out, out
    code, out = _run(
        env, "continuity", "decrypt", str(tmp_path / "f" / "adour" / "Patient.ndjson"), "--out", "-"
    )
    assert code == 2 and "not a rempart encrypted file" in out, out
    snapshot.key_path(tmp_path / "keys", "adour").write_bytes(os.urandom(32))
    code, out = _run(env, "continuity", "decrypt", str(sealed), "--out", str(tmp_path / "clear.json"))
    assert code == 2 and "wrong key" in out and not (tmp_path / "clear.json").exists(), out


def test_decrypt_without_the_keys_folder_says_where_the_key_was_looked_for(
    env: dict[str, str], tmp_path: Path
) -> None:
    _run(
        env,
        "continuity",
        "generate",
        "--establishment",
        "adour",
        "--patients",
        "2",
        "--out",
        str(tmp_path / "f"),
    )
    assert _run(env, "snapshot", "import", "adour", str(tmp_path / "f" / "adour"))[0] == 0
    assert _run(env, "continuity", "export", "adour", "--out", str(tmp_path / "b.json.enc"))[0] == 0
    elsewhere = {**env, "REMPART_KEYS_DIR": str(tmp_path / "no-keys")}
    code, out = _run(elsewhere, "continuity", "decrypt", str(tmp_path / "b.json.enc"), "--out", "-")
    assert code == 2 and "no snapshot key for 'adour'" in out and "REMPART_KEYS_DIR" in out, out
    assert str(tmp_path / "no-keys" / "adour.snapshot.key") in out and "Traceback" not in out
