"""The device's deadman: a started channel and no valid frame for 500 ms → every output 0,
WATCHDOG latched; an idle device latches nothing."""

from __future__ import annotations

import pytest
from harness import WATCHDOG_S, Bench, configure

from tensctl.wire.codes import ErrorCode, EventCode, Fault, OutputState
from tensctl.wire.messages import Heartbeat, ResetFault, SetAmplitude, Start, Stop


def silent_after_start() -> tuple[Bench, float]:
    """Channel 1 on at 2 mA; the time of the last valid frame."""
    bench = Bench().running(1, 2000)
    return bench, bench.t


def test_silence_for_500_ms_zeroes_the_output_and_latches_watchdog() -> None:
    bench, last = silent_after_start()
    bench.at(last + 0.6)
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    assert bench.faults(1) == bench.faults(2) == Fault.WATCHDOG


@pytest.mark.parametrize(("speed", "still_on_s"), [(5.0, 2.49), (0.5, 0.249)])
def test_on_a_scaled_clock_the_watchdog_waits_as_long_in_real_time(
    speed: float, still_on_s: float
) -> None:
    # at --speed 5, 2.5 s of the shared clock are the 500 ms of real time the host may be
    # silent: a host is as slow at every speed
    bench = Bench(speed=speed).running(1, 2000)
    last = bench.t
    bench.at(last + still_on_s)
    assert (bench.amplitude(1), bench.faults(1)) == (2000, 0)
    bench.at(last + WATCHDOG_S * speed + 0.01)
    assert (bench.amplitude(1), bench.faults(1)) == (0, Fault.WATCHDOG)


def test_the_output_goes_to_0_at_the_deadline_however_late_the_device_looks() -> None:
    bench, last = silent_after_start()
    bench.at(last + 7.0)
    [entry] = bench.entries("output", channel=1, cause="watchdog")
    assert entry["t"] == last + WATCHDOG_S
    assert (entry["running"], entry["amplitude_ua"]) == (False, 0)
    [watchdog] = bench.entries("watchdog")
    assert watchdog["deadline"] == last + WATCHDOG_S
    assert watchdog["late_s"] == pytest.approx(6.5)


def test_pulses_stop_counting_at_the_deadline() -> None:
    bench, last = silent_after_start()
    before = bench.status(1)["pulses"]
    bench.at(last + 7.0)
    assert bench.status(1)["pulses"] - before == pytest.approx(100 * WATCHDOG_S)


def test_the_host_hears_fault_events_stamped_at_the_deadline() -> None:
    bench, last = silent_after_start()
    bench.at(last + 0.8)
    faults = bench.events(EventCode.FAULT)
    assert {(e.channel, e.fault_flags) for e in faults} == {
        (1, Fault.WATCHDOG),
        (2, Fault.WATCHDOG),
    }
    assert {e.time_ms for e in faults} == {round((last + WATCHDOG_S) * 1000)}
    assert bench.telemetry(1)[-1].state == OutputState.FAULT


def test_a_heartbeat_just_before_the_deadline_keeps_it_running() -> None:
    bench, last = silent_after_start()
    bench.ok(Heartbeat(), t=last + 0.49)
    bench.ok(Heartbeat(), t=last + 0.98)
    assert bench.faults(1) == Fault.NONE
    assert bench.amplitude(1) == 2000


def test_a_heartbeat_at_the_deadline_is_too_late() -> None:
    bench, last = silent_after_start()
    bench.ok(Heartbeat(), t=last + WATCHDOG_S)
    assert bench.faults(1) == Fault.WATCHDOG


def test_heartbeats_every_100_ms_keep_it_running_for_60_s() -> None:
    bench, last = silent_after_start()
    before = bench.status(1)["pulses"]
    bench.heartbeats(last + 60.0)
    assert bench.faults(1) == bench.faults(2) == Fault.NONE
    assert (bench.amplitude(1), bench.ch(1).running) == (2000, True)
    assert bench.status(1)["pulses"] - before == pytest.approx(6000, abs=1)
    assert not bench.entries("watchdog")


def test_refused_but_valid_commands_feed_it_too() -> None:
    bench, last = silent_after_start()
    for i in range(1, 11):
        assert bench.refused(SetAmplitude(1, 9000), t=last + 0.3 * i) == ErrorCode.SLEW_LIMIT
    assert bench.faults(1) == Fault.NONE


def test_an_idle_device_latches_nothing() -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.at(60.0)
    assert bench.faults(1) == bench.faults(2) == Fault.NONE
    bench.ok(Start(0b01))  # and it can start after the long silence
    assert bench.ch(1).running


def test_a_stopped_channel_latches_nothing() -> None:
    bench = Bench().running(1, 1000)
    bench.ok(Stop(0b01))
    bench.at(bench.t + 10.0)
    assert bench.faults(1) == Fault.NONE
    assert not bench.entries("watchdog")


def test_started_at_zero_counts_as_running() -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.ok(Start(0b01))
    bench.at(0.6)
    assert bench.faults(1) == Fault.WATCHDOG


def test_watchdog_resets_3_s_after_the_trip_and_comes_back_at_zero() -> None:
    bench, last = silent_after_start()
    deadline = last + WATCHDOG_S
    assert bench.refused(ResetFault(0b11), t=deadline + 2.9) == ErrorCode.RESET_TOO_EARLY
    assert bench.refused(Start(0b01)) == ErrorCode.FAULT_LATCHED
    bench.ok(ResetFault(0b11), t=deadline + 3.01)
    assert bench.faults(1) == bench.faults(2) == Fault.NONE
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    assert {e.channel for e in bench.events(EventCode.FAULT_RESET)} == {1, 2}
    bench.ok(Start(0b01))
    assert (bench.amplitude(1), bench.ch(1).running) == (0, True)
