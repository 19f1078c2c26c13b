"""Session reports from real records of sessions run in virtual time against the simulator:
a completed, a stopped, an emergency-stopped, a faulted (the simulator's electrode-off
scenario), a titrated and a refused session. The HTML page and the PDF are read back as
text and checked section by section and value by value; the PNG and SVG are the plot
alone; the dose leaves titration out."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

import tensctl
from tensctl.errors import InputError, MissingExtra, SafetyRefused, UsageError
from tensctl.journal.dose import delivered_dose
from tensctl.journal.report import render_report
from tensctl.journal.session_plot import Timebase, session_figure
from tensctl.journal.store import Store
from tensctl.model.outcomes import parse_outcomes

pytest.importorskip("matplotlib")
pytest.importorskip("fpdf")
pypdf = pytest.importorskip("pypdf")

SVG = "{http://www.w3.org/2000/svg}"
Record = tuple[dict[str, Any], list[dict[str, Any]]]
BEFORE = {"pain_rest": 6, "pain_movement": 7, "fatigue": 4}
AFTER = {"pain_rest": 3, "pain_movement": 5, "fatigue": 3}
SECTIONS = (
    "Titration",
    "Delivered dose",
    "Outcomes",
    "Adverse events and notes",
    "Faults and interruptions",
    "Amplitude over the session",
    "Technical record",
)


def titrate(s: Any, levels: tuple[float, ...] = (3, 10, 16, 12)) -> None:
    """ST, SC1, N and SC2 marked on channel 1 at these levels."""
    t = s.titrate(1)
    for level in levels:
        while t.level_ma < level:
            t.up()
        while t.level_ma > level:
            t.down()
        s.run_for(6)
        s.mark()
    s.finish_titration()


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Record]:
    db = tmp_path_factory.mktemp("report") / "s.sqlite3"
    ids: dict[str, int | None] = {}
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        with dev.session(
            "brief-intense", patient="P-1", intensity=15, screened=True, outcomes_before=BEFORE
        ) as s:
            s.run_for(60)
            s.adjust(1, -2)
            s.run()
            s.record_outcomes(after=AFTER)
            ids["completed"] = s.record_id
        with dev.session("mixed-4-100", patient="P-3", intensity=12, screened=True) as s:
            s.run_for(100)
            s.stop()
            s.run()
            ids["stopped"] = s.record_id
        with dev.session(
            "conventional-hf", patient="P-9", screened=True, outcomes_before=BEFORE
        ) as s:
            titrate(s)
            s.run_for(120)
            s.pause()
            s.resume()
            for i in range(30):  # one every 50 s: too close for a label each
                s.adjust(1, -1 if i % 2 == 0 else 1)
                s.run_for(50)
            s.run()
            s.record_outcomes(
                after={
                    **AFTER,
                    "adverse_events": ["skin_irritation"],
                    "adverse_note": "redness under the electrode",
                }
            )
            ids["titrated"] = s.record_id
        with pytest.raises(SafetyRefused):
            dev.session("brief-intense", patient="P-4", intensity=15, screened=False)
    with (  # on a device of its own: the simulator keeps an emergency stop latched
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session("mixed-4-100", patient="P-3", intensity=12, screened=True) as s,
    ):
        s.run_for(20)
        s.emergency_stop("patient asked")
        ids["emergency"] = s.record_id
    with (
        tensctl.connect("sim://?scenario=electrode-off", virtual=True, journal=db) as dev,
        dev.session("conventional-hf", patient="P-2", intensity=20, screened=True) as s,
    ):
        s.run()
        ids["fault"] = s.record_id
    with Store(db) as store:
        (refused,) = [h for h in store.sessions() if h["end_reason"].startswith("refused")]
        ids["refused"] = refused["id"]
        assert None not in ids.values()
        titrated = ids["titrated"]
        assert titrated is not None
        corrected = parse_outcomes({**AFTER, "pain_rest": 2}, "after")
        store.add_outcomes(titrated, "after", corrected, "therapist-b", "pain at rest misheard")
        store.add_note(titrated, "Tolerated well; keep SC2 next time.", "therapist-a")
        return {name: (store.session(i), store.events(i)) for name, i in ids.items() if i}


class Page(HTMLParser):
    """The page's text: its banner, title and subtitle, and each section's text under its
    heading (table cells separated by ' | ', rows by newlines)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[str]] = {"": []}
        self.current, self.tag = "", ""
        self.headings: list[str] = []
        self.in_heading = False
        self.skip = 0  # inside <title> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("title", "style", "svg"):
            self.skip += 1
        elif tag == "h2":
            self.in_heading = True
            self.headings.append("")
        elif tag in ("td", "th"):
            self.sections[self.current].append(" | ")
        elif tag in ("tr", "p", "br"):
            self.sections[self.current].append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "style", "svg"):
            self.skip -= 1
        elif tag == "h2":
            self.in_heading = False
            self.current = self.headings[-1]
            self.sections[self.current] = []

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.in_heading:
            self.headings[-1] += data
        else:
            self.sections[self.current].append(data)

    def text(self, section: str) -> str:
        return re.sub(r"[ \t]+", " ", "".join(self.sections[section]))


def page_of(records: dict[str, Record], name: str, tmp_path: Path) -> Page:
    header, events = records[name]
    path = render_report(header, events, tmp_path / f"{name}.html")
    text = path.read_text(encoding="utf-8")
    for external in ("<script", "<img", "<link", "<iframe", "src="):
        assert external not in text  # one self-contained page
    page = Page()
    page.feed(text)
    assert page.headings == list(SECTIONS)
    return page


def pdf_text(records: dict[str, Record], name: str, tmp_path: Path) -> str:
    header, events = records[name]
    path = render_report(header, events, tmp_path / f"{name}.pdf")
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (
            595,
            842,
        )
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))


def in_order(text: str, *parts: str) -> None:
    at = [text.find(p) for p in parts]
    assert -1 not in at, [p for p, i in zip(parts, at, strict=True) if i < 0]
    assert at == sorted(at), parts


def row(text: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(" | ")[1:]]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in {text!r}")


# ---- the whole report -----------------------------------------------------------------------


def test_a_completed_session_reads_who_what_when_first(
    records: dict[str, Record], tmp_path: Path
) -> None:
    header, events = records["completed"]
    page = page_of(records, "completed", tmp_path)
    top = page.text("")
    assert "SIMULATED — recorded on a simulator" in top
    in_order(top, "SIMULATED", f"Session {header['id']} — Brief-intense TENS", "patient P-1")
    assert row(top, "patient") == ["patient", "P-1"]
    assert row(top, "protocol") == ["protocol", "Brief-intense TENS (brief-intense)"]
    (reference,) = json.loads(header["protocol_json"])["references"]
    assert row(top, "sources")[1] == reference["citation"]  # from the stored protocol
    assert row(top, "how it ended")[1] == "completed: the protocol ran to its end"
    assert row(top, "operator")[1] == header["operator"]
    assert "SIMULATED" in row(top, "device")[1] and header["device_serial"] in top
    started = row(top, "started")[1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \S+", started), started  # local, minutes
    assert "15 min" in row(top, "duration")[1]
    titration = page.text("Titration")
    assert "No titration in this session" in titration
    assert row(titration, "1") == ["1", "—", "—", "—", "—", "15", "100"]
    (dose,) = delivered_dose(events)
    cells = row(page.text("Delivered dose"), "1")
    assert float(cells[1]) == pytest.approx(dose.stimulated_min, abs=0.05)
    assert float(cells[1]) == pytest.approx(15.0, abs=0.3)
    assert float(cells[3]) == pytest.approx(15.0, abs=0.1) and float(cells[2]) < 15.0
    assert int(cells[6].replace(",", "")) == dose.pulses > 0
    outcomes = page.text("Outcomes")
    assert row(outcomes, "pain at rest (0–10)") == ["pain at rest (0–10)", "6", "3", "-3 (-50%)"]
    assert row(outcomes, "pain on movement (0–10)")[1:] == ["7", "5", "-2 (-29%)"]
    assert "pain at rest: 6 → 3, 50% less — reaches a responder's 30 % reduction" in outcomes
    assert "pain on movement: 7 → 5, 29% less — short of a responder's 30 %" in outcomes
    assert "no adverse events, no notes" in page.text("Adverse events and notes")
    assert "none: the session ran without interruption" in page.text("Faults and interruptions")
    assert "<svg" not in page.text("Amplitude over the session")  # the plot, not its source


def test_the_technical_record_is_last_and_in_words(
    records: dict[str, Record], tmp_path: Path
) -> None:
    header, events = records["completed"]
    record = page_of(records, "completed", tmp_path).text("Technical record")
    assert row(record, "record fingerprint (SHA-256)")[1] == header["hash"]
    assert (
        row(record, "previous session's fingerprint")[1]
        == f"{'0' * 64} (none: the first session in the store)"
    )
    assert row(record, "last event's fingerprint")[1] == events[-1]["hash"]
    assert row(record, "controller process number")[1] == str(header["pid"])
    assert row(record, "computer")[1] == header["host"]
    assert row(record, "simulated")[1] == "yes"
    assert row(record, "events in the record")[1] == str(len(events))
    for raw in ("pid |", "prev_hash", "simulated | 1", "protocol_json", "end_reason"):
        assert raw not in record


def test_a_titrated_session_shows_thresholds_notes_amendments_and_the_pause(
    records: dict[str, Record], tmp_path: Path
) -> None:
    header, _ = records["titrated"]
    page = page_of(records, "titrated", tmp_path)
    titration = page.text("Titration")
    assert "ST sensation threshold" in titration
    assert row(titration, "1") == ["1", "3", "10", "16", "12", "12", "15"]
    outcomes = page.text("Outcomes")
    assert row(outcomes, "pain at rest (0–10)")[1:] == ["6", "2", "-4 (-67%)"]  # amended
    assert row(outcomes, "measure") == ["measure", "before", "after (amended)", "change"]
    assert "The outcomes after the session were amended by therapist-b on " in outcomes
    assert "pain at rest misheard" in outcomes and "stay on record" in outcomes
    notes = page.text("Adverse events and notes")
    assert "therapist-a | note: Tolerated well; keep SC2 next time." in notes
    said = "adverse event (after the session): skin irritation: redness under the electrode"
    (line,) = [x for x in notes.splitlines() if said in x]
    assert f"| {header['operator']} | {said} — changed by a later amendment" in line  # it has none
    stops = page.text("Faults and interruptions")
    assert "2:00 (" in stops and "paused: every output to 0" in stops
    assert "resumed after a pause of" in stops
    peak = float(row(page.text("Delivered dose"), "1")[3])
    assert peak <= 15.0  # the ceiling: N (16 mA) was titration, not the session's dose


ENDINGS = [
    ("stopped", "stopped by the operator (ramped down to 0)", "1:40", "stopped by the operator"),
    ("emergency", "emergency stop (every output to 0 at once)", "0:20", "emergency stop: patient"),
    (
        "fault",
        "fault: an electrode came off or lost contact (open circuit); channel 1: load above "
        "10,000 Ω — every output was taken to 0",
        "0:05",
        "fault: an electrode came off or lost contact (open circuit)",
    ),
]


@pytest.mark.parametrize(("name", "ended", "when", "said"), ENDINGS)
def test_how_a_session_ended_is_said_in_words_with_its_time(
    records: dict[str, Record], tmp_path: Path, name: str, ended: str, when: str, said: str
) -> None:
    page = page_of(records, name, tmp_path)
    assert row(page.text(""), "how it ended")[1] == ended
    (line,) = [x for x in page.text("Faults and interruptions").splitlines() if said in x]
    assert re.match(rf" \| {when} \(\d\d:\d\d:\d\d \S+\) \| ", line), line  # and local time
    assert "_" not in line  # no rule names


@pytest.mark.parametrize("name", ["completed", "stopped", "fault", "titrated"])
def test_the_pdf_has_the_same_sections_and_values_on_a4(
    records: dict[str, Record], tmp_path: Path, name: str
) -> None:
    header, _ = records[name]
    text = pdf_text(records, name, tmp_path)
    in_order(text, "SIMULATED", f"Session {header['id']} —", "how it ended", *SECTIONS)
    assert header["hash"] in text and f"patient {header['patient_id']}" in text
    expected = {
        "completed": ["reaches a responder's 30 % reduction", "6 3 -3 (-50%)"],
        "stopped": ["stopped by the operator (ramped down to 0)", "stopped by the operator:"],
        "fault": ["fault: electrode off", "load above 10,000 Ω"],
        "titrated": ["1 3 10 16 12 12 15", "Tolerated well; keep SC2 next time.", "therapist-b"],
    }[name]
    for said in expected:
        assert said in text, said


def test_a_refused_session_still_reports(records: dict[str, Record], tmp_path: Path) -> None:
    page = page_of(records, "refused", tmp_path)
    assert (
        "refused before any stimulation: contraindication screening"
        in row(page.text(""), "how it ended")[1]
    )
    assert "nothing delivered" in page.text("Delivered dose")
    assert "No outcomes recorded" in page.text("Outcomes")
    header, events = records["refused"]
    root = ET.parse(render_report(header, events, tmp_path / "r.svg")).getroot()
    text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "no stimulation recorded in this session" in text and "delivered" not in text


def test_the_page_escapes_what_it_shows(records: dict[str, Record], tmp_path: Path) -> None:
    header, events = records["completed"]
    hostile = {**header, "patient_id": "<script>alert(1)</script>", "operator": "a & b"}
    page = render_report(hostile, events, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &amp; b" in page


def test_a_real_device_session_has_no_banner(records: dict[str, Record], tmp_path: Path) -> None:
    header, events = records["completed"]
    page = render_report({**header, "simulated": 0}, events, tmp_path / "r.html")
    text = page.read_text(encoding="utf-8")
    assert 'class="banner"' not in text and "SIMULATED" not in text


# ---- the plot alone -------------------------------------------------------------------------


def test_png_is_the_plot_alone(records: dict[str, Record], tmp_path: Path) -> None:
    header, events = records["titrated"]
    path = render_report(header, events, tmp_path / "r.png")
    rgb = imread(path)[..., :3]
    assert rgb.shape[1] == 1000 and 300 < rgb.shape[0] < 600  # 10 in wide at 100 dpi
    assert (rgb < 0.9).any(axis=-1).mean() > 0.03  # not a blank page
    blue = np.array([0x1F, 0x77, 0xB4]) / 255  # channel 1's colour
    assert (np.abs(rgb - blue).max(axis=-1) < 0.08).sum() > 500


def test_svg_keeps_its_text_without_internal_names(
    records: dict[str, Record], tmp_path: Path
) -> None:
    header, events = records["titrated"]
    path = render_report(header, events, tmp_path / "R.SVG")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    for said in ("channel 1 (mA)", "ST 3", "SC1 10", "N 16", "SC2 12", "ceiling 15"):
        assert said in text, said
    assert "stimulation" in text and "paused" in text and "time since the start (min)" in text
    assert "titration" not in text and "warning" not in text and "retitrate" not in text
    assert "Session" not in text  # the plot alone: the page says who and what


@pytest.mark.parametrize(
    ("name", "mark"), [("fault", "fault: electrode off"), ("emergency", "emergency stop")]
)
def test_faults_and_stops_are_red_lines_with_words(
    records: dict[str, Record], tmp_path: Path, name: str, mark: str
) -> None:
    header, events = records[name]
    root = ET.parse(render_report(header, events, tmp_path / "r.svg")).getroot()
    text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert mark in text and "time since the start (s)" in text
    rgb = imread(render_report(header, events, tmp_path / "r.png"))[..., :3]
    red = ((rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum()
    assert red > 150  # the red line across the plot


# ---- the dose -------------------------------------------------------------------------------


def test_titration_is_not_in_the_dose(records: dict[str, Record]) -> None:
    _, events = records["titrated"]
    (dose,) = delivered_dose(events)
    assert dose.peak_ma == pytest.approx(12.0)  # SC2, the target; N (16 mA) was titration
    titrating = [e for e in events if e["kind"] == "telemetry" and e["elapsed_s"] == 0.0]
    assert any(
        r["delivered_ma"] >= 16 for e in titrating for r in e["data"]["channels"].values()
    )  # the record has it, the dose does not count it
    run = [e for e in events if e["kind"] == "telemetry"][-1]["data"]["channels"]["1"]
    first = next(e for e in events if e["kind"] == "state" and e["data"]["state"] == "ramping_up")
    before = [e for e in events if e["kind"] == "telemetry" and e["seq"] < first["seq"]]
    at_start = before[-1]["data"]["channels"]["1"]
    assert dose.pulses == run["pulses"] - at_start["pulses"]


# ---- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["r.jpg", "report", "r.png.txt", "r.docx"])
def test_other_suffixes_are_refused(records: dict[str, Record], tmp_path: Path, name: str) -> None:
    header, events = records["completed"]
    with pytest.raises(UsageError) as error:
        render_report(header, events, tmp_path / name)
    assert all(s in str(error.value) for s in (".html", ".pdf", ".png", ".svg"))
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_an_unwritable_path_is_an_input_error(
    records: dict[str, Record], tmp_path: Path, suffix: str
) -> None:
    header, events = records["stopped"]
    with pytest.raises(InputError, match="cannot write"):
        render_report(header, events, tmp_path / "no" / "such" / f"r{suffix}")


def test_without_matplotlib_it_names_the_extra(
    records: dict[str, Record], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, events = records["completed"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtra, match=r"pip install 'tensctl\[plot\]'") as error:
        render_report(header, events, tmp_path / "r.html")
    assert error.value.exit_code == 8
    assert not (tmp_path / "r.html").exists()


def test_an_interrupted_session_says_so(tmp_path: Path) -> None:
    """The controlling process dies mid-session (a real process, killed by its own exit):
    the next open of the store closes it as interrupted, and the report says so."""
    db = tmp_path / "s.sqlite3"
    script = (
        "import os, sys, tensctl\n"
        "dev = tensctl.connect('sim://', virtual=True, journal=sys.argv[1])\n"
        "s = dev.session('conventional-hf', patient='P-6', intensity=10, screened=True)\n"
        "s.run_for(30)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(db)], timeout=120, check=False)
    assert done.returncode == 0
    with Store(db) as store:
        (header,) = store.sessions()
        header, events = store.session(header["id"]), store.events(header["id"])
    assert header["end_reason"] == "interrupted"
    page = Page()
    page.feed(render_report(header, events, tmp_path / "r.html").read_text(encoding="utf-8"))
    ended = "interrupted: the controlling program died; the record ends at its last event"
    assert row(page.text(""), "how it ended")[1] == ended
    assert ended in page.text("Faults and interruptions")
    root = ET.parse(render_report(header, events, tmp_path / "r.svg")).getroot()
    assert "record ends: interrupted" in " ".join("".join(t.itertext()) for t in root.iter())


def test_a_pause_is_drawn_as_long_as_it_lasted_with_nothing_delivered(tmp_path: Path) -> None:
    """In real time (the session's own time stands still in a pause; the wall clock does
    not): a pause of 2 s is a shaded band 2 s wide, delivered 0 mA across it."""
    db = tmp_path / "s.sqlite3"
    short = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"
    with tensctl.connect("sim://", journal=db) as dev, dev.session(short, screened=True) as s:
        s.run(background=True)
        time.sleep(2)
        s.pause()
        time.sleep(2)
        s.resume()
        s.wait(30)
    with Store(db) as store:
        (header,) = store.sessions()
        header, events = store.session(header["id"]), store.events(header["id"])
    assert header["end_reason"] == "completed"
    ((start, end),) = Timebase(events).pauses
    assert end - start == pytest.approx(2.0, abs=0.4)
    fig = session_figure(header, events)
    (ax,) = fig.axes
    (delivered,) = [line for line in ax.lines if line.get_linewidth() == 1.3]
    xs, ys = delivered.get_xdata(), delivered.get_ydata()
    assert [y for x, y in zip(xs, ys, strict=True) if start <= x < end] == [0.0]
    assert max(xs) == pytest.approx(max(e["elapsed_s"] for e in events) + (end - start), abs=0.1)
    page = Page()
    page.feed(render_report(header, events, tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "resumed after a pause of 2 s" in page.text("Faults and interruptions")
