"""Drawing primitives shared by the kits and the reconciliation report: page geometry, text that never
overflows its cell, QR codes, French local times.

ReportLab's canvas is used directly (no layout engine): a group's kits are tens of thousands of pages.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from reportlab import rl_config
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.pdfbase.pdfmetrics import getFont, stringWidth, unicode2T1
from reportlab.pdfgen.canvas import Canvas

from rempart import pdffonts
from rempart.continuity import qrcode
from rempart.continuity.census import PARIS

PORTRAIT = A4
LANDSCAPE = landscape(A4)
M = 28.0  # margin
GREY = Color(0.85, 0.85, 0.85)
LIGHT = Color(0.95, 0.95, 0.95)
RED = Color(0.75, 0.0, 0.0)
FONT, BOLD = "Helvetica", "Helvetica-Bold"


@contextmanager
def binary_streams() -> Iterator[None]:
    """Compressed page streams left binary while a kit is drawn: ASCII85 only makes them larger and slower.

    ReportLab reads this from its global configuration, so it is set for the kit and put back after."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def ascii_name(text: str) -> str:
    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", flat).strip("-").lower() or "unite"


@functools.lru_cache(maxsize=1024)
def local(dt: datetime, fmt: str = "%d/%m/%Y %H:%M") -> str:
    # cached: a kit prints the same few dozen planned times on every MAR
    return dt.astimezone(PARIS).strftime(fmt)


@functools.lru_cache(maxsize=8192)
def standard_shows(text: str) -> bool:
    """Whether Helvetica shows every character of `text`: WinAnsi, plus what ReportLab takes from its Symbol
    and ZapfDingbats stand-ins. Any other character ReportLab prints as a black square: a patient named
    Łukasz Dvořák would read "■ukasz DVO■ÁK" on the kit, a wrong identity on paper."""
    try:
        text.encode("cp1252")
        return True
    except UnicodeEncodeError:
        pass
    base = getFont(FONT)
    return not any(
        used.fontName == "ZapfDingbats" and b"n" in raw  # ReportLab's stand-in for a missing glyph
        for used, raw in unicode2T1(text, [base, *base.substitutionFonts])
    )


def font_for(text: str, font: str) -> str:
    """The font that shows `text`: the standard one (not embedded, fast) when it can, else DejaVu Sans,
    embedded (Latin Extended, Greek, Cyrillic, Arabic…). Without DejaVu installed, the standard one."""
    if font not in (FONT, BOLD) or standard_shows(text):
        return font  # already an embedded font (or one the caller chose), or no need for one
    regular, bold = pdffonts.fonts()
    if regular == FONT:
        return font
    return bold if font == BOLD else regular


# letters NFKD does not split into a base letter and an accent
_FOLD = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ŧ": "T", "ŧ": "t"}
)


def winansi_fold(text: str) -> str:
    """The closest spelling Helvetica can print, for when no embedded font is installed: accents WinAnsi
    lacks dropped ("Dvořák" → "Dvorák", "Ștefan" → "Stefan"), "Ł" → "L"; anything else becomes "?", which
    a nurse sees as unreadable rather than misreads, as she would a black square."""
    out = []
    for ch in text:
        if standard_shows(ch):
            out.append(ch)
            continue
        split = unicodedata.normalize("NFKD", ch.translate(_FOLD))
        base = "".join(c for c in split if not unicodedata.combining(c))
        out.append(base if base and standard_shows(base) else "?")
    return "".join(out)


def printable(text: str, font: str) -> tuple[str, str]:
    """(text, font) to draw: the font that shows the text (:func:`font_for`), else the text folded."""
    font = font_for(text, font)
    if not getFont(font)._dynamicFont and not standard_shows(text):
        text = winansi_fold(text)
    return text, font


def fitted(text: str, width: float, size: float, font: str) -> tuple[str, float]:
    """Text and size that fit the width: shrunk down to 6 pt, then cut with '…' (never overflowing a cell)."""
    if len(text) * size < width:  # no glyph of these fonts is wider than 1 em: it fits as it is
        return text, size
    w = stringWidth(text, font, size)
    while w > width and size > 6:
        size -= 0.5
        w = stringWidth(text, font, size)
    while w > width and len(text) > 2:
        text = text[:-2] + "…"
        w = stringWidth(text, font, size)
    return text, size


@functools.lru_cache(maxsize=8192)
def _shown(font: str, text: str) -> tuple[tuple[str | None, str], ...]:
    """The text as PDF string operators, as ReportLab's text object writes them: encoded for the font
    (WinAnsi for the standard fonts), with ReportLab's substitution fonts for the characters it lacks.

    Returns (font switched to, or None for ``font``; operator) pairs. Cells repeat a lot (drugs, doses,
    routes, times), hence the cache."""
    base = getFont(font)
    out: list[tuple[str | None, str]] = []
    for used, raw in unicode2T1(text, [base, *base.substitutionFonts]):
        out.append((None if used is base else used.fontName, f"({escapePDF(raw)}) Tj"))
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def _origin(x: float, y: float) -> str:
    # the same table cells on every page: a few thousand distinct positions in a whole kit
    return f"1 0 0 1 {fp_str(x, y)} Tm"


class TextBlock:
    """Strings drawn as raw PDF operators in one BT…ET block (``draw``).

    ReportLab's text object measures every string to advance its cursor and re-encodes it each time: a
    kit draws a few hundred thousand strings, each positioned on its own, so that work is skipped."""

    def __init__(self, c: Canvas) -> None:
        self.c = c
        self.ops: list[str] = ["BT"]
        self.current: tuple[str, float] | None = None

    def _font(self, font: str, size: float) -> None:
        self.ops.append(f"{self.c._doc.getInternalFontName(font)} {fp_str(size)} Tf")
        self.current = (font, size)

    def show(self, text: str, x: float, y: float, size: float = 9, font: str = FONT) -> None:
        text, font = printable(text, font)
        if getFont(font)._dynamicFont:
            self._show_embedded(text, x, y, size, font)
            return
        if (font, size) != self.current:
            self._font(font, size)
        self.ops.append(_origin(x, y))
        for switched, op in _shown(font, text):
            if switched is None:
                if self.current != (font, size):
                    self._font(font, size)
            else:
                self._font(switched, size)
            self.ops.append(op)

    def _show_embedded(self, text: str, x: float, y: float, size: float, font: str) -> None:
        """A TrueType font, as ReportLab's text object writes it: one subset font per 256 glyphs used."""
        ttf = getFont(font)
        doc = self.c._doc
        self.ops.append(_origin(x, y))
        for subset, chunk in ttf.splitString(text, doc):
            name = ttf.getSubsetInternalName(subset, doc)
            self.ops.append(f"{name} {fp_str(size)} Tf ({escapePDF(chunk)}) Tj")
        self.current = None  # the next standard string sets its font again

    def fit(
        self,
        text: str,
        x: float,
        y: float,
        width: float,
        size: float = 9,
        font: str = FONT,
        right: bool = False,
    ) -> None:
        text, font = printable(text, font)
        text, size = fitted(text, width, size, font)
        if right:
            x += width - stringWidth(text, font, size)
        self.show(text, x, y, size, font)

    def draw(self) -> None:
        if len(self.ops) > 1:
            self.ops.append("ET")
            self.c.addLiteral(" ".join(self.ops))
        self.ops, self.current = ["BT"], None


def fit(
    c: Canvas,
    text: str,
    x: float,
    y: float,
    width: float,
    size: float = 9,
    font: str = FONT,
    right: bool = False,
) -> None:
    block = TextBlock(c)
    block.fit(text, x, y, width, size, font, right)
    block.draw()


QUIET = 2  # modules of white around the code: half the standard 4, the page around it is white too


def qr(c: Canvas, payload: str, x: float, y: float, size: float) -> None:
    """A QR code on a white square: its modules as an inline 1-bit image mask painted black.

    A few hundred codes a kit: as an image, a code is about 300 bytes of page content and 15 µs to write
    once encoded, where rectangles for its dark runs were 2.6 kB and 150 µs. Without /Interpolate an image
    mask keeps the modules' edges sharp (poppler at 80 and 400 dpi: the modules read back exactly).
    q…Q leaves the canvas's colour and transform as ReportLab believes them to be."""
    symbol = qrcode.modules(payload)
    n = symbol.size
    cell = size / (n + 2 * QUIET)
    side = n * cell
    c.addLiteral(
        f"q 1 g {fp_str(x, y, size, size)} re f 0 g {fp_str(side)} 0 0 {fp_str(side)} "
        f"{fp_str(x + QUIET * cell, y + QUIET * cell)} cm\n"
        # 1 = dark module = painted (/D [1 0]); the image's first row is at the top of its square
        f"BI /IM true /W {n} /H {n} /BPC 1 /D [1 0] /F /AHx ID\n{symbol.packed().hex()}> EI Q"
    )
