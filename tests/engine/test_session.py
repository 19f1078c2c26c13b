"""Whole protocols through the engine, the supervisor and the in-process simulator, in
virtual time."""

from __future__ import annotations

import time

import pytest
from helpers import device, device_output_ua, kinds, session

from tensctl.engine.clock import VirtualClock
from tensctl.engine.events import SessionEvent
from tensctl.engine.states import State
from tensctl.errors import InputError, SafetyRefused
from tensctl.model.electrodes import Electrode
from tensctl.model.library import find_protocol
from tensctl.model.protocol import Protocol
from tensctl.safety import check_protocol

LIBRARY = [
    "conventional-hf",
    "acupuncture-like",
    "burst",
    "dense-disperse",
    "mixed-4-100",
    "fast-fibromyalgia",
    "modulated",
    "brief-intense",
]


@pytest.mark.parametrize("protocol", LIBRARY)
def test_every_shipped_protocol_runs_to_completion(protocol: str) -> None:
    with device() as dev, session(dev, protocol, intensity=12.0) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        assert s.run() is State.completed and s.end_reason == "completed"
        assert device_output_ua(dev) == 0
        states = [e.data["state"] for e in kinds(events, "state")]
        assert states[:3] == ["ramping_up", "stimulating", "ramping_down"][: len(states[:3])]
        assert states[-1] == "completed"
        assert s.elapsed_s() >= s.timeline.duration_s
        assert max(e.data["amplitude_ma"] for e in kinds(events, "setpoint")) <= 12.0


def test_thirty_minutes_in_virtual_time_is_quick() -> None:
    with device() as dev, session(dev, "conventional-hf", intensity=20.0) as s:
        started = time.perf_counter()
        s.run()
        wall_s = time.perf_counter() - started
    assert s.elapsed_s() >= 1800
    assert wall_s < 30  # a generous bound; bench/ measures the real figure


def small_pads(protocol_id: str, area_cm2: float) -> Protocol:
    protocol, _ = find_protocol(protocol_id)
    pads = [Electrode(site=e.site, area_cm2=area_cm2) for e in protocol.channels[0].electrodes]
    channel = protocol.channels[0].model_copy(update={"electrodes": pads})
    return protocol.model_copy(update={"channels": [channel]})


def test_refused_protocol_leaves_the_session_connected_and_at_zero() -> None:
    with device() as dev:
        with pytest.raises(SafetyRefused, match="current_density"):
            session(dev, small_pads("conventional-hf", 2.0), intensity=30.0)
        assert device_output_ua(dev) == 0


def test_ceiling_is_held_where_the_static_check_stops_passing() -> None:
    with device() as dev, session(dev, small_pads("conventional-hf", 8.0), intensity=20.0) as s:
        ceiling = s.ceilings_ma[1]
        assert 20.0 <= ceiling < 100.0  # density on 8 cm² binds before the device maximum
        assert check_protocol(s.protocol, dev.profile, {1: ceiling}).ok
        assert not check_protocol(s.protocol, dev.profile, {1: ceiling + 0.01}).ok


def test_unscreened_patient_is_refused() -> None:
    with device() as dev, pytest.raises(SafetyRefused, match="contraindication"):
        session(dev, screened=False)


def test_unknown_channel_in_intensity_is_an_input_error() -> None:
    with device() as dev, pytest.raises(InputError, match="no channel 3"):
        session(dev, intensity={3: 10.0})


def test_stop_ramps_down_and_ends_stopped_by_user() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        assert s.state is State.stimulating and device_output_ua(dev) == 15_000
        s.stop()
        assert s.state is State.ramping_down
        s.run_for(1.0)
        assert 0 < device_output_ua(dev) < 15_000  # on its way down, not dropped
        assert s.run() is State.completed and s.end_reason == "stopped_by_user"
        assert device_output_ua(dev) == 0


def test_pause_drops_to_zero_at_once_and_resume_ramps_from_zero() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.pause()
        assert device_output_ua(dev) == 0 and s.state is State.paused
        paused_at = s.elapsed_s()
        s.run_for(20)
        assert s.elapsed_s() == pytest.approx(paused_at)  # the protocol clock stands still
        s.resume()
        s.run_for(0.3)
        assert 0 < device_output_ua(dev) <= 4_000  # from 0, at most 1 mA a tick, 4 mA a second
        s.run_for(10)
        assert s.state is State.stimulating and device_output_ua(dev) == 15_000


def test_adjust_within_ceiling_and_decrease_is_immediate() -> None:
    with device() as dev, session(dev, ceiling=17.0) as s:
        s.run_for(30)
        with pytest.raises(SafetyRefused, match="above its ceiling of 17 mA"):
            s.adjust(1, +5)  # 20 mA: refused, not clamped (the operator must know)
        assert s.adjust(1, +2) == 17.0  # up to the ceiling is fine
        s.run_for(2)
        assert device_output_ua(dev) == 17_000
        s.adjust(1, -10)
        assert device_output_ua(dev) == 7_000  # at once, without a tick


def test_emergency_stop_latches_and_reset_needs_the_device() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.emergency_stop()
        assert s.state is State.stopped and device_output_ua(dev) == 0
        with pytest.raises(SafetyRefused, match="did not clear"):
            s.reset()  # the device refuses within 3 s: still stopped
        assert s.state is State.stopped
        s.clock.advance(3.5)  # type: ignore[attr-defined]
        s.reset()
        assert s.state is State.ready and device_output_ua(dev) == 0


def test_device_fault_scenario_ends_in_fault_at_zero() -> None:
    with device("sim://?scenario=electrode-off") as dev, session(dev) as s:
        assert s.run() is State.fault
        assert s.end_reason.startswith("fault:") and "open_circuit" in s.fault_detail
        assert device_output_ua(dev) == 0


def test_peel_halves_then_trips() -> None:
    with device("sim://?scenario=peel") as dev, session(dev) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        assert s.run() is State.fault
    warnings = [e for e in kinds(events, "warning") if e.data.get("rule") == "peel"]
    assert warnings and warnings[0].data["target_ma"] == 7.5
    assert "peel" in s.fault_detail or "open_circuit" in s.fault_detail


def test_host_watchdog_trips_when_ticks_stop() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.clock.advance(0.5)  # type: ignore[attr-defined]  # the loop stalled
        s.tick()
        assert s.state is State.fault and "host_watchdog" in s.fault_detail
        assert device_output_ua(dev) == 0


@pytest.mark.parametrize(("speed", "late_ms"), [(1.0, 200.0), (5.0, None)])
def test_host_watchdog_judges_a_stall_in_real_time(speed: float, late_ms: float | None) -> None:
    # the tick comes 0.2 s of the session's clock after it was due: 200 ms of real time at
    # speed 1 (the watchdog allows 150 ms past the 100 ms tick), 40 ms at --speed 5
    with device() as dev, session(dev) as s:
        s.clock.speed = speed  # type: ignore[misc]
        s.run_for(30)
        due = s.control.tick_due_s
        assert due is not None and s.late_ms(due) is None
        assert s.late_ms(due + 0.2) == pytest.approx(late_ms)


def test_exception_in_a_state_callback_faults_at_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    with device() as dev, session(dev) as s:

        def broken(*args: object) -> None:
            raise RuntimeError("configure exploded")

        monkeypatch.setattr(s.driver, "start", broken)
        s.start()
        assert s.state is State.fault and "configure exploded" in s.fault_detail
        assert device_output_ua(dev) == 0


def test_closing_the_session_always_leaves_zero() -> None:
    with device() as dev:
        with pytest.raises(KeyboardInterrupt), session(dev) as s:
            s.run_for(30)
            assert device_output_ua(dev) == 15_000
            raise KeyboardInterrupt
        assert device_output_ua(dev) == 0


def test_titration_sets_target_and_ceiling() -> None:
    with device() as dev:
        s = session(dev, "burst", intensity=None)  # burst's target is SC2: titrate first
        assert not s.checked
        with pytest.raises(SafetyRefused, match="not passed its checks"):
            s.start()
        t = s.titrate(1)
        marks = {}
        for which, level in (("ST", 4), ("SC1", 12), ("N", 18), ("SC2", 14)):
            while t.level_ma < level:
                t.up()
            while t.level_ma > level:
                t.down()
            s.run_for(6)  # the slew limit lets the output reach the level
            marks[which] = s.mark().value
        assert device_output_ua(dev) > 0
        values = s.finish_titration()
        assert values[next(k for k in values if k.value == "N")] == 18.0
        assert s.state is State.ready and s.targets_ma == {1: 14.0} and s.ceilings_ma[1] <= 18.0
        assert device_output_ua(dev) == 0
        s.close()


def test_titration_refuses_marks_out_of_order() -> None:
    with device() as dev:
        s = session(dev, "burst", intensity=None)
        t = s.titrate(1)
        t.up()
        s.run_for(1)
        s.mark()  # ST at 1 mA
        with pytest.raises(InputError, match="must be above SC1"):
            s.mark()  # SC1 at 1 mA is fine...
            s.mark()  # ...but N at 1 mA is not above SC1
        s.close()


@pytest.mark.parametrize("then", ["start", "titrate"])
def test_time_spent_ready_is_not_a_late_tick_once_output_begins(then: str) -> None:
    # ticked while ready (a confirmation on screen), then 5 s with no tick (the therapist
    # reads it): the watchdog watches from the moment output may begin, not from the last
    # tick in ready — else the start itself was a host_watchdog fault
    with device() as dev, session(dev) as s:
        assert isinstance(dev.clock, VirtualClock)
        s.tick()
        dev.clock.advance(5.0)
        s.start() if then == "start" else s.titrate(1)
        assert s.late_ms(dev.clock.now()) is None
        s.tick()
        assert s.state is not State.fault, s.fault_detail
        dev.clock.advance(1.0)  # and a stall after that is still caught
        assert s.late_ms(dev.clock.now()) is not None


def test_the_session_time_stops_when_it_ends() -> None:
    # the after-session questions take minutes; "stopped after N s" must not count them
    with device() as dev, session(dev) as s:
        assert isinstance(dev.clock, VirtualClock)
        s.run_for(60)
        s.stop()
        s.run_for(10)
        ended = s.elapsed_s()
        dev.clock.advance(300.0)
        assert s.elapsed_s() == ended
