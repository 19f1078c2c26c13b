"""The document a report is built as: HTML and PDF carry the same text, a figure included."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tensctl.errors import UsageError
from tensctl.journal.clock import local_text
from tensctl.journal.document import (
    Document,
    Fields,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_html,
    write_document,
)

pytest.importorskip("fpdf")
matplotlib_figure = pytest.importorskip("matplotlib.figure")
pypdf = pytest.importorskip("pypdf")


def _document() -> Document:
    fig = matplotlib_figure.Figure(figsize=(8, 3))
    axes = fig.add_subplot()
    axes.plot([0, 1], [0, 2], label="channel 1 <b>")
    axes.legend()
    return Document(
        "Session 3 — conventional-hf",
        "patient P-1 · 30 min",
        banner="SIMULATED",
        created_utc="2026-12-03T18:40:00+00:00",
    ).add(
        Fields([("patient", "P-1"), ("pulse width", "200 µs")]),
        Heading("Titration"),
        Table(["channel", "ST", "N"], [["1", "3 mA", "14 mA"]]),
        Paragraph("pain fell 40 % (≥ 30 %: a responder)", "alert"),
        Figure(fig, "delivered → target"),
        Heading("Notes"),
        Table(["when", "note"], [], empty="no notes"),
    )


def test_the_page_is_self_contained_and_escapes_what_it_shows() -> None:
    page = to_html(_document())
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<?xml" not in page
    assert "channel 1 &lt;b&gt;" in page  # figure text stays text, escaped
    assert page.index("SIMULATED") < page.index("<h1>") < page.index("Titration")
    assert "200 µs" in page and "no notes" in page and "src=" not in page


def test_the_pdf_is_a4_and_has_every_block_in_order(tmp_path: Path) -> None:
    path = write_document(_document(), tmp_path / "r.pdf")
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    text = page.extract_text()
    order = ["SIMULATED", "Session 3 — conventional-hf", "200 µs", "Titration", "14 mA"]
    order += ["≥ 30 %", "delivered → target", "no notes", "page 1 of 1"]
    positions = [text.index(t) for t in order]
    assert positions == sorted(positions)


def test_the_same_document_gives_the_same_pdf(tmp_path: Path) -> None:
    first = write_document(_document(), tmp_path / "a.pdf").read_bytes()
    assert write_document(_document(), tmp_path / "b.pdf").read_bytes() == first


def test_an_unknown_suffix_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot write '\.docx'; use \.html, \.pdf"):
        write_document(_document(), tmp_path / "r.docx")
    assert not (tmp_path / "r.docx").exists()


@pytest.fixture
def berlin() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_a_stored_utc_stamp_reads_in_local_time_with_its_zone(berlin: None) -> None:
    assert local_text("2026-07-01T10:00:00.123456+00:00") == "2026-07-01 12:00 CEST"
    assert local_text("2026-12-01T10:00:00+00:00", seconds=True) == "2026-12-01 11:00:00 CET"
    assert local_text("2026-12-01T23:30:00+00:00", date_only=True) == "2026-12-02"
    assert local_text(None) == "—" and local_text("not a time") == "not a time"
