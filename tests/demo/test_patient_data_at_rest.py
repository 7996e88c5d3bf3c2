"""After `rempart demo`, the synthetic patients' names, birth dates and INS are in the kit PDFs only.

Every file the demo wrote is read as a user's tool would: PDFs through pdftotext, gzip members
decompressed, and both stores opened (every text column of the SQLite case store and of the DuckDB event
store, which compress what they hold) - plus what the demo printed and what it left in the temporary folder.
"""

from __future__ import annotations

import functools
import gzip
import io
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from rempart.continuity import synthetic
from rempart.demo import continuity_step
from rempart.demo.scenario import make_context, run_demo


def _fold(text: str) -> str:
    # composed, case-folded, one space between words: how pdftotext, JSON and the stores can spell a name
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@functools.cache
def _word(needle: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)")


def _found(needle: str, text: str) -> bool:
    """``needle`` as a word of its own: a sealed value's base64 may hold 'OdIle' inside a run of letters
    (a random ciphertext, seen once in CI), which is no name in clear."""
    return needle in text and _word(needle).search(text) is not None


@dataclass(frozen=True)
class Person:
    name: str  # 'family given', folded
    reversed_name: str  # 'given family', folded
    birth: tuple[str, str]  # ISO and as printed (dd/mm/yyyy)
    ins: str | None
    alone: tuple[str, ...] = ()  # parts of the name no one else bears
    present: bool = True  # on the census: a patient whose stay is finished is in no kit

    def needles(self) -> list[str]:
        return [self.name, self.reversed_name, *self.birth, *([self.ins] if self.ins else []), *self.alone]


def _person(family: str, given: str, birth: str, ins: str | None, alone: tuple[str, ...] = (),
            present: bool = True) -> Person:
    y, m, d = birth.split("-")
    folded = (_fold(f"{family} {given}"), _fold(f"{given} {family}"))
    return Person(*folded, (birth, f"{d}/{m}/{y}"), ins, tuple(_fold(a) for a in alone), present)


def _snapshot_people(establishment: str) -> list[Person]:
    res = synthetic.synth_resources(establishment, continuity_step.PATIENTS, seed=continuity_step.SEED)
    left = {e["subject"]["reference"].split("/")[-1] for e in res["Encounter"] if e["status"] == "finished"}
    return [
        _person(
            p["name"][0]["family"],
            " ".join(p["name"][0]["given"]),
            p["birthDate"],
            p["identifier"][0]["value"],
            present=p["id"] not in left,
        )
        for p in res["Patient"]
    ]


def _sqlite_text(path: Path) -> str:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        parts = []
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                parts += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
        return "\n".join(parts)
    finally:
        con.close()


def _duckdb_text(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        parts = []
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type NOT IN ('BOOLEAN', 'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT',"
            " 'UBIGINT', 'UINTEGER', 'DOUBLE', 'FLOAT', 'DATE', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE')"
        ).fetchall()
        assert columns, f"no text column in {path}"
        for schema, table, column in columns:
            q = f'SELECT string_agg(CAST("{column}" AS VARCHAR), chr(10)) FROM "{schema}"."{table}"'
            parts.append(con.execute(q).fetchone()[0] or "")  # type: ignore[index]
        return "\n".join(parts)
    finally:
        con.close()


def _texts(path: Path) -> list[str]:
    """What a reader of this file can see, in every form we know how to open."""
    raw = path.read_bytes()
    out = [raw.decode("utf-8", "replace")]
    if raw.startswith(b"%PDF"):
        out.append(
            subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
        )
    elif raw.startswith(b"\x1f\x8b"):
        out.append(gzip.decompress(raw).decode("utf-8", "replace"))
    elif raw.startswith(b"SQLite format 3"):
        out.append(_sqlite_text(path))
    elif path.suffix == ".duckdb":
        out.append(_duckdb_text(path))
    return [_fold(t) for t in out]


def _files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file() and not p.name.endswith(".wal"))


@pytest.mark.slow
def test_patient_identities_are_only_in_the_printed_kits(
    tmp_path: Path, example_group_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("pdftotext"), "poppler-utils is needed to read the kits' text"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # whatever the demo leaves there is searched too
    printed = io.StringIO()
    ctx = make_context(tmp_path / "rempart-demo", example_group_path, Console(file=printed, width=140))
    run_demo(ctx)
    assert not ctx.keys_dir.is_relative_to(ctx.workdir)
    assert ctx.keys_dir.stat().st_mode & 0o777 == 0o700
    assert any(ctx.keys_dir.iterdir()), "the demo's keys are not where REMPART_KEYS_DIR pointed"

    people = _snapshot_people(ctx.attacked)
    a = continuity_step.ADMITTED
    # admitted during downtime: on paper, then sealed in the store; never in a kit. No synthetic patient
    # or practitioner bears her given name, so it is searched alone too (JSON keeps names in two fields)
    paper_only = _person(a["family"], a["given"], a["birth_date"], None, alone=(a["given"],))
    kits = {Path(f).resolve() for f in ctx.facts["continuity"]["kit_files"]}
    seen: dict[str, list[str]] = {}
    for path in _files(ctx.workdir, ctx.keys_dir, scratch):
        for text in _texts(path):
            for person in [*people, paper_only]:
                for needle in person.needles():
                    if _found(needle, text):
                        seen.setdefault(needle, []).append(str(path.resolve()))
    console_text = _fold(printed.getvalue())
    leaks = {n: sorted(set(p) - {str(k) for k in kits}) for n, p in seen.items()}
    leaks = {n: p for n, p in leaks.items() if p}
    leaks.update({n: ["<demo output>"] for person in people for n in person.needles()
                  if _found(n, console_text)})
    assert not leaks, f"patient data in clear outside the kits: {leaks}"
    # the search does find them where they are printed: every present patient's name and birth date is in
    # a kit (one who has left is in the sealed snapshot only)
    assert any(not p.present for p in people), "the demo's snapshot should hold a patient who has left"
    for person in (p for p in people if p.present):
        assert person.name in seen or person.reversed_name in seen, person.name
        assert person.birth[1] in seen, person.birth
    assert not any(n in seen for n in paper_only.needles())  # only on paper, then sealed in the store
