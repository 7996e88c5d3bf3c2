"""What the kit shows, read back from the PDF with poppler (pdftotext, pdftoppm), not from our own model."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from rempart.continuity import census as census_mod
from rempart.continuity import kit_pdf, kits, pdfdraw, synthetic
from rempart.continuity.census import Census, Patient
from rempart.continuity.snapshot import Snapshot
from rempart.domain.inventory import Group
from tests.conftest import need
from tests.continuity.conftest import NOW, TAKEN


def _pages(pdf: Path) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return out.split("\f")[:-1]  # pdftotext ends every page with a form feed


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, group: Group) -> tuple[kits.KitPlan, list[Path], Census]:
    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    # up to 14 lines a patient: some patients need two sheets, which must both carry the identification
    res = synthetic.synth_resources("capitouls", 18, seed=5, taken_at=TAKEN, prescriptions=(6, 14))
    snap = Snapshot("capitouls", TAKEN, {k: {r["id"]: r for r in v} for k, v in res.items()})
    census = census_mod.build_census(snap)
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, NOW, "INC-0042", NOW)
    out = tmp_path_factory.mktemp("kits")
    return plan, kit_pdf.render_kit(plan, out), census


def _typed(rx: census_mod.Prescription) -> re.Pattern[str]:
    # drug, dose, unit, route and frequency on one line, in that order, each whole
    return re.compile(
        rf"(?<!\S){re.escape(rx.drug)}\s+{re.escape(rx.dose)}\s+{re.escape(rx.unit)}\s+{re.escape(rx.route)}\s+"
        rf"{re.escape(rx.frequency)}(?!\S)"
    )


def _patient_pages(pages: list[str], plan: kits.KitPlan, p: Patient) -> list[str]:
    serial = next(u.mars[p.id].serial for u in plan.units if p.id in u.mars)
    return [pg for pg in pages if f"N° {serial}" in pg]


def test_every_prescription_appears_once_on_its_patient_page_typed_with_dose_and_unit(built) -> None:  # type: ignore[no-untyped-def]
    plan, files, census = built
    pages = [pg for f in files for pg in _pages(f)]
    multi = 0
    for p in census.patients():
        mine = _patient_pages(pages, plan, p)
        assert mine, f"no page for {p.id}"
        multi += len(mine) > 1
        others = [pg for pg in pages if pg not in mine]
        for rx in p.prescriptions:
            pattern = _typed(rx)
            assert sum(len(pattern.findall(pg)) for pg in mine) == 1, (p.id, rx.typed)
            # a line printed on another patient's sheet would be a medication error waiting to happen
            assert not any(
                p.display_name in pg and pattern.search(pg) and "Liste des patients" not in pg
                for pg in others
            )
        for rx in p.prescriptions:
            if rx.times:
                assert any(" ".join(rx.times) in pg for pg in mine), rx.typed
    assert multi > 0, "the fixture should exercise patients on two sheets"


def test_every_page_about_a_patient_carries_the_identification(built) -> None:  # type: ignore[no-untyped-def]
    plan, files, census = built
    pages = [pg for f in files for pg in _pages(f)]
    for p in census.patients():
        for pg in _patient_pages(pages, plan, p):
            flat = " ".join(pg.split())
            assert p.display_name in flat
            assert f"né(e) le {p.birth_date:%d/%m/%Y}" in flat
            assert f"IPP {p.ipp}" in flat
            assert p.ins is not None and p.ins in flat


def test_every_page_shows_the_snapshot_age_and_every_form_its_serial(built) -> None:  # type: ignore[no-untyped-def]
    plan, files, _ = built
    pages = [pg for f in files for pg in _pages(f)]
    age = "1 h 20 min"  # the plan is built at NOW, the snapshot was taken 80 minutes before
    assert all(f"âge à l'impression : {age}" in " ".join(pg.split()) for pg in pages)
    text = "\n".join(pages)
    for form in plan.forms():
        assert text.count(f"N° {form.serial}") >= 1
    serials = re.findall(r"N° (CAPITOULS-K1-[A-Z]+-\d{4})", text)
    blanks = [s for s in serials if "-MAR-" not in s]
    assert len(blanks) == len(set(blanks)) == sum(len(u.blanks) for u in plan.units)


def test_census_is_sorted_by_name_then_birth_date(built) -> None:  # type: ignore[no-untyped-def]
    plan, files, _census = built
    for unit, f in zip(plan.units, files, strict=True):
        page = _pages(f)[1]
        assert "Liste des patients présents" in page
        positions = [page.index(p.display_name) for p in unit.patients]
        assert positions == sorted(positions)
        keys = [p.sort_key() for p in unit.patients]
        assert keys == sorted(keys)


def test_cover_lists_who_to_call_and_the_rules(built) -> None:  # type: ignore[no-untyped-def]
    _, files, _ = built
    cover = " ".join(_pages(files[0])[0].split())
    for phone in ("09 72 43 91 25", "01 71 75 84 68", "05 61 00 00 01"):
        assert phone in cover
    assert "ARS Occitanie" in cover and "INC-0042" in cover
    assert "Règles du mode dégradé" in cover


def test_blank_forms_last_at_least_the_configured_hours(group: Group) -> None:
    res = synthetic.synth_resources("capitouls", 30, seed=1, taken_at=TAKEN)
    census = census_mod.build_census(
        Snapshot("capitouls", TAKEN, {k: {r["id"]: r for r in v} for k, v in res.items()})
    )
    est = group.establishment("capitouls")
    eight = kits.plan_kit(census, group, est, 1, NOW)
    sixteen = kits.plan_kit(census, group, est, 1, NOW, config=kits.KitConfig(hours=16))
    for a, b in zip(eight.units, sixteen.units, strict=True):
        assert len(b.blanks) > len(a.blanks)
        admissions = [f for f in a.blanks if f.form_type == "admission"]
        assert admissions and all(f.provisional_id for f in admissions)
    assert len({f.provisional_id for f in eight.forms() if f.provisional_id}) == len(
        [f for f in eight.forms() if f.form_type == "admission"]
    )


def test_pages_render_to_png(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    need(shutil.which("pdftoppm") is not None, "poppler-utils (pdftoppm) not installed")
    _, files, _ = built
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "3", str(files[0]), str(tmp_path / "p")], check=True
    )
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == 3 and all(p.stat().st_size > 2000 for p in pngs)


def test_stale_snapshot_is_flagged_on_every_page(group: Group, tmp_path: Path) -> None:
    res = synthetic.synth_resources("capitouls", 4, seed=2, taken_at=TAKEN)
    census = census_mod.build_census(
        Snapshot("capitouls", TAKEN, {k: {r["id"]: r for r in v} for k, v in res.items()})
    )
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, TAKEN + timedelta(hours=5))
    assert plan.stale
    pages = _pages(kit_pdf.render_unit(plan, plan.units[0], tmp_path))
    assert all("instantané ancien" in pg for pg in pages)


def test_printed_qr_code_is_the_serial_establishment_and_form_type(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Read the modules back from the rendered page and compare them with the symbol of the payload."""
    import segno
    from PIL import Image

    need(shutil.which("pdftoppm") is not None, "poppler-utils (pdftoppm) not installed")
    plan, files, _ = built
    blank = plan.units[0].blanks[0]
    pages = _pages(files[0])
    page_no = next(i for i, pg in enumerate(pages, 1) if f"N° {blank.serial}" in pg)
    dpi = 400
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-gray",
            "-png",
            "-f",
            str(page_no),
            "-l",
            str(page_no),
            str(files[0]),
            str(tmp_path / "q"),
        ],
        check=True,
    )
    img = Image.open(next(tmp_path.glob("q-*.png"))).convert("L")
    assert blank.qr_payload == f"RMP:{blank.serial}:CAPITOULS:{kits.FORM_TYPES[blank.form_type]}"
    code = segno.make_qr(blank.qr_payload, error="m", mask=0, boost_error=False)
    n = int(code.symbol_size(border=0)[0])
    w, h = pdfdraw.PORTRAIT
    x0, top, size = w - pdfdraw.M - 58, h - (h - pdfdraw.M - 92 + 58), 58.0
    cell = size / (n + 4)
    scale = dpi / 72

    def dark(r: int, c: int) -> bool:
        value = img.getpixel(
            (int((x0 + (2 + c + 0.5) * cell) * scale), int((top + (2 + r + 0.5) * cell) * scale))
        )
        assert isinstance(value, int)
        return value < 128

    read = [[dark(r, c) for c in range(n)] for r in range(n)]
    assert read == [[bool(v) for v in row] for row in code.matrix]


def test_serials_are_unique_and_name_establishment_kit_and_type(group: Group) -> None:
    res = synthetic.synth_resources("st-kevin", 12, seed=3, taken_at=TAKEN)
    census = census_mod.build_census(
        Snapshot("st-kevin", TAKEN, {k: {r["id"]: r for r in v} for k, v in res.items()})
    )
    base = group.establishment("capitouls")
    est = base.model_copy(update={"id": "st-kevin"})
    plan = kits.plan_kit(census, group, est, 3, NOW)
    serials = [f.serial for f in plan.forms()]
    assert len(serials) == len(set(serials))
    for f in plan.forms():
        code = kits.FORM_TYPES[f.form_type]
        assert re.fullmatch(rf"ST-KEVIN-K3-{code}-\d{{4}}", f.serial)
        assert f.qr_payload == f"RMP:{f.serial}:ST-KEVIN:{code}"


def test_printed_qr_codes_decode_with_a_real_reader(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What a scanner at back-entry reads: every blank form of the first pages, decoded by ZXing."""
    import zxingcpp
    from PIL import Image

    need(shutil.which("pdftoppm") is not None, "poppler-utils (pdftoppm) not installed")
    plan, files, _ = built
    pages = _pages(files[0])
    blanks = {b.serial: b.qr_payload for b in plan.units[0].blanks}
    numbered = [i for i, pg in enumerate(pages, 1) if any(f"N° {s}" in pg for s in blanks)][:6]
    assert numbered
    decoded: list[str] = []
    for page_no in numbered:
        out = tmp_path / f"d{page_no}"
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "200",
                "-gray",
                "-png",
                "-f",
                str(page_no),
                "-l",
                str(page_no),
                str(files[0]),
                str(out),
            ],
            check=True,
        )
        image = Image.open(next(tmp_path.glob(f"d{page_no}-*.png")))
        found = [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
        serials = [s for s in blanks if f"N° {s}" in pages[page_no - 1]]
        assert sorted(found) == sorted(blanks[s] for s in serials), page_no
        decoded += found
    assert len(decoded) >= len(numbered)


def test_names_beyond_winansi_print_as_written_not_as_black_squares(group: Group, tmp_path: Path) -> None:
    """Helvetica only holds WinAnsi: "Łukasz Dvořák" came out "■ukasz DVO■ÁK". Such names switch to an
    embedded font, on the census and on the patient's own pages."""
    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    res = synthetic.synth_resources("capitouls", 3, seed=2, taken_at=TAKEN)
    names = [("Dvořák", "Łukasz"), ("Nguyễn", "Thị Ánh"), ("Ionescu", "Ștefan")]
    for patient, (family, given) in zip(res["Patient"], names, strict=True):
        patient["name"] = [{"use": "official", "family": family, "given": [given]}]
    census = census_mod.build_census(
        Snapshot("capitouls", TAKEN, {k: {r["id"]: r for r in v} for k, v in res.items()})
    )
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, NOW)
    pages = [pg for unit in plan.units for pg in _pages(kit_pdf.render_unit(plan, unit, tmp_path))]
    text = "\n".join(pages)
    assert "■" not in text
    for unit in plan.units:
        for p in unit.patients:
            assert p.display_name.split()[0] in ("DVOŘÁK", "NGUYỄN", "IONESCU")
            own = _patient_pages(pages, plan, p)
            assert own and all(p.display_name in " ".join(pg.split()) for pg in own), p.display_name
            assert p.display_name in text


def test_a_bold_name_beyond_winansi_stays_bold() -> None:
    from rempart import pdffonts

    regular, bold = pdffonts.fonts()
    need(regular != pdfdraw.FONT, "DejaVu fonts (fonts-dejavu-core) not installed")
    assert pdfdraw.font_for("Łukasz", pdfdraw.BOLD) == bold
    assert pdfdraw.font_for("Łukasz", pdfdraw.FONT) == regular
    assert pdfdraw.font_for(pdfdraw.font_for("Łukasz", pdfdraw.BOLD), bold) == bold
    assert pdfdraw.font_for("Zoë Œuvre", pdfdraw.BOLD) == pdfdraw.BOLD  # WinAnsi holds it: no embedding


def test_without_an_embedded_font_names_fold_to_winansi_never_to_black_squares(
    group: Group, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rempart import pdffonts

    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    monkeypatch.setattr(pdffonts, "fonts", lambda: (pdfdraw.FONT, pdfdraw.BOLD))  # as without fonts-dejavu
    assert pdfdraw.winansi_fold("Łukasz Dvořák, Ștefan, Nguyễn Thị Ánh, 李") == (
        "Lukasz Dvorák, Stefan, Nguyen Thi Ánh, ?"
    )
    res = synthetic.synth_resources("capitouls", 1, seed=2, taken_at=TAKEN)
    res["Patient"][0]["name"] = [{"use": "official", "family": "Dvořák", "given": ["Łukasz"]}]
    census = census_mod.build_census(
        Snapshot("capitouls", TAKEN, {k: {r["id"]: r for r in v} for k, v in res.items()})
    )
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, NOW)
    text = "\n".join(_pages(kit_pdf.render_unit(plan, plan.units[0], tmp_path)))
    assert "■" not in text and "DVORÁK Lukasz" in text
