"""Trips on the output path, each latched, each reset only the right way: open circuit,
over-current, short, compliance, peel, locking, emergency stop, low battery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from harness import Bench, configure, scenario

from tensctl.wire.codes import ErrorCode, EventCode, Fault, OutputState
from tensctl.wire.messages import (
    EmergencyStop,
    Heartbeat,
    ResetFault,
    SetAmplitude,
    Start,
)

NOTICE_S = 0.01  # the device notices a load change at its next tick, this much later


def both_running() -> Bench:
    """Channel 1 on at 2 mA, channel 2 on at 1 mA."""
    bench = Bench().running(1, 2000)
    bench.ok(configure(2))
    bench.ok(Start(0b10))
    bench.ok(SetAmplitude(2, 1000))
    return bench


def tripped_by(bench: Bench, kind: str, **fields: Any) -> float:
    """Inject ``kind`` on channel 1 and let the device tick; the time it noticed."""
    bench.inject(kind, channel=1, **fields)
    bench.ok(Heartbeat(), t=bench.t + NOTICE_S)
    return bench.t


def assert_tripped(bench: Bench, flag: Fault, t: float) -> None:
    assert bench.faults(1) == flag
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    assert [e["t"] for e in bench.entries("fault", channel=1)] == [t]
    assert (1, flag) in {(e.channel, e.fault_flags) for e in bench.events(EventCode.FAULT)}
    assert bench.telemetry(1)[-1].state == OutputState.FAULT


def reset_ok_only_after(bench: Bench, cause_gone_s: float) -> None:
    """RESET_FAULT is refused until 3 s after ``cause_gone_s``, then accepted at 0 µA."""
    assert bench.refused(ResetFault(0b01), t=cause_gone_s + 2.9) == ErrorCode.RESET_TOO_EARLY
    bench.ok(ResetFault(0b01), t=cause_gone_s + 3.01)
    assert bench.faults(1) == Fault.NONE
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    assert bench.events(EventCode.FAULT_RESET)[-1].channel == 1


# ---- open circuit -------------------------------------------------------------------------


def test_electrode_off_while_on_trips_open_circuit() -> None:
    bench = both_running()
    t = tripped_by(bench, "electrode_off")
    assert_tripped(bench, Fault.OPEN_CIRCUIT, t)
    assert bench.faults(2) == Fault.NONE and bench.amplitude(2) == 1000  # a channel's own


def test_electrode_off_on_a_stopped_channel_trips_nothing() -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.inject("electrode_off", channel=1)
    bench.ok(Start(0b01), t=1.0)  # on at 0 µA: no current, nothing to watch yet
    assert bench.faults(1) == Fault.NONE
    bench.ok(SetAmplitude(1, 1000))
    bench.ok(Heartbeat(), t=1.01)
    assert bench.faults(1) == Fault.OPEN_CIRCUIT


def test_open_circuit_reset_refused_while_the_electrode_is_off() -> None:
    bench = Bench().running(1, 1000)
    t = tripped_by(bench, "electrode_off")
    for later in (3.01, 10.0, 60.0):
        assert bench.refused(ResetFault(0b01), t=t + later) == ErrorCode.RESET_TOO_EARLY
    assert bench.faults(1) == Fault.OPEN_CIRCUIT


def test_open_circuit_resets_3_s_after_reattach_and_stays_at_zero() -> None:
    bench = Bench().running(1, 1000)
    t = tripped_by(bench, "electrode_off")
    bench.inject("electrode_on", channel=1, t=t + 10.0)
    reset_ok_only_after(bench, t + 10.0)
    bench.at(bench.t + 1.0)
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)  # nothing resumes
    bench.ok(Start(0b01))
    assert (bench.amplitude(1), bench.ch(1).running) == (0, True)


def test_open_circuit_reset_refused_while_the_load_is_still_above_10_kohm() -> None:
    bench = Bench().running(1, 1000, pw=200)
    t = tripped_by(bench, "impedance_step", series_ohm=9000, parallel_ohm=5000)
    assert bench.faults(1) == Fault.OPEN_CIRCUIT
    assert bench.refused(ResetFault(0b01), t=t + 5.0) == ErrorCode.RESET_TOO_EARLY


# ---- over-current and short ---------------------------------------------------------------


def test_over_current_trips() -> None:
    bench = both_running()
    t = tripped_by(bench, "over_current")
    assert_tripped(bench, Fault.OVER_CURRENT, t)
    assert bench.faults(2) == Fault.NONE


def test_over_current_resets_only_3_s_after_it_stops() -> None:
    bench = Bench().running(1, 1000)
    t = tripped_by(bench, "over_current")
    assert bench.refused(ResetFault(0b01), t=t + 10.0) == ErrorCode.RESET_TOO_EARLY
    bench.inject("over_current", channel=1, active=False, t=t + 20.0)
    reset_ok_only_after(bench, t + 20.0)


def test_short_trips() -> None:
    bench = Bench().running(1, 1000)
    t = tripped_by(bench, "short")
    assert_tripped(bench, Fault.SHORT, t)


def test_short_resets_only_3_s_after_the_electrodes_are_put_right() -> None:
    bench = Bench().running(1, 1000)
    t = tripped_by(bench, "short")
    assert bench.refused(ResetFault(0b01), t=t + 10.0) == ErrorCode.RESET_TOO_EARLY
    bench.inject("electrode_on", channel=1, t=t + 20.0)
    reset_ok_only_after(bench, t + 20.0)


# ---- compliance ---------------------------------------------------------------------------


def high_impedance_bench() -> Bench:
    """8 kΩ in series (Z ≈ 9.65 kΩ at 200 µs, set before START so it is the baseline):
    120 V drives ≈ 12.44 mA, 80 % of 15 mA but not of 16 mA."""
    bench = Bench()
    bench.inject("impedance_step", channel=1, series_ohm=8000, parallel_ohm=5000)
    return bench.running(1, 15_000)


def test_saturated_but_above_80_percent_does_not_trip() -> None:
    bench = high_impedance_bench()
    bench.heartbeats(bench.t + 1.0)
    assert bench.faults(1) == Fault.NONE
    assert bench.amplitude(1) == 15_000


def test_compliance_trips_when_delivered_falls_below_80_percent() -> None:
    bench = high_impedance_bench()
    bench.heartbeats(bench.t + 0.25)
    bench.ok(SetAmplitude(1, 16_000))
    bench.ok(Heartbeat(), t=bench.t + NOTICE_S)
    assert_tripped(bench, Fault.COMPLIANCE, bench.t)


def test_compliance_resets_3_s_after_the_trip() -> None:
    bench = high_impedance_bench()
    bench.heartbeats(bench.t + 0.25)
    bench.ok(SetAmplitude(1, 16_000))
    bench.ok(Heartbeat(), t=bench.t + NOTICE_S)
    reset_ok_only_after(bench, bench.t)


# ---- peel ---------------------------------------------------------------------------------


def peeling(area: float, duration_s: float = 6.0) -> Bench:
    """Channel 1 on at 1 mA from t = 0; its electrode peels from t = 1 s."""
    events = {"kind": "peel", "at_s": 1.0, "channel": 1, "duration_s": duration_s}
    return Bench(scenario=scenario({**events, "area_fraction": area})).running(1, 1000)


def ticks_until_fault(bench: Bench, until: float) -> list[tuple[float, float]]:
    """Heartbeats every 100 ms; (t, impedance) of each tick up to the first fault."""
    seen: list[tuple[float, float]] = []
    for i in range(1, round(until * 10) + 1):
        bench.ok(Heartbeat(), t=i * 0.1)
        status = bench.status(1)
        seen.append((bench.t, status["impedance_ohm"]))
        if status["faults"]:
            break
    return seen


def test_peel_to_40_percent_trips_once_impedance_doubles() -> None:
    bench = peeling(0.4)
    baseline = bench.ch(1).baseline_ohm
    assert baseline is not None
    seen = ticks_until_fault(bench, 10.0)
    *before, (t_trip, z_trip) = seen
    assert bench.faults(1) == Fault.PEEL
    assert all(z < 2 * baseline for _, z in before)
    assert z_trip >= 2 * baseline
    assert t_trip == pytest.approx(1.0 + 5.0, abs=0.11)  # 1 → 0.4 over 6 s: 0.5 after 5 s
    assert [e["t"] for e in bench.entries("fault", channel=1)] == [t_trip]


def test_peel_to_60_percent_does_not_trip() -> None:
    bench = peeling(0.6)
    ticks_until_fault(bench, 10.0)
    assert bench.faults(1) == Fault.NONE
    assert bench.amplitude(1) == 1000


def test_peel_resets_only_3_s_after_the_electrode_is_back_on() -> None:
    bench = peeling(0.4)
    t = ticks_until_fault(bench, 10.0)[-1][0]
    assert bench.refused(ResetFault(0b01), t=t + 10.0) == ErrorCode.RESET_TOO_EARLY
    bench.inject("electrode_on", channel=1, t=t + 20.0)
    reset_ok_only_after(bench, t + 20.0)


def test_pulse_width_modulation_on_an_unchanged_load_does_not_trip_peel() -> None:
    bench = Bench().running(1, 1000, pw=50)  # Z ≈ 976 Ω at 50 µs, ≈ 2148 Ω at 200 µs
    for i, pw in enumerate(range(60, 201, 10), start=1):
        bench.ok(configure(1, pw=pw), t=0.05 * i)
    bench.ok(Heartbeat(), t=bench.t + NOTICE_S)
    assert bench.faults(1) == Fault.NONE


# ---- locking ------------------------------------------------------------------------------


def over_current_trip(bench: Bench, t: float) -> None:
    """Start channel 1 at ``t``, 1 mA, an over-current that trips and goes, and a reset."""
    if bench.faults(1):
        bench.ok(ResetFault(0b01), t=t)
    bench.ok(Start(0b01), t=t)
    bench.ok(SetAmplitude(1, 1000))
    tripped_by(bench, "over_current")
    assert bench.faults(1) & Fault.OVER_CURRENT
    bench.inject("over_current", channel=1, active=False)


def test_three_trips_in_10_minutes_lock_the_channel() -> None:
    bench = Bench()
    bench.ok(configure(1))
    for t in (0.0, 10.0, 20.0):
        over_current_trip(bench, t)
    assert bench.faults(1) == Fault.OVER_CURRENT | Fault.LOCKED
    assert bench.events(EventCode.FAULT)[-1].fault_flags == Fault.OVER_CURRENT | Fault.LOCKED


def test_a_locked_channel_refuses_reset_start_and_increases_but_not_decreases() -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.ok(configure(2))
    for t in (0.0, 10.0, 20.0):
        over_current_trip(bench, t)
    for later in (3.1, 700.0):
        assert bench.refused(ResetFault(0b01), t=20.0 + later) == ErrorCode.CHANNEL_LOCKED
    assert bench.refused(Start(0b01)) == ErrorCode.CHANNEL_LOCKED
    assert bench.refused(SetAmplitude(1, 1000)) == ErrorCode.CHANNEL_LOCKED
    bench.ok(SetAmplitude(1, 0))
    bench.ok(Start(0b10))  # the other channel is not locked


def test_trips_further_apart_than_10_minutes_do_not_lock() -> None:
    bench = Bench()
    bench.ok(configure(1))
    for t in (0.0, 300.0, 601.0):
        over_current_trip(bench, t)
    assert bench.faults(1) == Fault.OVER_CURRENT
    over_current_trip(bench, 650.0)  # 300, 601 and 650 are within 10 minutes
    assert bench.faults(1) & Fault.LOCKED


def test_different_kinds_of_trip_count_together() -> None:
    bench = Bench()
    bench.ok(configure(1))
    over_current_trip(bench, 0.0)
    for t, kind in ((10.0, "short"), (20.0, "electrode_off")):
        bench.inject("electrode_on", channel=1, t=t - 3.5)
        bench.ok(ResetFault(0b01), t=t)
        bench.ok(Start(0b01))
        bench.ok(SetAmplitude(1, 1000))
        tripped_by(bench, kind)
    assert bench.faults(1) & Fault.LOCKED


def emergency_stop(bench: Bench, t: float) -> None:
    bench.ok(EmergencyStop(), t=t)


def watchdog(bench: Bench, t: float) -> None:
    bench.at(t + 0.6)


TRIPS: dict[str, Callable[[Bench, float], None]] = {
    "emergency-stop": emergency_stop,
    "watchdog": watchdog,
}


@pytest.mark.parametrize("trip", TRIPS.values(), ids=TRIPS.keys())
def test_device_wide_stops_do_not_count_towards_locking(
    trip: Callable[[Bench, float], None],
) -> None:
    bench = Bench()
    bench.ok(configure(1))
    for t in (0.0, 10.0, 20.0, 30.0):
        if bench.faults(1):
            bench.ok(ResetFault(0b11), t=t)
        bench.ok(Start(0b01), t=t)
        bench.ok(SetAmplitude(1, 1000))
        trip(bench, t)
        assert bench.faults(1)
    assert not bench.faults(1) & Fault.LOCKED
    assert not bench.ch(1).trips


def test_two_trips_and_emergency_stops_do_not_lock() -> None:
    bench = Bench()
    bench.ok(configure(1))
    over_current_trip(bench, 0.0)
    over_current_trip(bench, 10.0)
    for t in (20.0, 30.0, 40.0):
        bench.ok(ResetFault(0b11), t=t)
        bench.ok(Start(0b01))
        bench.ok(SetAmplitude(1, 1000))
        bench.ok(EmergencyStop())
    assert bench.faults(1) == Fault.EMERGENCY_STOP


def test_a_restart_unlocks() -> None:
    bench = Bench()
    bench.ok(configure(1))
    for t in (0.0, 10.0, 20.0):
        over_current_trip(bench, t)
    bench.inject("reboot", offline_ms=200, t=30.0)
    bench.at(30.2)
    assert bench.faults(1) == Fault.REBOOT
    bench.ok(ResetFault(0b11), t=33.3)
    assert bench.faults(1) == Fault.NONE


# ---- emergency stop -----------------------------------------------------------------------


def test_emergency_stop_zeroes_and_latches_every_channel() -> None:
    bench = both_running()
    bench.ok(EmergencyStop())
    for n in (1, 2):
        assert bench.faults(n) == Fault.EMERGENCY_STOP
        assert (bench.amplitude(n), bench.ch(n).running) == (0, False)
    faults = {(e.channel, e.fault_flags) for e in bench.events(EventCode.FAULT)}
    assert faults == {(1, Fault.EMERGENCY_STOP), (2, Fault.EMERGENCY_STOP)}


def test_emergency_stop_on_an_idle_device_latches_too() -> None:
    bench = Bench()
    bench.ok(EmergencyStop())
    assert bench.faults(1) == bench.faults(2) == Fault.EMERGENCY_STOP


def test_start_and_increases_refused_while_emergency_stop_is_latched() -> None:
    bench = both_running()
    bench.ok(EmergencyStop())
    assert bench.refused(Start(0b01)) == ErrorCode.FAULT_LATCHED
    assert bench.refused(SetAmplitude(1, 1000)) == ErrorCode.FAULT_LATCHED
    assert bench.refused(configure(1, 50)) == ErrorCode.FAULT_LATCHED
    bench.ok(SetAmplitude(1, 0))  # a decrease is always accepted


def test_emergency_stop_resets_3_s_after_it_and_not_before() -> None:
    bench = both_running()
    t = bench.t
    bench.ok(EmergencyStop())
    assert bench.refused(ResetFault(0b11), t=t + 2.9) == ErrorCode.RESET_TOO_EARLY
    assert bench.faults(1) == bench.faults(2) == Fault.EMERGENCY_STOP
    bench.ok(ResetFault(0b11), t=t + 3.01)
    assert bench.faults(1) == bench.faults(2) == Fault.NONE
    assert [bench.amplitude(n) for n in (1, 2)] == [0, 0]
    bench.ok(Start(0b11))


def test_emergency_stop_logs_each_output_change_once() -> None:
    bench = both_running()
    bench.ok(EmergencyStop())
    assert len(bench.entries("output", channel=1, cause="emergency_stop")) == 1
    assert len(bench.entries("output", channel=2, cause="emergency_stop")) == 1


# ---- low battery --------------------------------------------------------------------------


def test_low_battery_zeroes_running_outputs() -> None:
    bench = Bench().running(1, 1000)
    bench.ok(configure(2))
    bench.inject("battery", low=True, t=0.05)
    assert bench.faults(1) == Fault.LOW_BATTERY
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    assert bench.faults(2) == Fault.NONE  # not started: nothing to stop
    [event] = bench.events(EventCode.LOW_BATTERY)
    assert (event.channel, event.fault_flags) == (0xFF, Fault.LOW_BATTERY)


def test_start_is_refused_while_the_battery_is_low() -> None:
    bench = Bench().running(1, 1000)
    bench.ok(configure(2))
    bench.inject("battery", low=True, t=0.05)
    assert bench.refused(Start(0b10)) == ErrorCode.LOW_BATTERY
    assert bench.refused(Start(0b01)) == ErrorCode.FAULT_LATCHED
    assert not bench.ch(2).running


def test_low_battery_resets_only_3_s_after_the_battery_is_good() -> None:
    bench = Bench().running(1, 1000)
    bench.inject("battery", low=True, t=0.05)
    assert bench.refused(ResetFault(0b01), t=10.0) == ErrorCode.RESET_TOO_EARLY
    bench.inject("battery", low=False, t=20.0)
    reset_ok_only_after(bench, 20.0)
    bench.ok(Start(0b01))
    assert bench.ch(1).running


@pytest.mark.parametrize(("clear_s", "early_ok"), [(3.0, False), (0.0, True), (0.5, False)])
def test_the_reset_hold_off_is_configurable(clear_s: float, early_ok: bool) -> None:
    """``tensctl sim --reset-clear-ms``: benchmarks lower the hold-off; it still applies."""
    bench = Bench(reset_clear_s=clear_s)
    bench.ok(configure(1))
    bench.ok(Start(0b01))
    bench.ok(EmergencyStop(), t=1.0)
    if early_ok:
        bench.ok(ResetFault(0b01), t=1.0)
    else:
        assert bench.refused(ResetFault(0b01), t=1.0 + clear_s - 0.01) == ErrorCode.RESET_TOO_EARLY
        bench.ok(ResetFault(0b01), t=1.0 + clear_s + 0.01)
    assert bench.faults(1) == Fault.NONE
