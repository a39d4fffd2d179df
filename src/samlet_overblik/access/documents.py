"""Documents people take away: a title, a few lines of introduction and sections of tables, as PDF (fpdf2, A4
landscape, document language Danish) or CSV (semicolon-separated, UTF-8 with a byte-order mark: what Danish
spreadsheets open). The right-of-access report and the coordination meeting's print are built as one."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    empty: str
    widths: tuple[int, ...]  # the columns' relative widths on the PDF page


@dataclass(frozen=True)
class Document:
    title: str
    intro: str
    made_at: datetime
    sections: tuple[Section, ...]


def as_csv(doc: Document) -> bytes:
    """One table: each section's rows under its own header row, the section's title in the first column."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow([doc.title, doc.intro])
    for section in doc.sections:
        w.writerow([])
        w.writerow(["Afsnit", *section.columns])
        for row in section.rows:
            w.writerow([section.title, *row])
        if not section.rows:
            w.writerow([section.title, section.empty])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# The PDF's core font covers Latin-1 (æ, ø, å included); the few other characters used are written plainly.
_PLAIN = str.maketrans({"–": "-", "—": "-", "…": "...", "→": "->", "•": "-", "\u00a0": " "})


def _latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def as_pdf(doc: Document) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_lang("da")
    pdf.set_title(_latin1(doc.title))
    pdf.set_author("Samlet overblik")
    pdf.set_creation_date(doc.made_at)
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(doc.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, _latin1(doc.intro), new_x="LMARGIN", new_y="NEXT")
    for section in doc.sections:
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, _latin1(section.title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        if not section.rows:
            pdf.cell(0, 6, _latin1(section.empty), new_x="LMARGIN", new_y="NEXT")
            continue
        with pdf.table(headings_style=FontFace(emphasis="BOLD"), line_height=3.6, repeat_headings=1,
                       col_widths=section.widths) as table:
            table.row([_latin1(c) for c in section.columns])
            for row in section.rows:
                table.row([_latin1(c) for c in row])
    return bytes(pdf.output())


FORMATS = ("pdf", "csv")


def render(doc: Document, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"ukendt format {fmt!r} (vælg {' eller '.join(FORMATS)})")
    return as_pdf(doc) if fmt == "pdf" else as_csv(doc)
