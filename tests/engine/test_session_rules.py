"""Clinical rules inside one session, on the virtual clock: a session planned to end before
its protocol does (the daily cap) ramps down to 0 by then and ends there; re-titration
reminders come every ``retitrate_every_s`` of stimulation, pauses excluded."""

from __future__ import annotations

import pytest
from helpers import device, kinds, session

from tensctl.engine.events import SessionEvent
from tensctl.engine.states import State
from tensctl.engine.timeline import MIN_END_RAMP_S, Timeline
from tensctl.errors import WrongState
from tensctl.model.library import find_protocol

EVERY_S = 420.0  # conventional-hf: re-titrate every 7 min, 30 min in all


def test_a_cut_timeline_ramps_to_zero_by_its_end_and_delivers_nothing_after() -> None:
    protocol = find_protocol("conventional-hf")[0]  # one 1800 s phase, ramp down 5 s
    full = Timeline(protocol, {1: 20.0})
    cut = Timeline(protocol, {1: 20.0}, end_s=1200.0)
    assert full.duration_s == 1800.0 and not full.cut and full.end_ramp_s == 0.0
    assert cut.duration_s == 1200.0 and cut.cut and cut.end_ramp_s == 5.0
    assert cut.steady_until_s == 1195.0
    assert cut.setpoints(1194.0)[1].amplitude_ma == pytest.approx(20.0)
    assert cut.setpoints(1197.5)[1].amplitude_ma == pytest.approx(10.0)
    assert cut.setpoints(1199.99)[1].amplitude_ma == pytest.approx(0.04)
    assert cut.setpoints(1200.0) == {} and cut.phase_at(1200.0) is None
    assert full.setpoints(1197.5)[1].amplitude_ma == pytest.approx(20.0)
    # new intensities (an adjustment) keep the end; an end after the protocol's changes nothing
    assert cut.with_intensities({1: 10.0}).setpoints(1197.5)[1].amplitude_ma == pytest.approx(5.0)
    assert Timeline(protocol, {1: 20.0}, end_s=5000.0).duration_s == 1800.0
    short = Timeline(protocol, {1: 20.0}, end_s=4.0)  # never a ramp longer than half of it
    assert short.end_ramp_s == 2.0 and MIN_END_RAMP_S == 3.0


def test_a_session_planned_to_end_early_ends_there_with_a_ramp_down() -> None:
    with device() as dev, session(dev, "conventional-hf", intensity=20.0) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        s.end_early(1200.0, "daily cap: ends at 20 min")
        assert s.shortened == "daily cap: ends at 20 min" and s.timeline.duration_s == 1200.0
        s.run_for(600.0)
        s.adjust(1, -2.0)  # an adjustment keeps the planned end
        assert s.run() is State.completed and s.end_reason == "completed"
    [warning] = [e for e in kinds(events, "warning") if e.data["rule"] == "daily_cap"]
    assert warning.data == {"rule": "daily_cap", "message": "daily cap: ends at 20 min"} | {
        "end_s": 1200.0
    }
    ending = next(e for e in kinds(events, "state") if e.data["state"] == "ramping_down")
    assert ending.elapsed_s == pytest.approx(1200.0, abs=1e-3)
    levels = [(e.elapsed_s, e.data["amplitude_ma"]) for e in kinds(events, "setpoint")]
    plateau = [ma for t, ma in levels if t <= 1195.0][-1]
    assert plateau == pytest.approx(18.0)  # held until the ramp down, as adjusted
    in_ramp = [ma for t, ma in levels if 1195.0 < t < 1200.0]
    assert len(in_ramp) >= 40 and in_ramp == sorted(in_ramp, reverse=True)  # 100 ms steps down
    assert in_ramp[-1] < 1.0
    assert levels[-1][1] == 0.0


def test_the_end_is_planned_before_the_start_only() -> None:
    with device() as dev, session(dev, "conventional-hf", intensity=20.0) as s:
        s.run_for(5.0)
        with pytest.raises(WrongState, match="before it starts"):
            s.end_early(100.0, "too late")
        assert s.timeline.duration_s == 1800.0 and s.shortened is None


def test_reminders_come_every_retitrate_every_s_of_stimulation() -> None:
    with device() as dev, session(dev, "conventional-hf", intensity=20.0) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        assert s.run() is State.completed
    reminders = kinds(events, "reminder")
    assert [round(e.elapsed_s, 3) for e in reminders] == [420.0, 840.0, 1260.0, 1680.0]
    for e in reminders:
        assert set(e.data) == {"what", "message"} and e.data["what"] == "retitrate"
        assert "re-titrate" in e.data["message"] and "ask the patient" in e.data["message"]
    assert "7 min of stimulation" in reminders[0].data["message"]


def test_a_pause_does_not_count_towards_the_next_reminder() -> None:
    with device() as dev, session(dev, "conventional-hf", intensity=20.0) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        s.run_for(300.0)
        s.pause()
        s.run_for(200.0)  # 200 s of clock, paused
        assert s.state is State.paused
        s.resume()
        s.run_for(200.0)
        at = s.elapsed_s()
        s.stop()
        s.run()
    reminders = kinds(events, "reminder")
    assert at == pytest.approx(500.0, abs=0.2)
    assert [round(e.elapsed_s, 3) for e in reminders] == [420.0]  # protocol time, not clock


def test_no_reminder_without_retitrate_every_s() -> None:
    with device() as dev, session(dev, "brief-intense") as s:
        assert find_protocol("brief-intense")[0].session.retitrate_every_s is None
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        assert s.run() is State.completed
    assert kinds(events, "reminder") == []
