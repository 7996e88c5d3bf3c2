"""Draw a downtime kit as one PDF per care unit, in French, with the ReportLab canvas (fast, no layout).

Every page carries the establishment, the unit, the snapshot time and age; every page about a patient
carries the patient's identification; every form carries its serial number and a QR code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from reportlab.lib.colors import black
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from rempart.continuity.census import Patient, Prescription
from rempart.continuity.fhir_read import MISSING_BED, TEXT_ONLY, UNKNOWN
from rempart.continuity.kits import FORM_TITLES, Form, KitPlan, UnitKit
from rempart.continuity.pdfdraw import (
    BOLD,
    FONT,
    GREY,
    LANDSCAPE,
    LIGHT,
    PORTRAIT,
    RED,
    M,
    TextBlock,
    ascii_name,
    binary_streams,
    fit,
    local,
    printable,
    qr,
)
from rempart.continuity.snapshot import format_age

RULES = (
    "Toute prescription est écrite, datée, signée, avec la dose ET l'unité en toutes lettres "
    "(jamais « U » ni « µ » seuls).",
    "Chaque administration est tracée dans la case prévue : initiales, heure réelle ; si non faite "
    ": NF + motif.",
    "Vérifier l'identité du patient (nom, prénom, date de naissance) avant chaque acte "
    "et sur chaque feuille.",
    "Les prescriptions imprimées datent de l'instantané : vérifier toute modification postérieure "
    "avec le médecin.",
    "Une admission reçoit l'identité provisoire pré-imprimée sur la fiche d'admission ; ne pas en "
    "inventer une autre.",
    "Les examens de biologie sont demandés sur bon papier ; les résultats sont transmis par "
    "téléphone ou coursier.",
    "Ne pas brancher de clé USB ni d'ordinateur personnel ; ne pas redémarrer les postes sans "
    "consigne de la cellule.",
    "Chaque feuille remplie est rangée dans le classeur de l'unité, par nom de patient puis date de "
    "naissance.",
    "Une feuille abîmée ou inutilisée n'est jamais jetée : la barrer « ANNULÉ » et la rendre avec "
    "le classeur.",
    "Au retour du système, toutes les feuilles sont rendues pour re-saisie ; aucune ne doit manquer.",
)


NO_BED, NO_ROOM = "SANS LIT", "sans chambre"
BED_BOX = "Patients sans lit attribué dans l'export — " + MISSING_BED.split(" — ")[1]
ROWS_PER_SHEET = 10
SHEET_SPARE = 34.0  # height left under a full sheet's 24 h grid, above the footer
RX_ROW = 35.0  # height of a line: its prescription row and its grid row
WARN_LINE, WARN_HEAD = 11.0, 20.0


def identity_line(p: Patient) -> str:
    born = p.birth_date.strftime("%d/%m/%Y") if p.birth_date else "inconnue"
    ins = f" — {p.ins_kind} {p.ins}" if p.ins else (f" — {p.ins_note}" if p.ins_note else "")
    return f"{p.display_name} — né(e) le {born} — IPP {p.ipp or p.id}{ins}"


def sheets(prescriptions: Sequence[Prescription]) -> list[list[tuple[int, Prescription]]]:
    """Lines per patient sheet: ten, fewer when the box of values to check needs the room."""
    out: list[list[tuple[int, Prescription]]] = [[]]
    warnings = 0
    for i, rx in enumerate(prescriptions, 1):
        n, k = len(out[-1]) + 1, warnings + len(rx.missing)
        need = WARN_HEAD + WARN_LINE * k if k else 0.0
        if out[-1] and (n > ROWS_PER_SHEET or SHEET_SPARE + RX_ROW * (ROWS_PER_SHEET - n) < need):
            out.append([])
            warnings, k = 0, len(rx.missing)
        out[-1].append((i, rx))
        warnings = k
    return out


def times_text(rx: Prescription) -> str:
    if rx.suspended:
        text = "SUSPENDU — ne pas administrer sans avis médical"
    else:
        text = " ".join(rx.times) or ("selon besoin, tracer chaque prise" if rx.prn else "")
    if rx.prn and rx.instructions:
        return rx.instructions  # the reason and the maximum say more than the generic words
    if rx.instructions:
        text = f"{text} — {rx.instructions}" if text else rx.instructions
    return text


class KitWriter:
    """Draws one unit's PDF; pages share the header and footer of the kit."""

    def __init__(self, plan: KitPlan, unit: UnitKit, path: Path) -> None:
        self.plan, self.unit, self.path = plan, unit, path
        self.c = Canvas(str(path), pagesize=PORTRAIT, pageCompression=1, invariant=1)
        self.c.setTitle(f"Kit mode dégradé — {plan.establishment.name} — {unit.name}")
        self.c.setAuthor("rempart")
        self.page_no = 0
        self.size = PORTRAIT
        self.statics: dict[tuple[object, ...], str] = {}
        self.in_static = False
        age = format_age(plan.snapshot_age)
        self.snap_text = f"Instantané du {local(plan.taken_at)} (âge à l'impression : {age})"

    def static(self, key: tuple[object, ...], draw: Callable[[], None]) -> None:
        """Draw once into a PDF form XObject, then reuse it: a kit repeats the same frames many times."""
        if self.in_static:
            draw()
            return
        name = self.statics.get(key)
        if name is None:
            name = f"S{len(self.statics)}"
            self.in_static = True
            self.c.beginForm(name)
            draw()
            self.c.endForm()
            self.in_static = False
            self.statics[key] = name
        self.c.doForm(name)

    # -- page frame ---------------------------------------------------------------------------------
    def page(self, size: tuple[float, float], title: str, form: Form | None = None) -> float:
        """Start a page; return the y below the header."""
        if self.page_no:
            self.c.showPage()
        self.page_no += 1
        self.size = size
        self.c.setPageSize(size)
        w, h = size
        c = self.c
        self.static(("frame", size, title), lambda: self._frame(size, title))
        text = TextBlock(c)
        if form is not None:
            qr(c, form.qr_payload, w - M - 58, h - M - 92, 58)
            text.fit(f"N° {form.serial}", w - M - 230, h - M - 44, 168, 10, BOLD, right=True)
        text.fit(
            f"{self.plan.establishment.id} — page {self.page_no}", w - M - 140, M + 2, 140, 7.5, right=True
        )
        text.draw()
        return h - M - 44

    def _frame(self, size: tuple[float, float], title: str) -> None:
        w, h = size
        c = self.c
        c.setFillColor(GREY)
        c.rect(M, h - M - 30, w - 2 * M, 30, stroke=0, fill=1)
        c.setFillColor(black)
        fit(c, "MODE DÉGRADÉ — " + title, M + 6, h - M - 13, w - 2 * M - 240, 12, BOLD)
        fit(c, f"{self.plan.establishment.name} — {self.unit.name}", M + 6, h - M - 26, w - 2 * M - 240, 8.5)
        inc = self.plan.incident_ref or "préparation (hors incident)"
        fit(c, f"Incident : {inc} — Kit n° {self.plan.number}", w - M - 230, h - M - 13, 224, 8.5, right=True)
        fit(c, f"Début : {local(self.plan.started_at)}", w - M - 230, h - M - 26, 224, 8.5, right=True)
        c.setStrokeColor(black)
        c.line(M, M + 12, w - M, M + 12)
        c.setFillColor(RED if self.plan.stale else black)
        stale = " — ATTENTION : instantané ancien, vérifier chaque prescription" if self.plan.stale else ""
        fit(c, self.snap_text + stale, M, M + 2, w - 2 * M - 150, 7.5, BOLD if stale else FONT)
        c.setFillColor(black)

    def ident_block(self, y: float, p: Patient, width: float) -> float:
        c = self.c
        c.setFillColor(LIGHT)
        c.rect(M, y - 34, width, 32, stroke=1, fill=1)
        c.setFillColor(black)
        fit(c, identity_line(p), M + 6, y - 15, width - 12, 11, BOLD)
        allergy = ", ".join(p.allergies) if p.allergies else "aucune allergie connue"
        place = " — ".join(x for x in (p.room, p.bed) if x) if p.has_bed else f"{NO_BED} ({MISSING_BED})"
        line = f"{place} — Médecin : {p.attending} — Allergies : {allergy}"
        if p.allergies or not p.has_bed:
            c.setFillColor(RED)
        fit(c, line, M + 6, y - 28, width - 12, 9, BOLD if p.allergies or not p.has_bed else FONT)
        c.setFillColor(black)
        return y - 40

    def blank_ident(self, y: float, width: float, provisional: str | None = None) -> float:
        c = self.c
        c.rect(M, y - 46, width, 44, stroke=1, fill=0)
        c.setFont(BOLD, 9)
        c.drawString(M + 6, y - 14, "Identification du patient (ou étiquette) :")
        c.setFont(FONT, 9)
        c.drawString(M + 6, y - 28, "Nom de naissance : ______________________  Prénom : __________________")
        ident = provisional or "______________"
        c.drawString(
            M + 6, y - 41, f"Né(e) le : ___/___/______   IPP ou n° provisoire : {ident}   Ch./lit : ______"
        )
        return y - 52

    def table(
        self,
        x: float,
        y: float,
        widths: Sequence[float],
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        row_h: float = 16,
        size: float = 9,
        bold_cols: Sequence[int] = (),
    ) -> float:
        """A ruled table: header and rules drawn once per shape, cell texts on each page."""
        n = len(rows)
        self.static(
            ("table", x, y, tuple(widths), tuple(header), n, row_h, size),
            lambda: self._grid(x, y, widths, header, n, row_h, size),
        )
        # one text block for every cell: a page of prescriptions is drawn in a single BT…ET block
        text = TextBlock(self.c)
        y -= row_h
        for row in rows:
            cx = x
            for i, (wdt, cell) in enumerate(zip(widths, row, strict=True)):
                if cell:
                    text.fit(cell, cx + 3, y - row_h + 5, wdt - 6, size, BOLD if i in bold_cols else FONT)
                cx += wdt
            y -= row_h
        text.draw()
        return y

    def _grid(
        self,
        x: float,
        y: float,
        widths: Sequence[float],
        header: Sequence[str],
        n: int,
        row_h: float,
        size: float,
    ) -> None:
        c = self.c
        total = sum(widths)
        c.setFillColor(GREY)
        c.rect(x, y - row_h, total, row_h, stroke=1, fill=1)
        c.setFillColor(black)
        cx = x
        for wdt, text in zip(widths, header, strict=True):
            fit(c, text, cx + 3, y - row_h + 5, wdt - 6, size - 0.5, BOLD)
            cx += wdt
        c.rect(x, y - row_h * (n + 1), total, row_h * n, stroke=1, fill=0)
        for k in range(2, n + 1):
            c.line(x, y - row_h * k, x + total, y - row_h * k)
        cx = x
        for wdt in widths[:-1]:
            cx += wdt
            c.line(cx, y - row_h, cx, y - row_h * (n + 1))

    # -- sections -----------------------------------------------------------------------------------
    def cover(self) -> None:
        p, w = self.plan, PORTRAIT[0] - 2 * M
        y = self.page(PORTRAIT, "Fiche de garde du kit")
        c = self.c
        est = p.establishment
        lines = [
            (f"{est.name} ({est.city}) — FINESS {est.finess}", 13, BOLD),
            (f"Unité : {self.unit.name} — {len(self.unit.patients)} patient(s)", 11, BOLD),
            (f"Incident : {p.incident_ref or 'kit imprimé à l’avance (hors incident)'}", 10, FONT),
            (
                f"Début du mode dégradé : {local(p.started_at)} — kit n° {p.number} "
                f"généré le {local(p.built_at)}",
                10,
                FONT,
            ),
            (self.snap_text, 10, BOLD),
            (
                f"Patients présents dans l'unité : {len(self.unit.patients)} — dans l'établissement : "
                f"{p.present}",
                10,
                BOLD,
            ),
        ]
        y -= 18
        for text, size, font in lines:
            fit(c, text, M, y, w, size, font)
            y -= size + 6
        for unit, gap in p.census_gaps.items():
            c.setFillColor(RED)
            fit(
                c,
                f"ÉCART DE RECENSEMENT — {unit} : {gap} ; vérifier avec le bureau des entrées.",
                M,
                y,
                w,
                10,
                BOLD,
            )
            c.setFillColor(black)
            y -= 16
        if p.stale:
            c.setFillColor(RED)
            fit(
                c,
                "ATTENTION : l'instantané a plus de "
                f"{format_age(p.config.max_snapshot_age)} ; les prescriptions récentes peuvent manquer.",
                M,
                y,
                w,
                10,
                BOLD,
            )
            c.setFillColor(black)
            y -= 16
        y -= 6
        fit(c, "Qui appeler (téléphone, hors informatique)", M, y, w, 11, BOLD)
        rows = [[ct.name, ct.phone or "voir annuaire de crise papier", ct.email or ""] for ct in p.contacts]
        y = self.table(
            M, y - 6, (230, 140, w - 370), ("Contact", "Téléphone", "Courriel"), rows, bold_cols=(1,)
        )
        y -= 18
        fit(c, "Règles du mode dégradé", M, y, w, 11, BOLD)
        y -= 14
        for i, rule in enumerate(RULES, 1):
            y = self._wrapped(f"{i}. {rule}", M, y, w, 9) - 3
        y -= 10
        fit(c, "Contenu du kit", M, y, w, 11, BOLD)
        rows = []
        for kind, title in FORM_TITLES.items():
            forms = [f for f in self.unit.forms() if f.form_type == kind]
            if forms:
                rows.append([title, str(len(forms)), f"{forms[0].serial} à {forms[-1].serial}"])
        self.table(M, y - 6, (230, 50, w - 280), ("Document", "Nombre", "Numéros de série"), rows)

    def _wrapped(self, text: str, x: float, y: float, width: float, size: float) -> float:
        words, line = text.split(), ""
        text, font = printable(text, FONT)  # names of the people to call may need more than WinAnsi
        block = TextBlock(self.c)
        for word in words:
            trial = f"{line} {word}".strip()
            if stringWidth(trial, font, size) > width and line:
                block.show(line, x, y, size, font)
                y -= size + 2
                line = word
            else:
                line = trial
        block.show(line, x, y, size, font)
        block.draw()
        return y - size - 2

    def box_cells(
        self, x: float, y: float, widths: Sequence[float], row_h: float, cells: Sequence[tuple[int, int]]
    ) -> None:
        """A red frame around each (row, column) of a table drawn at (x, y): a value to check, not data."""
        c = self.c
        c.setStrokeColor(RED)
        c.setLineWidth(1.6)
        for row, col in cells:
            cx = x + sum(widths[:col])
            c.rect(cx + 1.2, y - row_h * (row + 2) + 1.2, widths[col] - 2.4, row_h - 2.4, stroke=1, fill=0)
        c.setLineWidth(1)
        c.setStrokeColor(black)

    def census(self) -> None:
        w = LANDSCAPE[0] - 2 * M
        widths = (170, 62, 70, 78, 78, 150, w - 608)
        header = ("Nom Prénom", "Né(e) le", "IPP", "Chambre", "Lit", "Allergies", "Médecin")

        def row(p: Patient) -> list[str]:
            return [
                p.display_name,
                p.birth_date.strftime("%d/%m/%Y") if p.birth_date else "inconnue",
                p.ipp or p.id,
                p.room if p.has_bed else (p.room or NO_ROOM),
                p.bed or NO_BED,
                ", ".join(p.allergies) or "aucune connue",
                p.attending,
            ]

        bedded = [p for p in self.unit.patients if p.has_bed]
        bedless = [p for p in self.unit.patients if not p.has_bed]
        total = len(self.unit.patients)
        count = f"{total} patient(s) présent(s) dans l'unité" + (
            f", dont {len(bedless)} sans lit attribué" if bedless else ""
        )
        gap = self.plan.census_gaps.get(self.unit.name)
        count += f" — ÉCART AVEC L'INSTANTANÉ : {gap}" if gap else " — conforme à l'instantané"
        title = f"Liste des patients présents (tri : nom, date de naissance) — {self.unit.name}"
        per_page, row_h = 27, 16.0
        chunks = [bedded[i : i + per_page] for i in range(0, len(bedded), per_page)] or [[]]
        y = 0.0
        for chunk in chunks:
            y = self.page(LANDSCAPE, title)
            self.c.setFillColor(RED if gap else black)
            fit(self.c, count, M, y - 14, w, 10, BOLD)
            self.c.setFillColor(black)
            y = self.table(M, y - 22, widths, header, [row(p) for p in chunk], row_h=row_h, bold_cols=(0,))
        left = int((y - M - 20) // row_h) - 3  # rows that still fit under the list, with the heading
        while bedless:
            if left < min(len(bedless), 3):
                y = self.page(LANDSCAPE, title) - 8
                left = per_page
            chunk, bedless = bedless[:left], bedless[left:]
            self.c.setFillColor(RED)
            fit(self.c, BED_BOX, M, y - 18, w, 10, BOLD)
            self.c.setFillColor(black)
            rows = [row(p) for p in chunk]
            top = y - 24
            y = self.table(M, top, widths, header, rows, row_h=row_h, bold_cols=(0,))
            boxed = [
                (r, col) for r, cells in enumerate(rows) for col in (3, 4) if cells[col] in (NO_BED, NO_ROOM)
            ]
            self.box_cells(M, top, widths, row_h, boxed)
            left = 0

    def patient(self, p: Patient, form: Form) -> None:
        chunks = sheets(p.prescriptions)
        for k, chunk in enumerate(chunks, 1):
            more = f" (feuille {k}/{len(chunks)})" if len(chunks) > 1 else ""
            y = self.page(LANDSCAPE, f"Prescriptions en cours et plan d'administration 24 h{more}", form)
            y = self.ident_block(y - 6, p, LANDSCAPE[0] - 2 * M - 64)
            y = self._prescriptions(y - 4, chunk)
            y = self._to_check(y - 4, chunk)
            self._mar(y - 10, chunk, form)

    def _prescriptions(self, y: float, chunk: list[tuple[int, Prescription]]) -> float:
        w = LANDSCAPE[0] - 2 * M
        widths = (22, 230, 50, 50, 70, 110, w - 532)
        rows = []
        for i, rx in chunk:
            rows.append(
                [
                    str(i),
                    rx.drug,
                    rx.dose,
                    rx.unit,  # a column of its own: dose and unit can never run together
                    rx.route,
                    rx.frequency,
                    times_text(rx),
                ]
            )
        if not rows:
            rows = [["", "Aucune prescription active dans l'instantané", "", "", "", "", ""]]
        end = self.table(
            M,
            y,
            widths,
            ("N°", "Médicament", "Dose", "Unité", "Voie", "Fréquence", "Heures prévues"),
            rows,
            row_h=15,
            bold_cols=(1, 2, 3),
        )
        boxed = [(r, col) for r, row in enumerate(rows) for col in range(1, 5) if row[col] == UNKNOWN]
        boxed += [(r, 6) for r, (_, rx) in enumerate(chunk) if rx.suspended]
        self.box_cells(M, y, widths, 15, boxed)
        return end

    def _to_check(self, y: float, chunk: list[tuple[int, Prescription]]) -> float:
        """The box of what the export does not say, in words: a nurse must not take it for data."""
        lines = [
            f"Ligne {i} : {why}" + (f" ; {rx.instructions}" if why == TEXT_ONLY else "")
            for i, rx in chunk
            for why in rx.missing
        ]
        if not lines:
            return y
        c, w = self.c, LANDSCAPE[0] - 2 * M
        height = WARN_HEAD + WARN_LINE * len(lines) - 6
        c.setStrokeColor(RED)
        c.setLineWidth(2)
        c.setFillColor(LIGHT)
        c.rect(M, y - height, w, height, stroke=1, fill=1)
        c.setLineWidth(1)
        c.setStrokeColor(black)
        c.setFillColor(RED)
        fit(
            c,
            "À VÉRIFIER AVANT TOUTE ADMINISTRATION — absent de l'export, ne pas deviner :",
            M + 6,
            y - 11,
            w - 12,
            9,
            BOLD,
        )
        text = TextBlock(c)
        yy = y - 11 - WARN_LINE
        for line in lines:
            text.fit(line, M + 6, yy, w - 12, 8.5, BOLD)
            yy -= WARN_LINE
        text.draw()
        c.setFillColor(black)
        return y - height

    def _mar(self, y: float, chunk: list[tuple[int, Prescription]], form: Form) -> None:
        c = self.c
        start = self.plan.window_start
        hours, label_w, row_h = self.plan.config.mar_hours, 170.0, 20.0
        col = (LANDSCAPE[0] - 2 * M - label_w) / hours
        self.static(("mar", y, len(chunk)), lambda: self._mar_grid(y, len(chunk), label_w, row_h))
        y -= 4 + row_h
        slots: dict[str, dict[int, str]] = {}
        for rid, at in form.planned:
            slots.setdefault(rid, {})[int((at - start).total_seconds() // 3600)] = local(at, "%H:%M")
        shade: list[str] = []  # every planned cell in one path, every label and time in one text block
        text = TextBlock(c)
        for i, rx in chunk:
            name = (
                f"{i} · {rx.drug}"
                + (" (si besoin)" if rx.prn else "")
                + (" (SUSPENDU)" if rx.suspended else "")
                + (" (voir encadré)" if rx.missing else "")
            )
            text.fit(name, M + 3, y - 13, label_w - 6, 8)
            for h, when in slots.get(rx.request_id, {}).items():
                x = M + label_w + h * col
                shade.append(f"{fp_str(x + 0.5, y - row_h + 0.5, col - 1, row_h - 1)} re")
                text.show(when, x + 1.5, y - 6.5, 5.5)
            y -= row_h
        if shade:
            c.setFillColor(LIGHT)
            c.addLiteral("\n".join(shade) + " f")
            c.setFillColor(black)
        text.draw()

    def _mar_grid(self, y: float, n: int, label_w: float, row_h: float) -> None:
        c, w = self.c, LANDSCAPE[0] - 2 * M
        start = self.plan.window_start
        hours = self.plan.config.mar_hours
        col = (w - label_w) / hours
        fit(
            c,
            f"Plan d'administration du {local(start)} au {local(start + timedelta(hours=hours))} "
            "— case prévue : initiales + heure réelle, ou NF + motif "
            "(R refus, A absent, J à jeun, S suspendu, X autre)",
            M,
            y,
            w,
            8,
            BOLD,
        )
        y -= 4
        c.setFillColor(GREY)
        c.rect(M, y - row_h, w, row_h, stroke=1, fill=1)
        c.setFillColor(black)
        fit(c, "Ligne / médicament", M + 3, y - 12, label_w - 6, 8, BOLD)
        for h in range(hours):
            fit(
                c,
                local(start + timedelta(hours=h), "%Hh"),
                M + label_w + h * col + 2,
                y - 12,
                col - 3,
                7.5,
                BOLD,
            )
        c.rect(M, y - row_h * (n + 1), w, row_h * n, stroke=1, fill=0)
        for k in range(2, n + 1):
            c.line(M, y - row_h * k, M + w, y - row_h * k)
        for h in range(hours):
            x = M + label_w + h * col
            c.line(x, y, x, y - row_h * (n + 1))

    def blank(self, form: Form) -> None:
        w = PORTRAIT[0] - 2 * M
        y = self.page(PORTRAIT, FORM_TITLES[form.form_type], form) - 54
        # the body of a blank form is the same on every copy: only the serial, QR and identity differ
        self.static(("blank", form.form_type), lambda: getattr(self, f"_blank_{form.form_type}")(y, w))
        if form.provisional_id:
            fit(
                self.c,
                f"Identité provisoire pré-attribuée : {form.provisional_id}",
                M + 8,
                y - 18,
                w - 16,
                14,
                BOLD,
            )

    def _blank_prescription(self, y: float, w: float) -> None:
        y = self.blank_ident(y, w - 0)
        cols = (150, 50, 50, 55, 95, 60, w - 460)
        head = ("Médicament (DCI)", "Dose", "Unité", "Voie", "Fréquence / heures", "Début", "Prescripteur")
        y = self.table(M, y - 4, cols, head, [[""] * 7 for _ in range(14)], row_h=26)
        fit(
            self.c,
            "Écrire l'unité en toutes lettres (milligramme, unité internationale…). Date, heure, nom, "
            "signature du prescripteur obligatoires.",
            M,
            y - 14,
            w,
            8.5,
        )

    def _blank_administration(self, y: float, w: float) -> None:
        y = self.blank_ident(y, w)
        cols = (78, 140, 70, 50, 55, 70, w - 463)
        head = (
            "Date / heure",
            "Médicament ou soin",
            "Dose + unité",
            "Voie",
            "Fait / NF",
            "Motif si NF",
            "IDE (initiales)",
        )
        self.table(M, y - 4, cols, head, [[""] * 7 for _ in range(22)], row_h=24)

    def _blank_admission(self, y: float, w: float) -> None:
        c = self.c
        c.setFillColor(LIGHT)
        c.rect(M, y - 40, w, 38, stroke=1, fill=1)
        c.setFillColor(black)
        fit(
            c,
            "À reporter sur chaque feuille du patient ; "
            "rapprochée de l'identité qualifiée (INS) au retour du système.",
            M + 8,
            y - 33,
            w - 16,
            8.5,
        )
        y -= 52
        fields = (
            "Nom de naissance",
            "Premier prénom de naissance",
            "Nom utilisé",
            "Date de naissance",
            "Sexe (F / M)",
            "Commune de naissance (code INSEE)",
            "Date et heure d'entrée",
            "Unité / chambre / lit",
            "Médecin responsable",
            "Motif d'admission",
            "Allergies connues",
            "Personne à prévenir (tél.)",
            "Pièce d'identité vérifiée (type, n°)",
            "Agent d'admission (nom, signature)",
        )
        self.table(M, y, (210, w - 210), ("Rubrique", "À remplir"), [[f, ""] for f in fields], row_h=30)

    def _blank_lab(self, y: float, w: float) -> None:
        c = self.c
        y = self.blank_ident(y, w)
        tests = (
            "NFS - plaquettes",
            "Ionogramme sanguin",
            "Créatinine",
            "CRP",
            "TP / INR",
            "TCA",
            "Glycémie",
            "Troponine",
            "Gaz du sang",
            "Hémocultures",
            "ECBU",
            "Groupe sanguin + RAI",
            "Bilan hépatique",
            "Lactates",
            "BNP / NT-proBNP",
            "Autre : ____________",
        )
        fit(c, "Examens demandés (cocher) :", M, y - 14, w, 10, BOLD)
        y -= 22
        for i, t in enumerate(tests):
            x = M + (i % 2) * (w / 2)
            yy = y - (i // 2) * 20
            c.rect(x, yy - 10, 10, 10, stroke=1, fill=0)
            fit(c, t, x + 16, yy - 9, w / 2 - 20, 10)
        y -= 20 * ((len(tests) + 1) // 2) + 10
        rows = [
            ["Urgent (oui / non)", ""],
            ["Date et heure du prélèvement", ""],
            ["Préleveur (nom, signature)", ""],
            ["Prescripteur (nom, signature)", ""],
            ["Résultats transmis à (tél. de l'unité)", ""],
        ]
        self.table(M, y, (210, w - 210), ("Rubrique", "À remplir"), rows, row_h=28)

    def save(self) -> None:
        self.c.showPage()
        self.c.save()


def render_unit(plan: KitPlan, unit: UnitKit, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"kit-{plan.establishment.id}-{plan.number}-{ascii_name(unit.name)}.pdf"
    with binary_streams():
        writer = KitWriter(plan, unit, path)
        writer.cover()
        writer.census()
        for p in unit.patients:
            writer.patient(p, unit.mars[p.id])
        for form in unit.blanks:
            writer.blank(form)
        writer.save()
    return path


def render_kit(plan: KitPlan, out_dir: Path) -> list[Path]:
    return [render_unit(plan, unit, out_dir) for unit in plan.units]
