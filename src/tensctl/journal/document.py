"""A report as a document: headings, paragraphs, label–value fields, tables and figures,
written as one self-contained HTML page or as a PDF for printing on A4.

The session report and a patient's course are both built as a :class:`Document` and written
by :func:`write_document`; neither knows HTML or PDF. Figures are matplotlib figures, drawn
without pyplot: inline SVG in the page (its text stays text), vector SVG in the PDF.

The PDF is written with fpdf2: pure Python (no system libraries, unlike WeasyPrint's Pango
and Cairo), maintained by the py-pdf organisation, and it places matplotlib's SVG as vector
graphics, so a printed plot stays sharp. Text is set in DejaVu Sans, the font matplotlib
ships, which has every character a record uses (µ, →, —, ≥).
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tensctl.errors import InputError, MissingExtra, Problem, UsageError

if TYPE_CHECKING:
    from fpdf import FPDF
    from matplotlib.figure import Figure as MplFigure

Tone = Literal["normal", "muted", "alert"]
SUFFIXES = (".html", ".pdf")
PLOT_DPI = 100


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    tone: Tone = "normal"


@dataclass(frozen=True)
class Fields:
    """Label–value pairs, one per line (who, what, when)."""

    rows: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    empty: str = "none recorded"


@dataclass(frozen=True)
class Figure:
    figure: MplFigure
    caption: str = ""


Block = Heading | Paragraph | Fields | Table | Figure


@dataclass
class Document:
    title: str
    subtitle: str = ""
    banner: str = ""  # shown above everything in alert colour, e.g. SIMULATED; a line each
    created_utc: str = ""  # the PDF's creation date (the record's time: same record, same bytes)
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


def write_document(document: Document, path: Path) -> Path:
    """Write ``document`` to ``path`` as HTML or PDF, by its suffix. Returns ``path``."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in SUFFIXES:
        raise UsageError(f"{path}: cannot write '{path.suffix}'; use {', '.join(SUFFIXES)}")
    try:
        if kind == ".html":
            path.write_text(to_html(document), encoding="utf-8")
        else:
            path.write_bytes(to_pdf(document))
    except OSError as exc:
        raise InputError([Problem(f"cannot write: {exc.strerror}", str(path))]) from None
    return path


def figure_svg(figure: MplFigure, text_as_text: bool = True) -> str:
    """The figure as SVG without its XML prolog; with ``text_as_text`` its text stays
    searchable text (for the page), otherwise it is drawn as paths (for the PDF)."""
    import matplotlib

    buffer = io.StringIO()
    fonttype = "none" if text_as_text else "path"
    with matplotlib.rc_context({"svg.fonttype": fonttype}):
        figure.savefig(buffer, format="svg", dpi=PLOT_DPI, metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


# ---- HTML -----------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em auto;max-width:60em;"
    "color:#222;line-height:1.4}h1{font-size:1.5em;margin-bottom:.2em}"
    "h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ccc}"
    ".subtitle{color:#555;margin-top:0}.banner{background:#b00020;color:#fff;"
    "font-weight:bold;padding:.4em .8em;letter-spacing:.05em}.muted{color:#666}"
    ".alert{color:#b00020;font-weight:bold}table{border-collapse:collapse;margin:.4em 0 1em}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#eee}table.fields th{background:none;border:none;padding-left:0;"
    "font-weight:normal;color:#555}table.fields td{border:none}"
    "figure{margin:1em 0}figcaption{color:#555;font-size:.9em}svg{max-width:100%;height:auto}"
    "@media print{body{margin:0;max-width:none}h2{break-after:avoid}"
    "figure,table{break-inside:avoid}}"
)


def _esc(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h2>{_esc(block.text)}</h2>"
    if isinstance(block, Paragraph):
        cls = f' class="{block.tone}"' if block.tone != "normal" else ""
        return f"<p{cls}>{_esc(block.text)}</p>"
    if isinstance(block, Fields):
        rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in block.rows)
        return f'<table class="fields">{rows}</table>'
    if isinstance(block, Table):
        head = "".join(f"<th>{_esc(c)}</th>" for c in block.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in block.rows
        )
        if not block.rows:
            span = len(block.columns)
            body = f'<tr><td colspan="{span}" class="muted">{_esc(block.empty)}</td></tr>'
        return f"<table><tr>{head}</tr>{body}</table>"
    caption = f"<figcaption>{_esc(block.caption)}</figcaption>" if block.caption else ""
    return f"<figure>{figure_svg(block.figure)}{caption}</figure>"


def to_html(document: Document) -> str:
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(document.title)}</title><style>{_STYLE}</style></head><body>",
    ]
    for line in filter(None, document.banner.split("\n")):
        parts.append(f'<div class="banner">{_esc(line)}</div>')
    parts.append(f"<h1>{_esc(document.title)}</h1>")
    if document.subtitle:
        parts.append(f'<p class="subtitle">{_esc(document.subtitle)}</p>')
    parts.extend(_html_block(b) for b in document.blocks)
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---- PDF ------------------------------------------------------------------------------------

_FONT = "DejaVu"
_GREY, _RED, _BLACK = (90, 90, 90), (176, 0, 32), (34, 34, 34)


def _pdf(document: Document) -> FPDF:
    try:
        import matplotlib
        from fpdf import FPDF
    except ImportError:
        raise MissingExtra(
            "PDF reports need fpdf2 and matplotlib: install the plot extra, "
            "e.g. pip install 'tensctl[plot]'"
        ) from None
    logging.getLogger("fpdf").setLevel(logging.ERROR)  # "unsupported SVG tag <metadata>"
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

    class Pages(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(_FONT, size=7)
            self.set_text_color(*_GREY)
            self.cell(0, 5, f"{document.title} — page {self.page_no()} of {{nb}}", align="C")

    pdf = Pages(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(document.title)
    pdf.set_creator("tensctl")
    if document.created_utc:
        pdf.set_creation_date(datetime.fromisoformat(document.created_utc))
    pdf.add_font(_FONT, "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font(_FONT, "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_margins(15, 15, 15)
    return pdf


def _line(
    pdf: FPDF, text: str, size: float, bold: bool = False, colour: tuple[int, ...] = _BLACK
) -> None:
    pdf.set_font(_FONT, "B" if bold else "", size=size)
    pdf.set_text_color(*colour)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")


def _column_weights(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[int, ...]:
    """Relative column widths from what the columns hold: at least the longest word of each
    (so no word is split across lines, as "threshol/ds" was with equal widths), at most a
    short sentence's worth."""
    weights = []
    for i, name in enumerate(columns):
        texts = [str(name)] + [str(r[i]) for r in rows if i < len(r)]
        longest_word = max((len(w) for t in texts for w in t.split()), default=1)
        widest = max(len(t) for t in texts)
        weights.append(max(longest_word, min(widest, 36)) + 2)
    return tuple(weights)


def _pdf_table(
    pdf: FPDF, columns: Sequence[str], rows: Sequence[Sequence[str]], head: bool
) -> None:
    from fpdf.fonts import FontFace

    pdf.set_font(_FONT, size=8)
    pdf.set_text_color(*_BLACK)
    style = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
    layout = "MINIMAL" if head else "NONE"
    with pdf.table(
        headings_style=style,
        first_row_as_headings=head,
        text_align="LEFT",
        borders_layout=layout,
        line_height=4.2,
        padding=1,
        width=pdf.epw,
        col_widths=_column_weights(columns, rows) if head else (1, 3),
    ) as table:
        for cells in ([columns] if head else []) + [list(r) for r in rows]:
            row = table.row()
            for cell in cells:
                row.cell(cell)
    pdf.ln(2)


def _figure_mm(pdf: FPDF, block: Figure) -> float:
    """The height a figure takes on the page, drawn across its width."""
    width_in, height_in = block.figure.get_size_inches()
    return float(pdf.epw * height_in / width_in)


def to_pdf(document: Document) -> bytes:
    pdf = _pdf(document)
    pdf.add_page()
    if document.banner:
        pdf.set_fill_color(*_RED)
        pdf.set_text_color(255, 255, 255)
        pdf.set_font(_FONT, "B", size=10)
        for line in filter(None, document.banner.split("\n")):
            pdf.multi_cell(0, 7, f" {line}", fill=True, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        pdf.set_fill_color(255, 255, 255)
        pdf.ln(1)
    _line(pdf, document.title, 15, bold=True)
    if document.subtitle:
        _line(pdf, document.subtitle, 9, colour=_GREY)
    for i, block in enumerate(document.blocks):
        if isinstance(block, Heading):
            after = document.blocks[i + 1] if i + 1 < len(document.blocks) else None
            keep_mm = 30 + (_figure_mm(pdf, after) if isinstance(after, Figure) else 0)
            if pdf.will_page_break(min(keep_mm, pdf.eph - 30)):  # a heading stays with its
                pdf.add_page()  # figure: never alone at the foot of a page
            pdf.ln(3)
            _line(pdf, block.text, 11, bold=True)
            pdf.set_draw_color(200, 200, 200)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
            pdf.ln(1.5)
        elif isinstance(block, Paragraph):
            colour = {"normal": _BLACK, "muted": _GREY, "alert": _RED}[block.tone]
            _line(pdf, block.text, 9, bold=block.tone == "alert", colour=colour)
            pdf.ln(1)
        elif isinstance(block, Fields):
            _pdf_table(pdf, ("", ""), [list(r) for r in block.rows], head=False)
        elif isinstance(block, Table):
            if block.rows:
                _pdf_table(pdf, block.columns, block.rows, head=True)
            else:
                _line(pdf, block.empty, 9, colour=_GREY)
        else:
            if pdf.will_page_break(_figure_mm(pdf, block)):
                pdf.add_page()
            svg = figure_svg(block.figure, text_as_text=False)
            pdf.set_fill_color(0, 0, 0)  # what the SVG does not colour itself is black
            pdf.image(io.BytesIO(svg.encode("utf-8")), w=pdf.epw)
            pdf.set_fill_color(255, 255, 255)
            if block.caption:
                _line(pdf, block.caption, 8, colour=_GREY)
            pdf.ln(2)
    return bytes(pdf.output())
