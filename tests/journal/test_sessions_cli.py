"""``tensctl sessions`` and ``tensctl patients`` on a store filled by real sessions."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_journal_store import record_session
from test_seals import cut_tail, remove_session

from tensctl.journal import export

SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"


@pytest.fixture
def store_path(_session_store: Path) -> Path:
    record_session(_session_store, seconds=20)
    record_session(_session_store, intensity=18)
    record_session(_session_store, patient="P-other", seconds=5)
    return _session_store


def test_list_show_and_patients(cli: Any, store_path: Path) -> None:
    listed = cli("sessions", "list")
    assert listed.code == 0 and "brief-intense" in listed.out and "completed" in listed.out
    rows = json.loads(cli("sessions", "list", "--patient", "P-7", "--json").out)
    assert [r["id"] for r in rows] == [2, 1]  # newest first
    shown = cli("sessions", "show", "2")
    assert shown.code == 0
    for text in ("P-7", "completed", "SIMULATED", "charge", "pain rest", "skin irritation"):
        assert text in shown.out, text
    data = json.loads(cli("sessions", "show", "2", "--json").out)
    assert data["targets_ma"] == {"1": 18.0} and data["dose"][0]["peak_ma"] == pytest.approx(18)
    patient = cli("patients", "show", "P-7", "--include-simulated")  # sim:// sessions
    assert patient.code == 0 and "6 → 3" in patient.out
    assert "intensity trend: needs 3 stimulated sessions" in patient.err  # simulated, minutes apart
    trend = json.loads(cli("patients", "show", "P-7", "--json", "--include-simulated").out)
    assert len(trend["sessions"]) == 2 and trend["sessions"][1]["pain_rest_change"] == -3
    assert "P-other" in cli("patients", "list", "--include-simulated").out


def test_unknown_ids_are_clear_errors(cli: Any, store_path: Path) -> None:
    missing = cli("sessions", "show", "99")
    assert missing.code == 3 and "no session 99" in missing.err
    assert cli("patients", "show", "nobody").code == 3
    both = cli("sessions", "export", "1", "--patient", "P-7")
    assert both.code == 2 and "one of them" in both.err
    assert cli("sessions", "export", "1", "--format", "xml").code == 2


def test_exports_to_files_read_back(cli: Any, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "p7.json"
    assert cli("sessions", "export", "--patient", "P-7", "-o", str(out)).code == 0
    sessions = export.read_json(out.read_text())
    assert [h["id"] for h, _ in sessions] == [1, 2]
    csv_out = cli("sessions", "export", "1", "--format", "csv")
    rows = export.read_csv(csv_out.out)
    assert rows[0]["seq"] == 1 and {r["session_id"] for r in rows} == {1}
    assert rows == sessions[0][1]


def test_verify_names_the_first_changed_record(cli: Any, store_path: Path) -> None:
    ok = cli("sessions", "verify")
    assert ok.code == 0 and "intact: 3 sessions" in ok.out
    conn = sqlite3.connect(store_path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET elapsed_s = elapsed_s + 1 WHERE session_id = 2 AND seq = 7")
    conn.commit()
    conn.close()
    bad = cli("sessions", "verify")
    assert bad.code == 10
    assert "first bad record: session 2 event 7" in bad.err
    assert bad.out.splitlines()[0].startswith("session 2 event 7: hash mismatch")
    assert bad.out.splitlines()[-1].startswith("TAMPERED: 1 problem(s) in 3 sessions")


def test_verify_puts_the_result_on_stdout_and_fails_on_a_cut_session(
    cli: Any, store_path: Path
) -> None:
    ok = cli("sessions", "verify")
    assert ok.code == 0 and ok.err == ""
    assert ok.out.splitlines()[-1].startswith("intact: 3 sessions, ")
    assert "3 seals; every chain and seal intact" in ok.out
    data = json.loads(cli("sessions", "verify", "--json").out)
    assert data["ok"] and data["seals"] == 3 and data["findings"] == []
    assert data["status"] == {"1": "ended", "2": "ended", "3": "ended"}
    cut_tail(store_path, 2, 3)
    bad = cli("sessions", "verify")
    assert bad.code == 10 and "first bad record: session 2" in bad.err
    assert "session 2: truncated: sealed with" in bad.out and "TAMPERED" in bad.out
    data = json.loads(cli("sessions", "verify", "--json").out)
    assert not data["ok"] and data["status"]["2"] == "tampered"
    assert {f["session"] for f in data["findings"]} == {2}


def test_anchor_then_verify_against_it_finds_the_newest_session_removed(
    cli: Any, store_path: Path, tmp_path: Path
) -> None:
    taken = cli("sessions", "anchor")
    assert taken.code == 0 and "keep it outside the store" in taken.err
    (line,) = taken.out.splitlines()
    assert json.loads(line)["sessions"] == 3 and json.loads(line)["seals"] == 3
    kept = tmp_path / "anchors.jsonl"
    kept.write_text(line + "\n")
    held = cli("sessions", "verify", "--anchor", str(kept))
    assert held.code == 0 and f"anchor {kept}:1 of " in held.out and ": holds" in held.out
    remove_session(store_path, 3)
    assert cli("sessions", "verify").code == 0  # the store alone: a valid shorter chain
    bad = cli("sessions", "verify", "--anchor", str(kept))
    assert bad.code == 10
    assert "first bad record: session 3: missing: anchor" in bad.err
    assert "sessions were removed" in bad.out and "does NOT hold" in bad.out
    data = json.loads(cli("sessions", "verify", "--anchor", str(kept), "--json").out)
    assert [a["holds"] for a in data["anchors"]] == [False]


def test_verify_reads_an_anchor_from_stdin(
    cli: Any, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = cli("sessions", "anchor").out
    monkeypatch.setattr(sys, "stdin", io.StringIO(line))
    held = cli("sessions", "verify", "--anchor", "-")
    assert held.code == 0 and "anchor <stdin>:1" in held.out


def test_bad_anchor_files_are_input_errors(cli: Any, store_path: Path, tmp_path: Path) -> None:
    missing = cli("sessions", "verify", "--anchor", str(tmp_path / "none.jsonl"))
    assert missing.code == 3 and "cannot read the anchor" in missing.err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "tensctl-anchor/1", "sessions": "3"}\n')
    said = cli("sessions", "verify", "--anchor", str(bad))
    assert said.code == 3 and f"{bad}:1: 'sessions' must be a whole number" in said.err
    assert said.out == ""


def test_a_store_that_does_not_verify_is_not_anchored(cli: Any, store_path: Path) -> None:
    cut_tail(store_path, 1, 2)
    refused = cli("sessions", "anchor")
    assert refused.code == 10 and refused.out == ""
    assert "not anchored" in refused.err and "session 1" in refused.err


def test_anchor_and_verify_help_say_what_an_anchor_is(cli: Any) -> None:
    assert "OUTSIDE" in cli("sessions", "anchor", "--help").out
    assert "--anchor" in cli("sessions", "verify", "--help").out


def test_anchor_piped_to_verify_as_processes(store_path: Path) -> None:
    """Data on stdout, diagnostics on stderr: an anchor pipes into verify."""
    run = [sys.executable, "-m", "tensctl", "sessions"]
    taken = subprocess.run([*run, "anchor"], capture_output=True, text=True, timeout=60)
    assert taken.returncode == 0 and taken.stdout.count("\n") == 1
    assert "keep it outside" in taken.stderr and "keep" not in taken.stdout
    checked = subprocess.run(
        [*run, "verify", "--anchor", "-"],
        input=taken.stdout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "holds" in checked.stdout and "intact: 3 sessions" in checked.stdout
    assert checked.stderr == ""


def test_outcomes_can_be_added_later_and_are_validated(cli: Any, store_path: Path) -> None:
    before = cli("sessions", "outcomes", "3", "--before", "pain_rest=5,pain_movement=6,fatigue=2")
    assert before.code == 3 and "already recorded" in before.err  # record_session gave them
    bad = cli("sessions", "outcomes", "3", "--after", "pain_rest=12,pain_movement=2,fatigue=0")
    assert bad.code == 3 and "pain_rest: expected a number from 0 to 10, found '12'" in bad.err
    missing = cli("sessions", "outcomes", "3", "--after", "pain_rest=1,tiredness=2")
    assert missing.code == 3
    assert "tiredness: not an outcome measure" in missing.err  # (the rest kept: an amendment)
    for framework in ("Field required", "Extra inputs", "<argument>", "Value error"):
        assert framework not in missing.err + bad.err
    other = cli(
        "sessions",
        "outcomes",
        "3",
        "--after",
        "pain_rest=1,pain_movement=2,fatigue=0,adverse_events=other,adverse_note=",
        "--reason",
        "typo",
    )
    assert other.code == 3 and "adverse_note" in other.err
    assert cli("sessions", "verify").code == 0


def test_outcomes_given_again_are_an_amendment_with_a_reason(cli: Any, store_path: Path) -> None:
    """The first value stays in the chain; the amendment names it and why; show gives the
    latest and says it was amended; verify passes."""
    again = "pain_rest=1,pain_movement=2,fatigue=0"
    refused = cli("sessions", "outcomes", "3", "--after", again)
    assert refused.code == 3 and "give the reason for the amendment" in refused.err
    added = cli("sessions", "outcomes", "3", "--after", again, "--reason", "entered for P-7")
    assert added.code == 0 and "amended (entered for P-7)" in added.err
    data = json.loads(cli("sessions", "show", "3", "--json").out)
    after = data["outcomes"]["after"]
    assert (after["pain_rest"], after["reason"]) == (1, "entered for P-7")
    export_ = json.loads(cli("sessions", "export", "3").out)
    outcomes = [e for e in export_["sessions"][0]["events"] if e["kind"] == "outcome"]
    first_after = next(e for e in outcomes if e["data"]["when"] == "after")
    assert first_after["data"]["pain_rest"] == 3  # the earlier value is still there
    assert outcomes[-1]["data"]["amends"] == first_after["seq"]
    text = cli("sessions", "show", "3").out
    assert "after (amended)" in text and "    reason: entered for P-7" in text
    assert re.search(r"\n change +−5 \(−83%\) +−6 \(−75%\) +−4 \(−100%\) +— +—", text)
    assert cli("sessions", "verify").code == 0
    nothing = cli("sessions", "outcomes", "3", "--before", again, "--reason", "x")
    assert nothing.code == 0  # before outcomes were recorded too: amended


def test_an_amendment_keeps_what_it_does_not_name(cli: Any, store_path: Path) -> None:
    """Correcting one rating never drops a recorded adverse event (found by a review: the
    amendment replaced the whole set, and show lost the skin irritation)."""
    first = "pain_rest=3,pain_movement=4,fatigue=2,adverse_events=skin_irritation,adverse_note=red"
    assert cli("sessions", "outcomes", "3", "--after", first, "--reason", "on paper").code == 0
    fixed = cli("sessions", "outcomes", "3", "--after", "pain_rest=1", "--reason", "typo")
    assert fixed.code == 0, fixed.err
    after = json.loads(cli("sessions", "show", "3", "--json").out)["outcomes"]["after"]
    assert after["pain_rest"] == 1 and after["pain_movement"] == 4
    assert after["adverse_events"] == ["skin_irritation"] and after["adverse_note"] == "red"


def test_run_records_the_session_in_the_named_store(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite3"
    result = cli(
        "run",
        str(SHORT),  # six seconds in real time: a scaled clock shrinks the watchdogs' margins
        "--yes",
        "--no-outcomes",
        "--patient",
        "P-3",
        "--db",
        str(db),
        "--operator",
        "dr-a",
    )
    assert result.code == 0, result.err
    assert "recorded as session 1" in result.err
    rows = json.loads(cli("sessions", "list", "--db", str(db), "--json").out)
    assert rows[0]["patient"] == "P-3" and rows[0]["end_reason"] == "completed"
    shown = json.loads(cli("sessions", "show", "1", "--db", str(db), "--json").out)
    assert shown["session"]["operator"] == "dr-a"


def test_patients_show_the_last_titration_and_ceiling(cli: Any, _session_store: Path) -> None:
    thresholds = {1: {"ST": 4, "SC1": 10, "N": 22, "SC2": 16}}
    record_session(_session_store, patient="P-tit", seconds=3, thresholds=thresholds)
    shown = cli("patients", "show", "P-tit", "--include-simulated")
    assert shown.code == 0
    assert (
        "last titration on the simulator (session 1), channel 1: ST 4, SC1 10, N 22, SC2 16 mA"
        in (shown.out)
    )
    data = json.loads(cli("patients", "show", "P-tit", "--json", "--include-simulated").out)
    assert data["last_titration"]["ceilings_ma"]["1"] <= 22  # the noxious level caps it


def test_report_command_writes_the_file(cli: Any, store_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "s2.html"
    done = cli("sessions", "report", "2", "-o", str(out))
    assert done.code == 0, done.err
    assert "<svg" in out.read_text() and "Brief-intense TENS" in out.read_text()
    bad = cli("sessions", "report", "2", "-o", str(tmp_path / "s2.docx"))
    assert bad.code == 2 and ".html, .pdf, .png, .svg" in bad.err


def test_reading_a_store_that_is_not_there_is_an_error(cli: Any, tmp_path: Path) -> None:
    typo = tmp_path / "typo" / "nothere.sqlite3"
    for args in (("sessions", "verify"), ("sessions", "list"), ("patients", "show", "P-1")):
        done = cli(*args, "--db", str(typo))
        assert done.code == 9 and "no session store there" in done.err
    assert not typo.parent.exists()


def test_outcomes_wait_for_the_session_to_end(cli: Any, _session_store: Path) -> None:
    import tensctl

    with (
        tensctl.connect("sim://", virtual=True, journal=_session_store) as dev,
        dev.session("brief-intense", intensity=15, screened=True) as s,
    ):
        s.run_for(3)
        done = cli(
            "sessions",
            "outcomes",
            str(s.record_id),
            "--after",
            "pain_rest=1,pain_movement=1,fatigue=1",
        )
        assert done.code == 3 and "has not ended" in done.err
        assert s.run_for(1).value in ("ramping_up", "stimulating")  # the record undisturbed
    assert cli("sessions", "verify").code == 0


def test_stored_text_is_shown_as_text(cli: Any, _session_store: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("TENSCTL_OPERATOR", "dr [/]x [bold]")
    record_session(_session_store, seconds=2)
    shown = cli("sessions", "show", "1")
    assert shown.code == 0 and "dr [/]x [bold]" in shown.out


def test_export_errors_are_clear(cli: Any, store_path: Path, tmp_path: Path) -> None:
    nowhere = cli("sessions", "export", "1", "-o", str(tmp_path / "no" / "dir" / "x.json"))
    assert nowhere.code == 3 and "cannot write" in nowhere.err
    nobody = cli("sessions", "export", "--patient", "P-nobody")
    assert nobody.code == 3 and "P-nobody" in nobody.err


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("completed", "completed"),
        ("stopped_by_user", "stopped by the operator"),
        ("emergency_stop", "emergency stop"),
        ("fault:open_circuit", "fault: an electrode came off or lost contact (open circuit)"),
        ("fault:some_new_rule", "fault: some new rule"),
        ("interrupted", "interrupted: the program stopped before the session was closed"),
        (None, "still open"),
        ("refused: no device", "refused before stimulating: no device"),
        ("ended in state paused", "ended in state paused"),
    ],
)
def test_end_reasons_read_as_words(code: str | None, words: str) -> None:
    from tensctl.journal.summary import end_reason_words

    assert end_reason_words(code) == words


def test_a_fault_the_device_reported_is_said_by_what_it_found() -> None:
    """The electrode-off a RehaStim2 or the simulator reports arrives as rule
    ``device_fault`` with the driver's flag names: said in words, never ``open_circuit``."""
    from tensctl.journal.summary import fault_label, fault_words, session_end_words

    reported = {"rule": "device_fault", "message": "channel 1 reported open_circuit, peel"}
    said = fault_words(reported)
    assert said == (
        "channel 1: an electrode came off or lost contact (open circuit); an electrode "
        "peeling off (impedance rising), as the device reported"
    )
    events = [{"kind": "fault", "data": reported}]
    assert session_end_words("fault:device_fault", events) == f"fault: {said}"
    assert session_end_words("fault:device_fault", []) == "fault: the device reported a fault"
    assert fault_label(reported) == "electrode off"
    assert fault_words({"rule": "over_current", "message": "channel 2: 31 mA"}) == (
        "current above the allowed limit; channel 2: 31 mA"
    )
    odd = {"rule": "device_fault", "message": "device reported something_new"}
    assert fault_words(odd) == "device: something new, as the device reported"


def test_a_note_and_a_correction_show_export_and_verify(
    cli: Any, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        _note_and_correction(cli, store_path)
    finally:
        monkeypatch.undo()
        time.tzset()


def _note_and_correction(cli: Any, store_path: Path) -> None:
    noted = cli("sessions", "note", "last", "redness gone after 10 min", "--operator", "dr-a")
    assert noted.code == 0 and noted.out == ""
    assert "note added to session 3 (event" in noted.err
    fixed = cli(
        "sessions",
        "outcomes",
        "3",
        "--after",
        "pain_rest=1",
        "--reason",
        "re-rated",
        "--operator",
        "dr-b",
    )
    assert fixed.code == 0, fixed.err
    text = cli("sessions", "show", "3").out
    notes = text.split("\nnotes\n", 1)[1]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T"  # New York's local time, its zone named
    assert re.search(rf"^  {stamp}  dr-a: redness gone after 10 min$", notes, re.M)
    corrections = text.split("\ncorrections\n", 1)[1]
    assert re.search(rf"^  {stamp}  dr-b, outcomes after: pain at rest 3 → 1$", corrections, re.M)
    assert "    reason: re-rated" in corrections
    data = json.loads(cli("sessions", "show", "3", "--json").out)
    (note,) = data["notes"]
    assert (note["operator"], note["text"]) == ("dr-a", "redness gone after 10 min")
    assert note["time_utc"].endswith("+00:00")  # stored and given in UTC
    (correction,) = data["corrections"]
    assert correction["changes"] == [{"measure": "pain_rest", "from": 3, "to": 1}]
    assert (correction["when"], correction["reason"]) == ("after", "re-rated")
    assert correction["amends"] < correction["seq"]
    row = json.loads(cli("sessions", "export", "--per-session", "3", "--include-simulated").out)[
        "sessions"
    ][0]
    assert (row["notes_count"], row["amended"]) == (1, True)
    (noted_row,) = row["notes"]
    assert (noted_row["text"], noted_row["operator"]) == ("redness gone after 10 min", "dr-a")
    assert noted_row["time_utc"] == note["time_utc"]
    assert row["pain_rest_after"] == 1 and row["pain_rest_change"] == -5
    table = cli(
        "sessions", "export", "--per-session", "3", "--include-simulated", "--format", "csv"
    )
    (cells,) = csv.DictReader(io.StringIO(table.out))
    assert cells["notes"] == "redness gone after 10 min (dr-a)" and cells["amended"] == "true"
    assert "pain_rest 3 -> 1; reason: re-rated; by dr-b" in cells["corrections"]
    events = json.loads(cli("sessions", "export", "3").out)["sessions"][0]
    assert [n["text"] for n in events["summary"]["notes"]] == ["redness gone after 10 min"]
    page = store_path.parent / "report.html"
    made = cli("sessions", "report", "3", "-o", str(page))
    assert made.code == 0, made.err
    html = page.read_text(encoding="utf-8")
    assert "redness gone after 10 min" in html and "dr-a" in html
    assert "re-rated" in html and "dr-b" in html and "FAILS VERIFICATION" not in html
    ok = cli("sessions", "verify")
    assert ok.code == 0 and ok.out.splitlines()[-1].startswith("intact: 3 sessions")
    conn = sqlite3.connect(store_path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute(
        "UPDATE events SET data = replace(data, 'gone', 'worse') WHERE session_id = 3 "
        "AND kind = 'note'"
    )
    conn.commit()
    conn.close()
    bad = cli("sessions", "verify")
    assert bad.code == 10
    assert f"first bad record: session 3 event {note['seq']}" in bad.err
    assert bad.out.splitlines()[0].startswith(f"session 3 event {note['seq']}: hash mismatch")
    # the report of a changed record says so at its top, and exits as verify does
    told = cli("sessions", "report", "3", "-o", str(page))
    assert told.code == 10 and "fails verification" in told.err
    html = page.read_text(encoding="utf-8")
    assert html.index("THIS RECORD FAILS VERIFICATION") < html.index("<h1>")
    assert f"event {note['seq']} hash mismatch" in html
    assert cli("sessions", "report", "2", "-o", str(page)).code == 0  # the others still hold


def test_notes_are_refused_where_they_cannot_go(cli: Any, _session_store: Path) -> None:
    import tensctl

    record_session(_session_store, seconds=2)
    empty = cli("sessions", "note", "1", "  ")
    assert empty.code == 3 and "a note needs some text" in empty.err
    with (
        tensctl.connect("sim://", virtual=True, journal=_session_store) as dev,
        dev.session("brief-intense", intensity=15, screened=True) as s,
    ):
        s.run_for(2)
        running = cli("sessions", "note", "last", "too early")
        assert running.code == 3 and "add outcomes or notes once it has" in running.err
    for bad in ("first", "-1", "0", "2.5"):
        said = cli("sessions", "note", bad, "text")
        assert said.code in (2, 3) and said.out == ""
        assert "session number or 'last'" in said.err or "No such option" in said.err
    assert (
        cli("sessions", "note", "99", "text")
        .err.strip()
        .endswith("no session 99 in " + str(_session_store))
    )


def test_list_is_newest_first_limited_and_says_so(cli: Any, _session_store: Path) -> None:
    for patient in ("P-1", "P-2", "P-1"):
        record_session(_session_store, seconds=2, patient=patient)
    listed = cli("sessions", "list", "--limit", "2")
    ids = [line.split()[0] for line in listed.out.splitlines()[1:]]
    assert listed.code == 0 and ids == ["3", "2"]
    assert "showing 2 of 3; --limit 0 for all" in listed.err
    assert "showing" not in listed.out
    zone = time.strftime("%Z")  # local time to the minute, the zone in the heading
    assert listed.out.splitlines()[0].split()[:3] == ["id", "started", f"({zone})"]
    assert re.match(r" 3  \d{4}-\d\d-\d\d \d\d:\d\d  P-1 ", listed.out.splitlines()[1])
    everything = cli("sessions", "list", "--limit", "0")
    assert [line.split()[0] for line in everything.out.splitlines()[1:]] == ["3", "2", "1"]
    assert "showing" not in everything.err
    one = json.loads(cli("sessions", "list", "--patient", "P-1", "--json", "--limit", "1").out)
    assert [r["id"] for r in one] == [3] and one[0]["started_utc"].endswith("+00:00")
    bad = cli("sessions", "list", "--limit", "-3")
    assert bad.code == 2 and "--limit takes a number of sessions, or 0 for all" in bad.err
    assert "no sessions recorded for patient P-9" in cli("sessions", "list", "--patient", "P-9").err


def test_show_last_is_the_newest_and_says_how_it_ended(cli: Any, store_path: Path) -> None:
    last = cli("sessions", "show", "last")
    assert last.code == 0 and last.out == cli("sessions", "show", "3").out
    assert last.out.startswith("session 3 ")
    assert "SIMULATED  on a simulator" in last.out.splitlines()[1]
    assert "\nend        stopped by the operator\nlength     0.1 min (" in last.out
    assert "stopped_by_user" not in last.out
    assert (
        "\nend        completed\nlength     15.1 min "
        "(15.0 min in stimulation, what the daily cap counts)" in cli("sessions", "show", "2").out
    )
    word = cli("sessions", "show", "newest")
    assert word.code == 3 and "ID: expected a session number or 'last', found 'newest'" in word.err


def test_session_id_of(store_path: Path, tmp_path: Path) -> None:
    from tensctl.cli.sessions import session_id_of
    from tensctl.errors import InputError
    from tensctl.journal.store import Store

    with Store(store_path) as store:
        assert session_id_of("last", store) == 3 and session_id_of(" LAST ", store) == 3
        assert session_id_of("2", store) == 2
        for bad, said in (("4", "no session 4"), ("x", "found 'x'"), ("0", "found '0'")):
            with pytest.raises(InputError, match=said):
                session_id_of(bad, store)
    with Store(tmp_path / "empty.sqlite3") as empty, pytest.raises(InputError, match="no sessions"):
        session_id_of("last", empty)


def test_verify_result_kept_in_a_file_and_diagnostics_apart(
    store_path: Path, tmp_path: Path
) -> None:
    """`tensctl sessions verify > proof.txt` keeps the result; every sessions command puts
    its data on stdout and what it says about it on stderr (processes, as a shell runs them)."""
    run = [sys.executable, "-m", "tensctl", "sessions"]
    proof = tmp_path / "proof.txt"
    with proof.open("w") as stdout:
        done = subprocess.run(
            [*run, "verify"], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60
        )
    assert done.returncode == 0 and done.stderr == ""
    assert proof.read_text().splitlines()[-1].startswith("intact: 3 sessions, ")
    listed = subprocess.run(
        [*run, "list", "--limit", "1"], capture_output=True, text=True, timeout=60
    )
    assert listed.stdout.count("\n") == 2 and "showing 1 of 3" in listed.stderr
    exported = subprocess.run(
        [*run, "export", "--per-session", "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.stdout.splitlines()[0].startswith("session_id,patient,")
    assert "the 3 session(s) asked for were on the simulator" in exported.stderr
    assert "simulator" not in exported.stdout
