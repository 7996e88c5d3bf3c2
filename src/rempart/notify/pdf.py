"""Drafts as PDF (ReportLab): the form rows become a ruled two-column table, like the paper annex."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from rempart.notify.fields import TO_COMPLETE
from rempart.pdffonts import a4_document, fonts

FONT, BOLD = fonts()
UNICODE = FONT == "DejaVuSans"

S_TITLE = ParagraphStyle("title", fontName=BOLD, fontSize=14, leading=17, spaceAfter=4 * mm)
S_HEAD = ParagraphStyle("head", fontName=BOLD, fontSize=10.5, leading=13, textColor=colors.white)
S_BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11.5, spaceAfter=2 * mm)
S_LABEL = ParagraphStyle("label", fontName=BOLD, fontSize=8.5, leading=10.5)
S_VALUE = ParagraphStyle("value", fontName=FONT, fontSize=8.5, leading=10.5)
S_SMALL = ParagraphStyle("small", fontName=FONT, fontSize=7, leading=9, textColor=colors.grey)
S_BANNER = ParagraphStyle(
    "banner", fontName=BOLD, fontSize=11, leading=14, textColor=colors.white, alignment=1
)
NAVY = colors.HexColor("#1f3a5f")
PAGE_W = A4[0] - 30 * mm


def _box(text: str) -> str:
    if text.startswith("[x] "):
        return ("☒ " if UNICODE else "[X] ") + text[4:]
    if text.startswith("[ ] "):
        return ("☐ " if UNICODE else "[ ] ") + text[4:]
    return text


def _value(lines: list[str]) -> Paragraph:
    def one(line: str) -> str:
        text = escape(_box(line))
        # what is still to be completed stands out on paper
        return f'<font color="#b3261e">{text}</font>' if line.startswith(TO_COMPLETE) else text

    return Paragraph("<br/>".join(one(line) for line in lines) or "&nbsp;", S_VALUE)


def _table(rows: list[tuple[str, list[str]]]) -> Table:
    data = [[Paragraph(escape(label), S_LABEL), _value(value)] for label, value in rows]
    t = Table(data, colWidths=[52 * mm, PAGE_W - 52 * mm])
    t.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#8a96a8")),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef1f5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                # empty rows are for handwriting (signature): give them room
                *[("BOTTOMPADDING", (1, i), (1, i), 18) for i, (_, v) in enumerate(rows) if not any(v)],
            ]
        )
    )
    return t


def _bar(text: str, style: ParagraphStyle, color: Any) -> Table:
    t = Table([[Paragraph(escape(text), style)]], colWidths=[PAGE_W])
    t.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), color),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return t


def _line(line: str) -> list[Flowable]:
    if line.startswith("! "):
        return [_bar(line[2:], S_BANNER, colors.HexColor("#b3261e")), Spacer(1, 3 * mm)]
    if line.startswith("## "):
        bar = _bar(line[3:], S_HEAD, NAVY)
        bar.keepWithNext = True  # never a section heading alone at the foot of a page
        return [Spacer(1, 2 * mm), bar]
    if line.startswith("# "):
        return [Paragraph(escape(line[2:]), S_TITLE)]
    if line.startswith("- "):
        return [Paragraph("• " + escape(line[2:]), S_VALUE)]
    if line.startswith("~ "):
        return [Spacer(1, 3 * mm), Paragraph(escape(line[2:]), S_SMALL)]
    return []


def markup_to_flowables(markup: str) -> list[Flowable]:
    story: list[Flowable] = []
    rows: list[tuple[str, list[str]]] = []
    para: list[str] = []

    def flush() -> None:
        if rows:
            story.append(_table(list(rows)))
            story.append(Spacer(1, 2 * mm))
            rows.clear()
        if para:
            story.append(Paragraph(escape(" ".join(para)), S_BODY))
            para.clear()

    for line in markup.splitlines():
        if line.startswith("  | ") and rows:
            rows[-1][1].append(line[4:])
            continue
        if " :: " in line or line.endswith(" ::"):
            if para:
                flush()
            label, _, value = line.partition(" ::")
            rows.append((label, [value.strip()] if value.strip() else []))
            continue
        if line.strip() and not line.startswith(("! ", "# ", "## ", "- ", "~ ")):
            para.append(line.strip())
            continue
        flush()
        story += _line(line)
    flush()
    return story


def write_pdf(markup: str, path: Path, title: str, exercise: bool) -> Path:
    """Write the draft; an exercise draft carries "EXERCICE" in every page's header too."""

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(15 * mm, 10 * mm, title[:110])
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"page {doc.page}")
        if exercise:
            canvas.setFont(BOLD, 10)
            canvas.setFillColor(colors.HexColor("#b3261e"))
            canvas.drawCentredString(A4[0] / 2, A4[1] - 9 * mm, "EXERCICE")
        canvas.restoreState()

    doc = a4_document(path, title, bottom_margin_mm=16)  # room for the footer drawn by decorate
    doc.build(markup_to_flowables(markup), onFirstPage=decorate, onLaterPages=decorate)
    return path
