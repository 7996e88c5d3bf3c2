"""Degraded mode in the console: build and download a unit's kit, return paper forms, back-enter a MAR."""

from __future__ import annotations

import re
import subprocess
import unicodedata

from rempart.continuity import register
from rempart.store import journal
from tests.console.support import Console, build_kit, csrf_of, first_mar

PAGE = "/etablissements/capitouls/continuite"


def _message(html: str) -> str:
    m = re.search(r'<p class="message[^"]*"[^>]*>([^<]*)</p>', html)
    return m.group(1) if m else ""


def _traces(console: Console, seen: str) -> list[dict[str, object]]:
    import json

    with console.store.session() as s:
        return [json.loads(e.payload) for e in journal.entries(s)
                if e.action == "patient_data.access" and json.loads(e.payload).get("seen") == seen]


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")


def _status(console: Console, serial: str) -> str:
    with console.store.session() as s:
        return register.get_form(s, serial).status


def test_the_it_on_call_builds_a_kit_and_downloads_each_units_pdf(console: Console) -> None:
    c = console.login("astreinte-dsi")
    r = c.post("/etablissements/capitouls/kits", data={"csrf": csrf_of(c.get(PAGE).text)})
    assert r.status_code == 303 and "Kit n° 1 généré" in c.get(r.headers["location"]).text
    page = c.get(PAGE).text
    links = re.findall(r'href="(/etablissements/capitouls/kits/1/\d+)" download>([^<]+)<', page)
    assert links, "no kit file to download"
    units: set[str] = set()
    for url, name in links:
        pdf = c.get(url)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True,
                              check=True).stdout.decode()
        unit = re.search(r"Unité : (.+?) — \d+ patient", text)
        assert unit, "the kit names no unit"
        assert name == f"kit-capitouls-1-{_slug(unit.group(1))}.pdf"  # the file is the unit's own kit
        assert "Clinique des Capitouls" in text and "MODE DÉGRADÉ" in text
        units.add(unit.group(1))
    assert len(units) == len(links) >= 2
    downloads = [t for t in _traces(console, "kit") if "file" in t]
    assert len(downloads) == len(links) and {t["account"] for t in downloads} == {"astreinte-dsi"}
    board = c.get("/").text
    assert re.search(r'<tr id="etab-capitouls" data-state="mode dégradé"', board)


def test_a_returned_mar_is_back_entered_line_by_line(console: Console) -> None:
    build_kit(console)
    serial = first_mar(console)
    c = console.login("astreinte-dsi")
    page = c.get(PAGE).text
    assert f'id="form-{serial}" data-status="issued"' in page
    r = c.post(f"/formulaires/{serial}/retour", data={"csrf": csrf_of(page)})
    assert r.status_code == 303 and _status(console, serial) == "returned"
    again = c.post(f"/formulaires/{serial}/retour", data={"csrf": csrf_of(page)})
    assert again.status_code == 409 and "seul un formulaire émis" in _message(again.text)
    sheet = c.get(f"/formulaires/{serial}").text
    assert "Saisie du formulaire" in sheet and 'name="given_0"' in sheet
    token = csrf_of(sheet)
    bad = c.post(f"/formulaires/{serial}/saisie",
                 data={"csrf": token, "given_0": "oui", "time_0": "25:99", "nurse": "IDE Morel"})
    assert bad.status_code == 409 and _status(console, serial) == "returned"  # nothing written
    # the first planned dose (due: the kit was printed 3 hours ago), given at its planned time
    ok = c.post(f"/formulaires/{serial}/saisie", data={"csrf": token, "given_0": "oui", "nurse": "IDE Morel"})
    assert ok.status_code == 303, re.findall(r"<li>([^<]*)</li>", ok.text)
    assert _status(console, serial) == "entered"
    assert "saisi : 1 ligne(s)" in c.get(ok.headers["location"]).text
    assert {t["serial"] for t in _traces(console, "form")} == {serial}  # opening the MAR is traced


def test_roles_without_patient_data_see_the_register_but_no_kit_or_mar(console: Console) -> None:
    build_kit(console)
    serial = first_mar(console, returned=True)
    auditor = console.login("l.petit")
    page = auditor.get(PAGE)
    assert page.status_code == 200 and serial in page.text
    assert "/kits/1/0" not in page.text and "Générer" not in page.text
    assert auditor.get("/etablissements/capitouls/kits/1/0").status_code == 403
    assert auditor.get(f"/formulaires/{serial}").status_code == 403
    expert = console.login("e.expert")
    r = expert.post(f"/formulaires/{serial}/saisie", data={"csrf": csrf_of(expert.get(PAGE).text)})
    assert r.status_code == 403
    other = console.login("t.moreau")
    assert other.get(PAGE).status_code == 403
