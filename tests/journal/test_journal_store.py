"""The session store: records written as a session runs, hash chains that expose edits,
interrupted sessions marked, migrations, exports that read back, the delivered dose."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tensctl
from tensctl.errors import InputError, SafetyRefused, StoreError
from tensctl.journal import export, schema
from tensctl.journal.dose import delivered_dose
from tensctl.journal.store import Store
from tensctl.journal.summary import intensity_trend_ma_per_week, summarise
from tensctl.journal.verify import verify

BEFORE = {"pain_rest": 6, "pain_movement": 8, "fatigue": 4}
AFTER = {
    "pain_rest": 3,
    "pain_movement": 5,
    "fatigue": 4,
    "adverse_events": ["skin_irritation"],
    "adverse_note": "redness under electrode 1",
}


def record_session(
    db: Path, protocol: str = "brief-intense", seconds: float | None = None, **session: Any
) -> int:
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        options: dict[str, Any] = {
            "patient": "P-7",
            "intensity": 15,
            "screened": True,
            "outcomes_before": BEFORE,
            **session,
        }
        with dev.session(protocol, **options) as s:
            if seconds is None:
                s.run()
            else:
                s.run_for(seconds)
                s.stop()
                s.run()
            s.record_outcomes(after=AFTER)
            assert s.record_id is not None
            return s.record_id


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    db = tmp_path_factory.mktemp("journal") / "s.sqlite3"
    return db, record_session(db)


def test_a_completed_session_is_recorded_with_header_events_dose_and_outcomes(
    recorded: tuple[Path, int],
) -> None:
    db, sid = recorded
    with Store(db) as store:
        header, events = store.session(sid), store.events(sid)
    assert header["patient_id"] == "P-7" and header["protocol_id"] == "brief-intense"
    assert header["end_reason"] == "completed" and header["simulated"] == 1
    assert header["device_model"] and header["firmware"] and header["operator"]
    assert json.loads(header["protocol_json"])["id"] == "brief-intense"
    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["record", "screening", "outcome"] and kinds[-1] == "closed"
    assert {"state", "phase", "setpoint", "telemetry", "checked", "end"} <= set(kinds)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    summary = summarise(header, events)
    assert summary["outcomes"]["before"]["pain_rest"] == 6
    assert summary["outcomes"]["after"]["adverse_events"] == ["skin_irritation"]
    (dose,) = summary["dose"]
    # brief-intense: 15 mA; stimulated for about its length, at target most of it
    assert dose["peak_ma"] == pytest.approx(15, abs=0.2)
    assert 0.8 * summary["duration_s"] / 60 < dose["stimulated_min"] <= summary["duration_s"] / 60
    assert dose["at_target_min"] > 0.8 * dose["stimulated_min"]
    assert dose["charge_uc"] > 0 and dose["pulses"] > 0


def test_verify_passes_an_untouched_store_and_names_an_edited_event(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    first, second = record_session(db, seconds=5), record_session(db, seconds=5)
    with Store(db) as store:
        result = verify(store)
        assert result.ok and result.sessions == 2 and result.events > 20
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET data = '{}' WHERE session_id = ? AND seq = 5", (first,))
    conn.execute("DROP TRIGGER events_no_update")  # a determined editor
    conn.execute(
        "UPDATE events SET data = replace(data, '15', '5') "
        "WHERE session_id = ? AND kind = 'checked'",
        (second,),
    )
    conn.commit()
    seq = conn.execute(
        "SELECT seq FROM events WHERE session_id = ? AND kind = 'checked'", (second,)
    ).fetchone()[0]
    conn.close()
    with Store(db) as store:
        result = verify(store)
    assert not result.ok
    assert (result.findings[0].session_id, result.findings[0].seq) == (second, seq)
    assert "changed" in result.findings[0].message


@pytest.mark.parametrize(
    ("sql", "expect"),
    [
        ("UPDATE sessions SET patient_id = 'P-8' WHERE id = 1", "header hash mismatch"),
        ("UPDATE sessions SET end_reason = 'completed' WHERE id = 1", "changed in the header"),
        ("DELETE FROM events WHERE session_id = 1 AND seq = 3", "missing"),
        ("UPDATE sessions SET protocol_json = '{}' WHERE id = 1", "protocol text"),
    ],
)
def test_verify_catches_every_kind_of_edit(tmp_path: Path, sql: str, expect: str) -> None:
    db = tmp_path / "s.sqlite3"
    record_session(db, seconds=3)
    conn = sqlite3.connect(db)
    for trigger in ("events_no_delete", "sessions_end_once"):
        conn.execute(f"DROP TRIGGER {trigger}")
    if "end_reason" in sql:
        conn.execute("UPDATE sessions SET end_reason = NULL WHERE id = 1")
        sql = "UPDATE sessions SET end_reason = 'completed', ended_utc = 'x' WHERE id = 1"
    conn.execute(sql)
    conn.commit()
    conn.close()
    with Store(db, mark_interrupted=False) as store:
        findings = verify(store).findings
    assert findings and any(expect in f.message for f in findings), findings


def test_a_session_of_a_dead_process_is_marked_interrupted_on_next_open(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    code = (
        "import os, tensctl\n"
        f"dev = tensctl.connect('sim://', virtual=True, journal={str(db)!r})\n"
        "s = dev.session('brief-intense', intensity=15, screened=True)\n"
        "s.run_for(30)\n"
        "os._exit(9)\n"  # no close, no end record: as if killed
    )
    subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT end_reason FROM sessions").fetchone() == (None,)
    conn.close()
    with Store(db) as store:
        header, events = store.sessions()[0], store.events(1)
        assert header["end_reason"] == "interrupted"
        assert events[-1]["kind"] == "closed"
        assert header["ended_utc"] == events[-2]["time_utc"]  # when it last wrote
        assert verify(store).ok


def test_the_open_session_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session("brief-intense", intensity=15, screened=True) as s,
    ):
        s.run_for(2)
        assert Store(db).mark_interrupted() == []
    with Store(db) as store:
        assert store.sessions()[0]["end_reason"] == "emergency_stop"


def test_a_refused_session_is_recorded_as_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with tensctl.connect("sim://", virtual=True, journal=db) as dev, pytest.raises(SafetyRefused):
        dev.session("brief-intense", intensity=15, screened=False)
    with Store(db) as store:
        (header,) = store.sessions()
        assert header["end_reason"].startswith("refused: contraindication screening")
        screening = [e for e in store.events(1) if e["kind"] == "screening"]
        assert screening[0]["data"]["confirmed"] is False


def test_a_store_that_cannot_be_written_stops_the_session(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session("brief-intense", intensity=15, screened=True) as s,
    ):
        s.run_for(5)
        assert s.recorder is not None
        s.recorder.writer.store.conn.execute("PRAGMA query_only = ON")  # writes now fail
        state = s.run_for(30)  # (virtual time: set-points wait for the next state change)
        assert state.value == "fault" and "record" in s.fault_detail
        assert dev.driver.telemetry()[1].commanded_ma == 0


def test_a_newer_store_is_refused_and_an_older_one_migrated(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(db)
    conn = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    assert schema.migrate(conn, schema.MIGRATIONS) == 0
    latest = len(schema.MIGRATIONS)
    later = (*schema.MIGRATIONS, "ALTER TABLE patients ADD COLUMN note TEXT;")
    assert schema.migrate(conn, later) == latest
    assert schema.version(conn) == latest + 1
    conn.execute("INSERT INTO patients (id, created_utc, note) VALUES ('P', 't', 'n')")
    broken = (*later, "CREATE TABLE patients (x);")
    with pytest.raises(StoreError, match=f"version {latest + 2}"):
        schema.migrate(conn, broken)
    assert schema.version(conn) == latest + 1


def test_an_unopenable_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot open the session store"):
        Store(tmp_path / "file" / "s.sqlite3")


def test_json_and_csv_exports_read_back_to_the_stored_rows(recorded: tuple[Path, int]) -> None:
    db, sid = recorded
    with Store(db) as store:
        header, raw = store.session(sid), store.events(sid, raw=True)
        ((back_header, back_events),) = export.read_json(export.to_json(store, [sid]))
        assert back_header == header and back_events == raw
        assert export.read_csv(export.to_csv(store, [sid])) == raw
    with pytest.raises(InputError, match="not a tensctl-sessions/1 export"):
        export.read_json('{"format": "x"}')
    with pytest.raises(InputError, match="expected columns"):
        export.read_csv("a,b\n1,2\n")


def test_dose_counts_charge_across_a_device_reboot_and_skips_gaps() -> None:
    def tele(t: float, charge: float, pulses: int, ma: float = 10.0) -> dict[str, Any]:
        reading = {
            "delivered_ma": ma,
            "state": "on",
            "target_ma": 10.0,
            "charge_uc": charge,
            "pulses": pulses,
        }
        return {"kind": "telemetry", "elapsed_s": t, "data": {"channels": {"1": reading}}}

    events = [tele(0, 100, 10), tele(1, 200, 20), tele(2, 50, 5, ma=5), tele(10, 150, 15)]
    (dose,) = delivered_dose(events)
    assert dose.charge_uc == 100 + 50 + 100 and dose.pulses == 10 + 5 + 10
    assert dose.stimulated_min == pytest.approx((1 + 1 + 2) / 60, abs=1e-4)  # gap capped at 2 s
    assert dose.at_target_min == pytest.approx(2 / 60, abs=1e-4)
    assert dose.mean_ma == pytest.approx((10 + 10 + 5 * 2) / 4)
    assert dose.peak_ma == 10


def test_dose_of_a_device_that_does_not_measure_current_is_what_was_commanded() -> None:
    """Hasomed devices report no measured current: the summary says ``measured: false``
    and the dose counts the commanded amplitude, not 0 mA."""
    reading = {
        "commanded_ma": 12.0,
        "delivered_ma": None,
        "measured": False,
        "state": "on",
        "target_ma": 12.0,
        "charge_uc": 0.0,
        "pulses": 0,
    }
    events = [
        {"kind": "telemetry", "elapsed_s": t, "data": {"channels": {"1": reading}}} for t in (0, 1)
    ]
    (dose,) = delivered_dose(events)
    assert dose.mean_ma == 12.0 and dose.peak_ma == 12.0
    assert dose.stimulated_min == pytest.approx(1 / 60, abs=1e-4)


def test_intensity_trend_is_the_slope_per_week() -> None:
    def summary(day: int, ma: float) -> dict[str, Any]:
        dose = [{"stimulated_min": 30, "mean_ma": ma}]
        return {"started_utc": f"2026-11-{day:02d}T10:00:00+00:00", "dose": dose}

    assert intensity_trend_ma_per_week([summary(1, 10), summary(8, 13), summary(15, 16)]) == 3
    assert intensity_trend_ma_per_week([summary(1, 10)]) is None
    assert intensity_trend_ma_per_week([summary(1, 10), summary(8, 13)]) is None  # 2 sessions
    assert intensity_trend_ma_per_week([summary(1, 10), summary(2, 13), summary(3, 16)]) is None
    simulated = [{**summary(d, 10 + d), "simulated": True} for d in (1, 8, 15)]
    assert intensity_trend_ma_per_week(simulated) is None  # not a patient's tolerance


def test_outcomes_out_of_range_are_named(tmp_path: Path) -> None:
    with tensctl.connect("sim://", virtual=True, journal=tmp_path / "s.sqlite3") as dev:
        bad = {"pain_rest": 11, "pain_movement": 3, "fatigue": -1, "adverse_events": ["itch"]}
        with pytest.raises(InputError) as caught:
            dev.session("brief-intense", intensity=15, screened=True, outcomes_before=bad)
    text = str(caught.value)
    assert "pain_rest" in text and "fatigue" in text and "adverse_events" in text
    assert "outcomes_before" in text


def test_the_default_store_follows_tensctl_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENSCTL_DB", str(tmp_path / "env.sqlite3"))
    with Store() as store:
        assert store.path == tmp_path / "env.sqlite3"
    monkeypatch.delenv("TENSCTL_DB")
    from tensctl.journal.store import default_path

    assert default_path().name == "sessions.sqlite3" and "tensctl" in str(default_path())
    assert os.environ.get("TENSCTL_DB") is None


def test_a_stalled_store_does_not_hold_up_real_time_writes_and_is_reported(
    tmp_path: Path,
) -> None:
    """Another program holds the store's write lock: events queue up without holding up
    the caller (the supervisor's tick), and once the oldest is a second old the writer says
    so (a real-time session faults on it)."""
    import time

    from tensctl.journal.writer import MAX_LAG_S, QueuedWriter

    db = tmp_path / "s.sqlite3"
    store = Store(db)
    header = {
        "patient_id": None,
        "protocol_id": "p",
        "protocol_name": "p",
        "device_url": "u",
        "device_model": "m",
        "device_serial": "s",
        "firmware": "f",
        "simulated": True,
        "operator": "o",
    }
    queued = QueuedWriter(store.open_session(header, "{}"))
    queued.put("state", 0.0, {"state": "ramping_up"})
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for i in range(50):  # would take 50 × 2 s if each waited for its commit
            queued.put("setpoint", i * 0.1, {"channel": 1, "amplitude_ma": 1.0})
        assert queued.problem() is None
        time.sleep(MAX_LAG_S + 0.2)
        assert "behind" in (queued.problem() or "")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    queued.stop()
    store.close()


def test_a_locked_store_faults_a_virtual_session(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session("brief-intense", intensity=15, screened=True) as s,
    ):
        s.run_for(2)
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            state = s.run_for(30)
            assert state.value == "fault" and "record" in s.fault_detail
            assert dev.driver.telemetry()[1].commanded_ma == 0
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()


def test_opening_a_new_store_from_many_processes_at_once(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    code = f"from tensctl.journal.store import Store\nStore({str(db)!r}).close()\n"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert schema.version(sqlite3.connect(db)) == len(schema.MIGRATIONS)


def test_patient_ids_are_pseudonyms(tmp_path: Path) -> None:
    with tensctl.connect("sim://", virtual=True, journal=tmp_path / "s.sqlite3") as dev:
        for bad in ("", "P-[/]1", "Jane Doe", "x" * 65):
            with pytest.raises(InputError, match="pseudonym"):
                dev.session("brief-intense", patient=bad, intensity=15, screened=True)
