"""The daily cap across sessions, from the store: stimulated time read from the records,
counted per local calendar day and per kind of device (simulator or real), held against the
protocol's cap before a session starts — through the API and through ``tensctl run``.

"Today" is injected: records are stamped at chosen instants (the store's clock replaced)
and the day is passed in (``today=``, or the API's day for the CLI), never read from the
wall clock here."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tensctl
import tensctl.api
from tensctl.engine.states import State
from tensctl.errors import SafetyRefused
from tensctl.journal import store as store_module
from tensctl.journal.store import Store
from tensctl.journal.summary import local_day_utc, stimulated_on_day_s, stimulated_s
from tensctl.model.library import find_protocol

DAY = date(2026, 3, 10)
PROTOCOL = "conventional-hf"  # 30 min, daily cap 2 h


def at(day: date, hour: int) -> str:
    """A stamp at ``hour`` local time on ``day``, as the store writes it (UTC)."""
    local = datetime(day.year, day.month, day.day, hour).astimezone()
    return local.astimezone(UTC).isoformat(timespec="microseconds")


@pytest.fixture
def stamp(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store's clock: the next session record starts at ``stamp[0]``."""
    when = [at(DAY, 9)]
    monkeypatch.setattr(store_module, "utc_now", lambda: when[0])
    return when


def write_session(
    db: Path, *, patient: str = "P-1", simulated: bool = True, run_s: float = 1800.0
) -> None:
    """A session record written directly: started, stimulating, ended after ``run_s``."""
    protocol = find_protocol(PROTOCOL)[0]
    header = {
        "patient_id": patient,
        "protocol_id": protocol.id,
        "protocol_name": protocol.name,
        "device_url": "sim://" if simulated else "/dev/ttyUSB0",
        "device_model": "model",
        "device_serial": "serial",
        "firmware": "1",
        "simulated": simulated,
        "operator": "test-operator",
    }
    with Store(db) as store:
        writer = store.open_session(header, protocol.model_dump_json())
        for elapsed, state, previous in (
            (0.0, "ramping_up", "ready"),
            (10.0, "stimulating", "ramping_up"),
            (run_s, "ramping_down", "stimulating"),
            (run_s + 3.0, "completed", "ramping_down"),
        ):
            writer.append("state", elapsed, {"state": state, "previous": previous})
        writer.close("completed", run_s + 3.0)


def run_on_simulator(db: Path, **options: Any) -> tensctl.api.RunningSession:
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        options = {"patient": "P-1", "intensity": 20.0, "screened": True, **options}
        with dev.session(PROTOCOL, **options) as s:
            s.run()
            return s


def test_stimulated_time_is_read_from_the_record() -> None:
    def state(elapsed: float, name: str) -> dict[str, Any]:
        return {"kind": "state", "elapsed_s": elapsed, "data": {"state": name}}

    def other(elapsed: float, kind: str = "telemetry") -> dict[str, Any]:
        return {"kind": kind, "elapsed_s": elapsed, "data": {}}

    completed = [state(0, "ramping_up"), state(10, "stimulating"), state(1800, "ramping_down")]
    assert stimulated_s([*completed, state(1803, "completed"), other(1900)]) == 1800.0
    paused = [state(0, "ramping_up"), state(100, "paused"), state(100, "ramping_up")]
    assert stimulated_s([*paused, state(250, "stopped")]) == 250.0
    reset = [state(0, "ramping_up"), state(300, "fault"), state(0, "ready")]
    assert stimulated_s([*reset, state(0, "ramping_up"), state(200, "ramping_down")]) == 500.0
    cut = [state(0, "ramping_up"), state(10, "stimulating"), other(612.5)]
    assert stimulated_s([*cut, other(612.5, "closed")]) == 612.5  # interrupted: as recorded
    assert stimulated_s([state(0, "titrating"), other(0.0), state(0, "ready")]) == 0.0


def test_recorded_sessions_count_what_the_engine_ran(tmp_path: Path, stamp: list[str]) -> None:
    db = tmp_path / "s.sqlite3"
    run_on_simulator(db)
    since, until = local_day_utc(DAY)
    with Store(db) as store:
        records = store.stimulation_between("P-1", since, until)
        assert [r["simulated"] for r in records] == [True]
        assert stimulated_s(records[0]["events"]) == pytest.approx(1800.0, abs=0.01)
        assert stimulated_s(store.events(records[0]["id"])) == stimulated_s(records[0]["events"])
        assert store.stimulation_between("P-1", *local_day_utc(DAY + timedelta(days=1))) == []
        assert store.stimulation_between("P-2", since, until) == []
    assert stimulated_on_day_s(records, simulated=True) == 1800.0
    assert stimulated_on_day_s(records, simulated=False) == 0.0


def test_the_local_day_runs_from_local_midnight_to_midnight() -> None:
    since, until = local_day_utc(DAY)
    first = datetime.fromisoformat(since).astimezone()
    after = datetime.fromisoformat(until).astimezone()
    assert (first.date(), first.hour, first.minute) == (DAY, 0, 0)
    assert (after.date(), after.hour) == (DAY + timedelta(days=1), 0)
    assert since <= at(DAY, 0) < at(DAY, 23) < until <= at(DAY + timedelta(days=1), 0)


def test_the_sixth_half_hour_today_is_refused_yesterday_and_real_sessions_apart(
    tmp_path: Path, stamp: list[str], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.sqlite3"
    stamp[0] = at(DAY - timedelta(days=1), 10)
    write_session(db)
    write_session(db)  # yesterday: 60 min on the simulator
    stamp[0] = at(DAY, 8)
    write_session(db, simulated=False)  # today on a real device: not the simulator's
    write_session(db)
    write_session(db)  # 60 min on the simulator today
    stamp[0] = at(DAY, 11)
    third = run_on_simulator(db, today=DAY)  # 90 min then: allowed
    fourth = run_on_simulator(db, today=DAY)  # 120 min: exactly the cap
    assert third.end_reason == fourth.end_reason == "completed"
    assert fourth.shortened is None
    with pytest.raises(SafetyRefused, match="0 min left"):
        run_on_simulator(db, today=DAY, until_cap=True)  # nothing left to end at
    # the sixth session today in the store, through the command line: refused, exit 4
    monkeypatch.setattr(tensctl.api, "date", _Today)
    result = cli(
        "run", PROTOCOL, "-i", "20", "--yes", "--no-outcomes", "--patient", "P-1", "--db", str(db)
    )
    assert result.code == 4, result.err
    text = " ".join(result.err.split())
    assert "patient P-1 on the simulator: daily cap reached" in text
    assert "120 min of stimulation today" in text and "would add 30 min" in text
    assert "daily cap 120 min" in text and "0 min left" in text
    # another patient, and tomorrow, are not held to it
    assert run_on_simulator(db, today=DAY, patient="P-2").end_reason == "completed"
    assert run_on_simulator(db, today=DAY + timedelta(days=1)).end_reason == "completed"


class _Today(date):
    """``date`` in tensctl.api, with today pinned to :data:`DAY`."""

    @classmethod
    def today(cls) -> _Today:
        return cls(DAY.year, DAY.month, DAY.day)


def test_simulated_sessions_do_not_use_up_a_real_device_s_cap(
    tmp_path: Path, stamp: list[str]
) -> None:
    db = tmp_path / "s.sqlite3"
    for _ in range(4):
        write_session(db, simulated=True)  # 120 min on the simulator
    write_session(db, simulated=False, run_s=4800.0)  # 80 min on a real device
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        real = dev.profile.model_copy(update={"simulated": False})
        dev.profile = real  # this device stands in for a real one: counted as real
        dev.url = "/dev/ttyUSB0"
        dev.info = dataclasses.replace(dev.info, serial="RS2-1042")  # not the simulator's SIM-
        with dev.session(PROTOCOL, patient="P-1", intensity=20.0, screened=True, today=DAY) as s:
            s.run()
            assert s.end_reason == "completed"  # 80 + 30 ≤ 120: the simulator's 120 do not count
        with pytest.raises(SafetyRefused, match="110 min of stimulation today") as refused:
            dev.session(PROTOCOL, patient="P-1", intensity=20.0, screened=True, today=DAY)
        assert "on the simulator" not in str(refused.value)
        assert "10 min left" in str(refused.value) and "--until-cap" in str(refused.value)


def test_until_cap_plans_the_session_to_end_at_the_cap(tmp_path: Path, stamp: list[str]) -> None:
    db = tmp_path / "s.sqlite3"
    for _ in range(3):
        write_session(db)
    write_session(db, run_s=600.0)  # 100 min today: 20 min left
    with pytest.raises(SafetyRefused, match="would go over it"):
        run_on_simulator(db, today=DAY)
    s = run_on_simulator(db, today=DAY, until_cap=True)
    assert s.end_reason == "completed" and s.shortened is not None
    assert "ends at 20 min instead of 30 min" in s.shortened
    with Store(db) as store:
        events = store.events(s.record_id or 0)
        records = store.stimulation_between("P-1", *local_day_utc(DAY))
    [said] = [e for e in events if e["kind"] == "warning" and e["data"]["rule"] == "daily_cap"]
    assert said["data"]["end_s"] == 1200.0 and "daily cap" in said["data"]["message"]
    assert stimulated_s(events) == pytest.approx(1200.0, abs=0.01)
    assert stimulated_on_day_s(records, simulated=True) == 7200.0  # at the cap, not over it
    with pytest.raises(SafetyRefused, match="daily cap reached"):
        run_on_simulator(db, today=DAY, until_cap=True)


def test_no_patient_no_cap_across_sessions(tmp_path: Path, stamp: list[str]) -> None:
    db = tmp_path / "s.sqlite3"
    for _ in range(5):
        write_session(db, patient="P-1")
    for _ in range(2):  # nothing to count against: demonstrations run
        assert run_on_simulator(db, today=DAY, patient=None).end_reason == "completed"


def test_reminders_are_in_the_record(tmp_path: Path, stamp: list[str]) -> None:
    db = tmp_path / "s.sqlite3"
    s = run_on_simulator(db, today=DAY)
    with Store(db) as store:
        events = store.events(s.record_id or 0)
    reminders = [e for e in events if e["kind"] == "reminder"]
    assert [round(e["elapsed_s"], 3) for e in reminders] == [420.0, 840.0, 1260.0, 1680.0]
    assert all(e["data"]["what"] == "retitrate" and e["data"]["message"] for e in reminders)


def test_patients_keep_simulator_sessions_apart(tmp_path: Path, stamp: list[str], cli: Any) -> None:
    db = tmp_path / "s.sqlite3"
    write_session(db, simulated=False, run_s=1200.0)
    write_session(db, simulated=True)
    write_session(db, simulated=True)
    shown = cli("patients", "show", "P-1", "--db", str(db), "--include-simulated")
    assert shown.code == 0, shown.err
    text = " ".join(shown.out.split())
    assert "patient P-1: 1 session(s)" in text
    assert "on the simulator: 2 session(s) — not in the trend" in text
    both = ("--db", str(db), "--json", "--include-simulated")
    data = json.loads(cli("patients", "show", "P-1", *both).out)
    assert [r["simulated"] for r in data["sessions"]] == [False, True, True]
    assert [r["stimulated_s"] for r in data["sessions"]] == [1200.0, 1800.0, 1800.0]
    listed = json.loads(cli("patients", "list", *both).out)
    assert [(p["sessions"], p["simulated_sessions"]) for p in listed] == [(1, 2)]
    real = json.loads(cli("patients", "show", "P-1", "--db", str(db), "--json").out)
    assert [r["simulated"] for r in real["sessions"]] == [False]
    assert real["simulated_left_out"] == 2


def test_a_start_after_a_reset_is_held_against_the_cap_again(
    tmp_path: Path, stamp: list[str]
) -> None:
    # 3 sessions today (90 min) leave 30 min: this one runs 20 min and is stopped; after a
    # reset the protocol would start over (30 min more) — refused, since 10 min are left;
    # the run before the reset counts
    db = tmp_path / "s.db"
    for _ in range(3):
        write_session(db)
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session(PROTOCOL, patient="P-1", intensity=20.0, screened=True, today=DAY) as s,
    ):
        s.run_for(20 * 60)
        s.stop()
        s.run_for(10)
        assert s.state in (State.completed, State.stopped)
        s.reset()
        with pytest.raises(SafetyRefused, match="10 min left"):
            s.start()
        assert s.state is State.ready  # not started, every output at 0
        with pytest.raises(SafetyRefused):  # and it stays refused
            s.start()
