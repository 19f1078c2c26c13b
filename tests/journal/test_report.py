"""Session reports (PNG, SVG, HTML) rendered from real records of simulated sessions: images
of the right size that are not blank, SVG that parses and keeps its text, a self-contained
HTML page with escaped tables, the marks of faults and stops, and the refusals."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import tensctl
from tensctl.errors import InputError, MissingExtra, SafetyRefused, UsageError
from tensctl.journal.dose import delivered_dose
from tensctl.journal.report import render_report
from tensctl.journal.store import Store

pytest.importorskip("matplotlib")
import numpy as np
from matplotlib.image import imread

SVG = "{http://www.w3.org/2000/svg}"
BLUE = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's C0: channel 1's line
Record = tuple[dict[str, Any], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Record]:
    """One store with a completed, a faulted, a stopped and a refused session."""
    db = tmp_path_factory.mktemp("report") / "s.sqlite3"
    ids: dict[str, int | None] = {}
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        before = {"pain_rest": 5, "pain_movement": 7, "fatigue": 3}
        with dev.session(
            "brief-intense", patient="P-1", intensity=15, screened=True, outcomes_before=before
        ) as s:
            s.run_for(60)
            s.adjust(1, -2)
            s.run()
            s.record_outcomes(after={"pain_rest": 2, "pain_movement": 4, "fatigue": 3})
            ids["completed"] = s.record_id
        with dev.session("fast-fibromyalgia", patient="P-2", intensity=12, screened=True) as s:
            s.run_for(20)
            s.fault("electrode_off", "channel 1 impedance above 10 kOhm")
            s.run()
            ids["fault"] = s.record_id
        with dev.session("mixed-4-100", patient="P-3", intensity=12, screened=True) as s:
            s.run_for(20)
            s.emergency_stop("patient asked")
            ids["stopped"] = s.record_id
        with pytest.raises(SafetyRefused):
            dev.session("brief-intense", patient="P-4", intensity=15, screened=False)
    with Store(db) as store:
        ids["refused"] = store.sessions()[-1]["id"]
        assert None not in ids.values()
        return {name: (store.session(i), store.events(i)) for name, i in ids.items() if i}


def render(records: dict[str, Record], name: str, path: Path) -> Path:
    header, events = records[name]
    assert render_report(header, events, path) == path
    return path


def pixels(path: Path) -> Any:
    image = imread(path)
    assert image.shape[:2] == (600, 1000)  # 10 x 6 in at 100 dpi
    return image[..., :3]


def svg_text(path: Path) -> tuple[ET.Element, str]:
    root = ET.parse(path).getroot()
    return root, " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


class Tables(HTMLParser):
    """The cells of each <table>, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_png_has_its_size_and_shows_the_delivered_amplitude(
    records: dict[str, Record], tmp_path: Path
) -> None:
    rgb = pixels(render(records, "completed", tmp_path / "r.png"))
    assert rgb.std() > 0.05
    assert (rgb < 0.9).any(axis=-1).mean() > 0.03  # not a blank page
    blue = (np.abs(rgb - BLUE).max(axis=-1) < 0.08).sum()
    assert blue > 500  # channel 1's amplitude over 15 minutes
    red = ((rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum()
    assert red < 20  # no fault, no stop


def test_svg_parses_and_keeps_its_text(records: dict[str, Record], tmp_path: Path) -> None:
    root, text = svg_text(render(records, "completed", tmp_path / "r.svg"))
    assert root.tag == f"{SVG}svg"
    assert float(root.attrib["width"].removesuffix("pt")) > 0
    assert float(root.attrib["height"].removesuffix("pt")) > 0
    assert len(list(root.iter(f"{SVG}path"))) > 20
    header = records["completed"][0]
    assert f"Session {header['id']} — Brief-intense TENS" in text
    assert "patient P-1" in text and "ended: completed" in text
    assert "stimulation" in text  # the phase
    assert "ch 1: 15→13 mA" in text  # the adjustment
    assert "session time (min)" in text and "channel 1" in text
    assert "fault:" not in text and "stop:" not in text


def test_html_is_self_contained_with_dose_and_outcomes(
    records: dict[str, Record], tmp_path: Path
) -> None:
    header, events = records["completed"]
    page = render(records, "completed", tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Brief-intense TENS" in page
    for external in ("<script", "<img", "<link", "<iframe"):
        assert external not in page
    inline = page[page.index("<svg") : page.index("</svg>") + len("</svg>")]
    assert ET.fromstring(inline).tag == f"{SVG}svg"
    parser = Tables()
    parser.feed(page)
    dose, outcomes, record = parser.tables
    (expected,) = delivered_dose(events)
    assert dose[0][:4] == ["channel", "stimulated (min)", "mean (mA)", "peak (mA)"]
    row = dose[1]
    assert row[0] == "1" and float(row[3]) == pytest.approx(expected.peak_ma, abs=0.01)
    assert float(row[3]) == pytest.approx(15.0, abs=0.2) and float(row[2]) < float(row[3])
    assert float(row[1]) == pytest.approx(15.0, abs=0.3)  # 15 minutes of stimulation
    assert int(row[6]) == expected.pulses > 0
    measured = {r[0]: r[1:] for r in outcomes[1:]}
    assert measured["pain at rest (0–10)"] == ["5", "2"]
    assert measured["pain on movement (0–10)"] == ["7", "4"]
    assert measured["fatigue (0–10)"] == ["3", "3"]
    assert measured["adverse events"] == ["none", "none"]
    fields = dict(record[1:])
    assert fields["protocol_id"] == "brief-intense" and fields["end_reason"] == "completed"
    assert fields["id"] == str(header["id"]) and "protocol_json" not in fields


def test_html_escapes_what_it_shows(records: dict[str, Record], tmp_path: Path) -> None:
    header, events = records["completed"]
    hostile = {**header, "patient_id": "<script>alert(1)</script>", "operator": "a & b"}
    page = render_report(hostile, events, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &amp; b" in page


@pytest.mark.parametrize(
    ("name", "mark"), [("fault", "fault: electrode_off"), ("stopped", "stop: patient asked")]
)
def test_faults_and_stops_are_marked(
    records: dict[str, Record], tmp_path: Path, name: str, mark: str
) -> None:
    _, text = svg_text(render(records, name, tmp_path / "r.svg"))
    assert mark in text
    assert "session time (s)" in text  # a short session is drawn in seconds
    page = render(records, name, tmp_path / "r.html").read_text(encoding="utf-8")
    assert mark in page
    rgb = pixels(render(records, name, tmp_path / "r.png"))
    red = ((rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum()
    assert red > 150  # the red line across the plot


def test_two_channels_are_both_drawn(records: dict[str, Record], tmp_path: Path) -> None:
    _, text = svg_text(render(records, "fault", tmp_path / "r.svg"))
    assert "channel 1" in text and "channel 2" in text
    assert "ended: fault:electrode_off" in text


def test_a_refused_session_still_renders(records: dict[str, Record], tmp_path: Path) -> None:
    _, events = records["refused"]
    assert not any(e["kind"] == "telemetry" for e in events)
    rgb = pixels(render(records, "refused", tmp_path / "r.png"))
    assert (rgb < 0.9).any(axis=-1).mean() > 0.01  # title, axes, notes
    assert (np.abs(rgb - BLUE).max(axis=-1) < 0.08).sum() < 20  # but no amplitude line
    _, text = svg_text(render(records, "refused", tmp_path / "r.svg"))
    assert "no stimulation recorded" in text and "ended: refused:" in text
    page = render(records, "refused", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "none recorded" in page and "refused: contraindication screening" in page


@pytest.mark.parametrize("name", ["r.pdf", "r.jpg", "report", "r.png.txt"])
def test_other_suffixes_are_refused(records: dict[str, Record], tmp_path: Path, name: str) -> None:
    header, events = records["completed"]
    with pytest.raises(UsageError) as error:
        render_report(header, events, tmp_path / name)
    assert all(s in str(error.value) for s in (".png", ".svg", ".html"))
    assert not (tmp_path / name).exists()


def test_suffix_case_does_not_matter(records: dict[str, Record], tmp_path: Path) -> None:
    assert render(records, "stopped", tmp_path / "R.SVG").read_text().lstrip().startswith("<?xml")


def test_an_unwritable_path_is_an_input_error(records: dict[str, Record], tmp_path: Path) -> None:
    header, events = records["stopped"]
    with pytest.raises(InputError, match="cannot write report"):
        render_report(header, events, tmp_path / "no" / "such" / "dir" / "r.png")


def test_without_matplotlib_it_names_the_extra(
    records: dict[str, Record], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, events = records["completed"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtra, match=r"pip install 'tensctl\[plot\]'") as error:
        render_report(header, events, tmp_path / "r.png")
    assert error.value.exit_code == 8
    assert not (tmp_path / "r.png").exists()
