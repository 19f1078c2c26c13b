"""``tensctl patients report``: a patient's course over several sessions on several days, as
HTML and as PDF, read back for its sections and values.

The sessions are run through the API on the simulator in virtual time (the engine writes
every event), at chosen local times (the store's clock replaced). A session "on a real
device" is that record written again under a real device's header with the same events —
what the store would hold had the same session run on a stimulator — and with the
titration marks (ST, SC1, N, SC2) a titration writes. Local time is Europe/Berlin here."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tensctl
from tensctl.journal import session_writer
from tensctl.journal import store as store_module
from tensctl.journal.chain import HEADER_FIELDS
from tensctl.journal.course import build_course, course_session, days
from tensctl.journal.document import to_html
from tensctl.journal.store import Store

pytest.importorskip("matplotlib")
pytest.importorskip("fpdf")
pypdf = pytest.importorskip("pypdf")

DAY = date(2026, 3, 2)  # a Monday, winter time (CET)
PROTOCOL = "conventional-hf"  # 30 min, daily cap 2 h
BEFORE = {"pain_rest": 6, "pain_movement": 7, "fatigue": 4}
TITRATION = {"ST": 5.0, "SC1": 12.0, "N": 20.0, "SC2": 15.0}
RETITRATED = {**TITRATION, "SC2": 24.0}


@pytest.fixture(autouse=True)
def berlin() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The records' clock: what is written next is stamped ``clock[0]``."""
    now = [at(DAY, 9)]
    monkeypatch.setattr(store_module, "utc_now", lambda: now[0])
    monkeypatch.setattr(session_writer, "utc_now", lambda: now[0])
    return now


def at(day: date, hour: int, minute: int = 0) -> str:
    local = datetime(day.year, day.month, day.day, hour, minute).astimezone()
    return local.astimezone(UTC).isoformat(timespec="microseconds")


def simulated_session(
    db: Path,
    intensity: float,
    after: Mapping[str, Any],
    *,
    stop_after_s: float | None = None,
    protocol: str = PROTOCOL,
) -> int:
    """A session run on the simulator (recorded as simulated), outcomes before and after."""
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session(
            protocol, patient="P-1", intensity=intensity, screened=True, outcomes_before=BEFORE
        ) as s,
    ):
        if stop_after_s is None:
            s.run()
        else:
            s.run_for(stop_after_s)
            s.stop()
            s.run()
        s.record_outcomes(after={**BEFORE, **after})
        assert s.record_id is not None
        return s.record_id


def real_session(
    db: Path,
    scratch: Path,
    intensity: float,
    after: Mapping[str, Any],
    titration: Mapping[str, float] | None = None,
    **run: Any,
) -> int:
    """The same session's events under a real device's header, titration marks first."""
    sid = simulated_session(scratch, intensity, after, **run)
    with Store(scratch) as source:
        header, events = source.session(sid), source.events(sid)
    keep = set(HEADER_FIELDS) - {"id", "protocol_sha256", "host", "pid", "started_utc"}
    real = {k: header[k] for k in keep} | {
        "simulated": False,
        "device_url": "/dev/ttyUSB0",
        "device_serial": "TENS-0042",
    }
    with Store(db) as store:
        writer = store.open_session(real, header["protocol_json"])
        for e in events:
            if e["kind"] == "checked" and titration:
                for name, value in titration.items():
                    mark = {"channel": 1, "threshold": name, "amplitude_ma": value}
                    writer.append("titration", 0.0, mark)
            if e["kind"] == "closed":
                writer.close(e["data"]["reason"], e["elapsed_s"])
            elif e["kind"] != "record":
                writer.append(e["kind"], e["elapsed_s"], e["data"])
        return writer.session_id


@pytest.fixture
def course(tmp_path: Path, clock: list[str]) -> Path:
    """Patient P-1 over nine days: five sessions on a real device (two on the first day,
    one of them stopped after 10 min; intensity rising 14 → 26 mA, titrated on the first and
    the last day; skin irritation after the fourth), and two on the simulator."""
    db, scratch = tmp_path / "s.sqlite3", tmp_path / "scratch.sqlite3"
    plan: list[tuple[date, int, float, dict[str, Any], dict[str, Any]]] = [
        (DAY, 9, 14.0, {"pain_rest": 3}, {"titration": TITRATION}),
        (DAY, 15, 14.0, {"pain_rest": 5}, {"stop_after_s": 600.0}),
        (DAY + timedelta(days=3), 10, 18.0, {"pain_rest": 4}, {}),
        (
            DAY + timedelta(days=6),
            10,
            22.0,
            {"pain_rest": 4, "adverse_events": ["skin_irritation"], "adverse_note": "redness"},
            {},
        ),
        (
            DAY + timedelta(days=8),
            18,
            26.0,
            {"pain_rest": 2},
            {"titration": {**TITRATION, "SC2": 24.0}},
        ),
    ]
    for day, hour, intensity, after, run in plan:
        clock[0] = at(day, hour)
        real_session(db, scratch, intensity, after, **run)
    for day in (DAY + timedelta(days=1), DAY + timedelta(days=3)):
        clock[0] = at(day, 20)
        simulated_session(db, 10.0, {"pain_rest": 6})
    clock[0] = at(DAY + timedelta(days=6), 11, 30)
    with Store(db) as store:
        store.add_note(4, "redness gone after 20 min; pads moved 2 cm", "therapist-a")
    return db


def _pdf_text(path: Path) -> str:
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def _html_text(path: Path) -> str:
    page = path.read_text(encoding="utf-8")
    body = re.sub(r"<(svg|style)\b.*?</\1>", " ", page, flags=re.S)  # the figures' own text aside
    return " ".join(re.sub(r"<[^>]+>", " ", body).replace("&gt;", ">").split())


def test_the_course_has_every_section_with_the_recorded_values(
    cli: Any, course: Path, tmp_path: Path
) -> None:
    html_out, pdf_out = tmp_path / "course.html", tmp_path / "course.pdf"
    made = cli("patients", "report", "P-1", "-o", str(html_out), "--db", str(course))
    assert made.code == 0, made.err
    assert (
        "left out: 2 session(s) on the simulator; add --include-simulated to report them"
        in made.err
        and made.out == ""
    )
    assert cli("patients", "report", "P-1", "-o", str(pdf_out), "--db", str(course)).code == 0
    page = html_out.read_text(encoding="utf-8")
    assert page.count("<svg") == 3  # pain, minutes per day, intensity
    for text in (_html_text(html_out), _pdf_text(pdf_out)):
        order = [
            "Course of patient P-1",
            "5 session(s) from 2026-03-02 to 2026-03-10 (9 day(s), local dates, CET)",
            "5 on real devices (2 on the simulator left out)",
            "2026-03-02 09:00 CET",  # the first session, local time
            "2026-03-10 18:00 CET",  # the last
            "Pain before and after each session",
            "Stimulated time per day",
            "Intensity and thresholds",
            "Adverse events",
        ]
        positions = [text.index(t) for t in order]
        assert positions == sorted(positions), text
        assert "SIMULATED" not in text
        # pain: 6 → 3 and 6 → 4 are a responder's fall (50 %, 33 %), 6 → 5 is not (17 %)
        assert "6 → 3 -50 % (responder)" in text and "6 → 4 -33 % (responder)" in text
        assert "6 → 5 -17 %" in text and "6 → 5 -17 % (responder)" not in text
        assert "6 → 5 -17 % 7 → 7 4 → 4 stopped" in text  # the end in words
        assert "4 of 5 session(s) on real devices rated before and after" in text
        # minutes per day against the 2 h cap: 30 + 10 on the first day, one 30 the others
        assert "2026-03-02 2 40 120 yes" in text and "2026-03-05 1 30 120 yes" in text
        # thresholds as titrated, in SIT order, on the first and the last day
        assert "5.0 12.0 20.0 15.0 titrated" in text and "5.0 12.0 20.0 24.0 titrated" in text
        trend = re.search(r"Intensity trend: ([+-][\d.]+) mA per week", text)
        assert trend is not None and 7.0 < float(trend.group(1)) < 12.0  # 14 → 26 mA in 8 days
        assert "sign of tolerance" in text  # above 2 mA/week
        assert "skin irritation" in text and "redness" in text and "after the session" in text
        assert "2026-03-08 11:30 CET 4 therapist-a redness gone after 20 min" in text


def test_simulated_sessions_are_in_only_when_asked_and_marked(
    cli: Any, course: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all.html"
    made = cli(
        "patients", "report", "P-1", "-o", str(out), "--include-simulated", "--db", str(course)
    )
    assert made.code == 0 and "left out" not in made.err
    text = _html_text(out)
    assert "INCLUDES 2 SIMULATED SESSION(S)" in text
    assert "5 on real devices, 2 on the simulator" in text
    assert "4 of 5 session(s) on real devices rated" in text  # the simulator's not among them
    assert text.count("(SIMULATED)") >= 4  # in the pain and the intensity tables
    # the simulator's minutes are counted apart: its column, never added to the real ones
    assert "2026-03-05 2 30 30 120 yes" in text and "2026-03-03 1 0 30 120 yes" in text


def test_minutes_over_the_cap_are_said(clock: list[str], tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    for hour in (8, 10, 12, 14, 16):  # 5 × 30 min on one day: 150 min, cap 120
        clock[0] = at(DAY, hour)
        simulated_session(db, 15.0, {"pain_rest": 4})
    with Store(db) as store:
        sessions = [
            course_session(store.session(h["id"]), store.events(h["id"])) for h in store.sessions()
        ]
    found = days(sessions)
    assert [(d.sessions, d.real_s, d.simulated_s, d.cap_s) for d in found] == [
        (5, 0.0, 9000.0, 7200.0)
    ]
    assert found[0].over_cap()
    text = " ".join(re.sub(r"<[^>]+>", " ", to_html(build_course("P-1", sessions))).split())
    assert "2026-03-02 5 0 150 120 OVER THE CAP" in text
    assert "2026-03-02 5 0 150 120 OVER THE CAP" in text
    assert "Over the daily cap on 2026-03-02." in text
    assert "not computed: needs 3 stimulated sessions" in text  # one day: no trend


def test_bad_input_is_said_in_words(cli: Any, course: Path, tmp_path: Path) -> None:
    unknown = cli("patients", "report", "P-9", "-o", str(tmp_path / "x.html"), "--db", str(course))
    assert unknown.code == 3 and "no sessions recorded for patient 'P-9'" in unknown.err
    wrong = cli("patients", "report", "P-1", "-o", str(tmp_path / "x.docx"), "--db", str(course))
    assert wrong.code == 2 and "use .html, .pdf" in wrong.err
    assert not (tmp_path / "x.docx").exists()
    folder = cli(
        "patients", "report", "P-1", "-o", str(tmp_path / "no" / "x.pdf"), "--db", str(course)
    )
    assert folder.code == 3 and "no such folder" in folder.err and "left out" not in folder.err
    no_store = cli(
        "patients", "report", "P-1", "-o", str(tmp_path / "x.pdf"), "--db", str(tmp_path / "none")
    )
    assert no_store.code == 9 and "no session store there" in no_store.err
    for result in (unknown, wrong, folder, no_store):
        assert "Traceback" not in result.err


def test_a_patient_with_only_simulated_sessions_is_told_how_to_see_them(
    cli: Any, clock: list[str], tmp_path: Path
) -> None:
    db = tmp_path / "s.sqlite3"
    simulated_session(db, 15.0, {"pain_rest": 4})
    found = cli("patients", "report", "P-1", "-o", str(tmp_path / "x.html"), "--db", str(db))
    assert found.code == 3 and "--include-simulated" in found.err
    assert not (tmp_path / "x.html").exists()


def test_a_day_of_two_protocols_is_held_to_each_sessions_own_cap(
    clock: list[str], tmp_path: Path
) -> None:
    """As the cap is enforced: brief-intense (15 min, cap 30) then conventional-hf (30 min,
    cap 120) is within both (15 ≤ 30, 45 ≤ 120), though 45 min exceed the strictest cap."""
    db = tmp_path / "s.sqlite3"
    clock[0] = at(DAY, 8)
    simulated_session(db, 15.0, {"pain_rest": 4}, protocol="brief-intense")
    clock[0] = at(DAY, 10)
    simulated_session(db, 15.0, {"pain_rest": 4})
    with Store(db) as store:
        sessions = [
            course_session(store.session(h["id"]), store.events(h["id"])) for h in store.sessions()
        ]
    (day,) = days(sessions)
    assert (day.sessions, day.simulated_s, day.cap_s) == (2, 2700.0, 1800.0)
    assert not day.over_cap()
    later = days(
        [sessions[1], replace(sessions[0], started=sessions[1].started + timedelta(hours=2))]
    )
    assert later[0].over_cap()  # brief-intense after 30 min: 45 min past its cap of 30
