"""The per-session export a study reads: one row per session, the documented columns in the
documented order, the values the sessions were run and rated with; simulated sessions left
out unless asked for; notes and corrections carried."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_journal_store import AFTER, record_session

import tensctl.api
from tensctl.journal import export
from tensctl.journal.dose import delivered_dose
from tensctl.journal.store import Store

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ("S-01", "S-02", "S-03")
TWO_CHANNELS = "fast-fibromyalgia"  # S-03's: two channels, titrated (relative to SC2)
THRESHOLDS = {
    1: {"ST": 4.0, "SC1": 10.0, "N": 22.0, "SC2": 16.0},
    2: {"ST": 5.0, "SC1": 11.0, "N": 20.0, "SC2": 17.0},
}


def documented_columns() -> list[str]:
    """The column names of the per-session table in docs/session-records.md, in order."""
    text = (ROOT / "docs" / "session-records.md").read_text(encoding="utf-8")
    section = text.split("## Exports", 1)[1].split("\n## ", 1)[0]
    table = section.split("| column | what |", 1)[1]
    names = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        found = re.match(r"\|\s*`([^`]+)`\s*\|", line)
        assert found, f"a row of the columns table without a `name`: {line}"
        names.append(found.group(1))
    return names


def _given(patient: int, n: int) -> dict[str, Any]:
    """What session ``n`` of patient ``patient`` is run and rated with."""
    return {
        "intensity": 10.0 + 2 * n + patient,
        "seconds": 12.0 + 3 * n if patient < 2 else 24.0 + 3 * n,
        "pain_rest": float(4 + n + patient),
        "pain_movement": float(9 - n),
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[int, Any]]]:
    """3 patients × 4 sessions on a (stand-in) real device, and one simulator session each."""
    db = tmp_path_factory.mktemp("study") / "study.sqlite3"
    given: dict[int, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TENSCTL_OPERATOR", "dr-study")
        for p, patient in enumerate(PATIENTS):
            protocol = TWO_CHANNELS if p == 2 else "brief-intense"
            extra = {"thresholds": THRESHOLDS} if p == 2 else {}
            record_session(db, protocol, seconds=5, patient=patient, **extra)  # simulated
            with mp.context() as real:  # the same simulator standing in for a real device
                real.setattr(tensctl.api.Device, "simulated", property(lambda self: False))
                for n in range(4):
                    g = _given(p, n)
                    before = {"pain_rest": g["pain_rest"], "pain_movement": g["pain_movement"]}
                    sid = record_session(
                        db,
                        protocol,
                        seconds=g["seconds"],
                        patient=patient,
                        intensity=g["intensity"],
                        outcomes_before={**before, "fatigue": 3},
                        **extra,
                    )
                    given[sid] = {**g, "patient": patient, "protocol": protocol}
    yield db, given


def _rows(cli: Any, db: Path, *args: str) -> tuple[list[dict[str, str]], list[str], str]:
    done = cli("sessions", "export", "--per-session", "--format", "csv", "--db", str(db), *args)
    assert done.code == 0, done.err
    reader = csv.DictReader(io.StringIO(done.out))
    return list(reader), list(reader.fieldnames or []), done.err


def test_three_patients_four_sessions_are_twelve_rows_of_the_documented_columns(
    cli: Any, study: tuple[Path, dict[int, Any]]
) -> None:
    db, given = study
    rows, header, err = _rows(cli, db)
    assert header == documented_columns()
    assert header == list(export.session_columns())
    assert len(rows) == 12 and {int(r["session_id"]) for r in rows} == set(given)
    assert "left out: 3 session(s) on the simulator; add --include-simulated to export them" in err
    with Store(db) as store:
        for r in rows:
            sid = int(r["session_id"])
            g = given[sid]
            assert (r["patient"], r["protocol_id"]) == (g["patient"], g["protocol"])
            assert r["simulated"] == "false" and r["end_reason"] == "stopped_by_user"
            assert r["operator"] == "dr-study" and r["device_model"]
            header_row = store.session(sid)
            assert r["started_utc"] == header_row["started_utc"]
            started = datetime.fromisoformat(r["started_utc"])
            assert r["local_date"] == started.astimezone().date().isoformat()
            assert datetime.fromisoformat(r["ended_utc"]) >= started
            assert float(r["stimulated_s"]) == pytest.approx(g["seconds"], abs=1)
            assert float(r["duration_s"]) >= float(r["stimulated_s"])
            assert float(r["pain_rest_before"]) == g["pain_rest"]
            assert float(r["pain_rest_after"]) == AFTER["pain_rest"]
            assert float(r["pain_rest_change"]) == AFTER["pain_rest"] - g["pain_rest"]
            assert float(r["pain_movement_change"]) == AFTER["pain_movement"] - g["pain_movement"]
            assert r["fatigue_before"] == "3.0" and r["ppt_remote_kpa_change"] == ""
            assert r["adverse_events"] == "skin_irritation"
            assert r["adverse_note"] == AFTER["adverse_note"]
            assert (r["notes_count"], r["notes"], r["amended"]) == ("0", "", "false")
            (dose, *more) = delivered_dose(store.events(sid))
            assert float(r["ch1_target_ma"]) == g["intensity"]
            assert float(r["ch1_peak_ma"]) == pytest.approx(g["intensity"], abs=0.2)
            assert dose.charge_uc > 0
            assert float(r["ch1_charge_uc"]) == pytest.approx(dose.charge_uc, abs=0.1)
            assert float(r["ch1_at_target_s"]) == pytest.approx(dose.at_target_min * 60, abs=0.1)
            assert float(r["ch1_mean_ma"]) == pytest.approx(dose.mean_ma, abs=1e-3)
            if g["protocol"] == TWO_CHANNELS:
                assert len(more) == 1 and float(r["ch2_target_ma"]) == g["intensity"]
                marks = [float(r[f"ch2_{t}_ma"]) for t in ("st", "sc1", "n", "sc2")]
                assert marks == list(THRESHOLDS[2].values())
                assert float(r["ch1_sc2_ma"]) == 16 and float(r["ch1_ceiling_ma"]) <= 22
            else:  # one channel: channel 2's cells are empty, and there are no thresholds
                assert not more and r["ch2_mean_ma"] == r["ch2_target_ma"] == ""
                assert r["ch1_st_ma"] == ""


def test_the_json_table_has_the_same_columns_typed(
    cli: Any, study: tuple[Path, dict[int, Any]]
) -> None:
    db, given = study
    done = cli("sessions", "export", "--per-session", "--patient", "S-02", "--db", str(db))
    assert done.code == 0
    doc = json.loads(done.out)
    assert doc["format"] == "tensctl-session-table/1"
    assert doc["columns"] == documented_columns()
    assert [s["patient"] for s in doc["sessions"]] == ["S-02"] * 4
    first = doc["sessions"][0]
    assert list(first) == doc["columns"]
    assert first["simulated"] is False and first["ch2_target_ma"] is None
    assert first["adverse_events"] == ["skin_irritation"] and first["notes"] == []
    assert first["pain_rest_before"] == given[first["session_id"]]["pain_rest"]


def test_simulated_sessions_only_when_asked(
    cli: Any, study: tuple[Path, dict[int, Any]], tmp_path: Path
) -> None:
    db, _ = study
    out = tmp_path / "all.csv"
    done = cli(
        "sessions",
        "export",
        "--per-session",
        "--include-simulated",
        "--format",
        "csv",
        "-o",
        str(out),
        "--db",
        str(db),
    )
    assert done.code == 0 and done.out == ""
    assert "15 session(s) written to" in done.err and "left out" not in done.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["simulated"] for r in rows].count("true") == 3 and len(rows) == 15
    one = cli("sessions", "export", "--per-session", "1", "--db", str(db))  # a simulated one
    assert (
        json.loads(one.out)["sessions"] == []
        and "the 1 session(s) asked for were on the simulator" in one.err
    )


def test_per_session_export_errors_are_clear(cli: Any, study: tuple[Path, dict[int, Any]]) -> None:
    db, _ = study
    base = ("sessions", "export", "--db", str(db))
    both = cli(*base, "--per-session", "2", "--patient", "S-01")
    assert both.code == 2 and "not both" in both.err
    sim = cli(*base, "2", "--include-simulated")
    assert sim.code == 2 and "--include-simulated goes with --per-session" in sim.err
    nobody = cli(*base, "--per-session", "--patient", "nobody")
    assert nobody.code == 3 and "no sessions recorded for patient 'nobody'" in nobody.err
    word = cli(*base, "--per-session", "first")
    assert word.code == 3 and "expected a session number or 'last', found 'first'" in word.err
    for result in (both, sim, nobody, word):
        assert result.out == ""


def test_a_session_on_more_channels_widens_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    header = {"id": 1, "patient_id": "P", "protocol_id": "x", "protocol_name": "X"}
    header |= {"protocol_sha256": "0" * 64, "started_utc": "2026-12-03T23:30:00+00:00"}
    header |= {"ended_utc": None, "end_reason": None, "operator": "o", "device_model": "m"}
    header |= {"device_serial": "s", "simulated": 0}
    checked = {"targets_ma": {"3": 12.0}, "ceilings_ma": {}, "thresholds_ma": {}}
    events = [{"seq": 1, "kind": "checked", "elapsed_s": 0.0, "data": checked}]
    try:
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        row = export.session_row(header, events)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert row["local_date"] == "2026-12-04"  # 08:30 in Tokyo; the UTC stamp stays
    assert row["started_utc"] == "2026-12-03T23:30:00+00:00"
    assert row["ch3_target_ma"] == 12.0 and row["ch1_target_ma"] is None
    assert row["end_reason"] is None and row["duration_s"] == 0
    text = export.to_session_csv([row])
    columns = text.splitlines()[0].split(",")
    assert columns == list(export.session_columns(3))
    assert columns.index("ch3_st_ma") == columns.index("ch2_at_target_s") + 1
    n = len(export.LEAD_COLUMNS) + 2 * len(export.CHANNEL_FIELDS)
    added = len(export.CHANNEL_FIELDS)
    assert columns[:n] == documented_columns()[:n]
    assert columns[n + added :] == documented_columns()[n:]


def test_corrections_say_what_changed_from_what_to_what() -> None:
    from tensctl.journal.summary import corrections

    rated = {"when": "after", "operator": "ana", "pain_rest": 3, "pain_movement": 4}
    first = {**rated, "fatigue": 2, "adverse_events": [], "adverse_note": ""}
    second = {**first, "pain_rest": 1, "amends": 5, "reason": "typo", "operator": "ben"}
    third = {**second, "adverse_events": ["burn"], "adverse_note": "blister", "amends": 6}
    third["reason"] = "seen later"
    events = [
        {"seq": n, "kind": "outcome", "elapsed_s": 9.0, "time_utc": f"t{n}", "data": d}
        for n, d in ((5, first), (6, second), (7, third))
    ]
    found = corrections(events)
    assert [(c["seq"], c["amends"], c["reason"], c["operator"]) for c in found] == [
        (6, 5, "typo", "ben"),
        (7, 6, "seen later", "ben"),
    ]
    assert found[0]["changes"] == [{"measure": "pain_rest", "from": 3, "to": 1}]
    assert found[1]["changes"] == [
        {"measure": "adverse_events", "from": [], "to": ["burn"]},
        {"measure": "adverse_note", "from": "", "to": "blister"},
    ]
    assert found[1]["time_utc"] == "t7"
