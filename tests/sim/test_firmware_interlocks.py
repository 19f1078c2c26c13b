"""The firmware's own interlocks on commands: zero start, slew limit, ranges, configuration
checks, channels, and parameters locked while the output is above 0."""

from __future__ import annotations

import pytest
from harness import PROFILE, Bench, configure

from tensctl.wire.codes import ErrorCode, ModeCode, OutputState, WaveformCode
from tensctl.wire.messages import (
    Heartbeat,
    Identify,
    MeasureImpedance,
    ResetFault,
    SetAmplitude,
    Start,
    Stop,
)
from tensctl.wire.replies import Identity

ASYM = WaveformCode.ASYMMETRIC_BIPHASIC


def started() -> Bench:
    """Channel 1 configured (100 Hz, 200 µs) and started at 0 µA."""
    bench = Bench()
    bench.ok(configure(1))
    bench.ok(Start(0b01))
    return bench


# ---- identity -----------------------------------------------------------------------------


def test_identify_reports_the_limits_the_device_enforces() -> None:
    identity = Identity.unpack(Bench().ok(Identify()).payload)
    assert identity.channels == 2
    assert identity.max_amplitude_ua == 100_000
    assert (identity.pulse_width_min_us, identity.pulse_width_max_us) == (50, 400)
    assert (identity.frequency_min_mhz, identity.frequency_max_mhz) == (1000, 200_000)
    assert identity.max_charge_nc == 40_000
    assert (identity.compliance_v, identity.watchdog_ms) == (120, 500)
    assert (identity.slew_step_ua, identity.slew_rate_ua_per_s) == (1000, 4000)


# ---- zero start ---------------------------------------------------------------------------


def test_power_up_every_output_off_at_zero_and_unconfigured() -> None:
    bench = Bench()
    for ch in bench.device.firmware.channels:
        assert (ch.running, ch.amplitude_ua, ch.config, ch.faults) == (False, 0, None, 0)


def test_amplitude_before_configure_is_not_configured() -> None:
    bench = Bench()
    assert bench.refused(SetAmplitude(1, 500)) == ErrorCode.NOT_CONFIGURED
    assert bench.amplitude(1) == 0


def test_start_before_configure_is_not_configured() -> None:
    bench = Bench()
    assert bench.refused(Start(0b01)) == ErrorCode.NOT_CONFIGURED
    assert not bench.ch(1).running


def test_amplitude_on_a_stopped_channel_is_not_started() -> None:
    bench = Bench()
    bench.ok(configure(1))
    assert bench.refused(SetAmplitude(1, 500)) == ErrorCode.NOT_STARTED
    assert bench.amplitude(1) == 0


def test_start_turns_the_channel_on_at_zero() -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.ok(Start(0b01))
    assert (bench.ch(1).running, bench.amplitude(1)) == (True, 0)
    last = bench.telemetry(1)[-1]
    assert (last.state, last.commanded_ua) == (OutputState.ON, 0)


def test_start_of_a_channel_above_zero_is_not_at_zero() -> None:
    bench = Bench().running(1, 2000)
    assert bench.refused(Start(0b01)) == ErrorCode.NOT_AT_ZERO
    assert bench.amplitude(1) == 2000


def test_start_is_all_or_nothing() -> None:
    bench = Bench()
    bench.ok(configure(1))
    assert bench.refused(Start(0b11)) == ErrorCode.NOT_CONFIGURED  # channel 2 is not
    assert not bench.ch(1).running


def test_stop_zeroes_and_turns_off_and_a_new_start_comes_back_at_zero() -> None:
    bench = Bench().running(1, 2000)
    bench.ok(Stop(0b01))
    assert (bench.ch(1).running, bench.amplitude(1), bench.faults(1)) == (False, 0, 0)
    bench.ok(Start(0b01))
    assert (bench.ch(1).running, bench.amplitude(1)) == (True, 0)


# ---- slew limit ---------------------------------------------------------------------------


def test_a_step_above_1_ma_is_slew_limited() -> None:
    bench = started()
    assert bench.refused(SetAmplitude(1, 1001)) == ErrorCode.SLEW_LIMIT
    assert bench.amplitude(1) == 0


def test_a_1_ma_step_is_accepted() -> None:
    bench = started()
    bench.ok(SetAmplitude(1, 1000))
    assert bench.amplitude(1) == 1000


def test_more_than_4_ma_within_1_s_is_slew_limited() -> None:
    bench = started()
    for i in range(1, 5):  # 4 mA in 0.3 s
        bench.ok(SetAmplitude(1, 1000 * i), t=0.1 * (i - 1))
    assert bench.refused(SetAmplitude(1, 4001), t=0.4) == ErrorCode.SLEW_LIMIT
    bench.ok(Heartbeat(), t=0.7)
    assert bench.refused(SetAmplitude(1, 5000), t=0.99) == ErrorCode.SLEW_LIMIT
    assert bench.amplitude(1) == 4000


def test_the_slew_window_slides_the_first_step_leaves_it_after_1_s() -> None:
    bench = started()
    for i in range(1, 5):
        bench.ok(SetAmplitude(1, 1000 * i), t=0.1 * (i - 1))
    bench.heartbeats(0.9)
    bench.ok(SetAmplitude(1, 5000), t=1.0)  # the step at 0.0 has left the window
    assert bench.refused(SetAmplitude(1, 6000), t=1.05) == ErrorCode.SLEW_LIMIT
    bench.ok(SetAmplitude(1, 6000), t=1.1)
    assert bench.amplitude(1) == 6000


def test_small_steps_add_up_in_the_window() -> None:
    bench = started()
    for i in range(1, 9):  # 8 × 0.5 mA = 4 mA
        bench.ok(SetAmplitude(1, 500 * i), t=0.05 * i)
    assert bench.refused(SetAmplitude(1, 4001), t=0.5) == ErrorCode.SLEW_LIMIT


def test_decreases_are_accepted_at_once_whatever_their_size() -> None:
    bench = Bench().running(1, 4000)
    bench.ok(SetAmplitude(1, 100))
    assert bench.amplitude(1) == 100
    bench.ok(SetAmplitude(1, 0))
    assert (bench.amplitude(1), bench.ch(1).running) == (0, True)


def test_a_decrease_right_after_a_refused_increase_is_accepted() -> None:
    bench = Bench().running(1, 3000)
    assert bench.refused(SetAmplitude(1, 9000)) == ErrorCode.SLEW_LIMIT
    bench.ok(SetAmplitude(1, 2999))
    assert bench.amplitude(1) == 2999


# ---- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hz", "pw"),
    [(0.999, 200), (200.001, 200), (100, 49), (100, 401), (0, 200), (100, 0)],
    ids=["freq-low", "freq-high", "pw-short", "pw-long", "freq-zero", "pw-zero"],
)
def test_configure_outside_the_envelope_is_out_of_range(hz: float, pw: int) -> None:
    bench = Bench()
    assert bench.refused(configure(1, hz, pw)) == ErrorCode.OUT_OF_RANGE
    assert bench.ch(1).config is None


@pytest.mark.parametrize(("hz", "pw"), [(1, 50), (200, 400), (1, 400), (200, 50)])
def test_configure_at_the_envelope_edges_is_accepted(hz: float, pw: int) -> None:
    bench = Bench()
    bench.ok(configure(1, hz, pw))
    assert bench.ch(1).config == configure(1, hz, pw)


def test_out_of_range_configure_while_on_changes_nothing() -> None:
    bench = Bench().running(1, 2000)
    before = bench.ch(1).config
    assert bench.refused(configure(1, 250, 200)) == ErrorCode.OUT_OF_RANGE
    assert bench.ch(1).config is before
    assert (bench.amplitude(1), bench.ch(1).running) == (2000, True)


def test_amplitude_above_the_maximum_is_out_of_range() -> None:
    bench = Bench().running(1, 1000)
    assert bench.refused(SetAmplitude(1, 100_001)) == ErrorCode.OUT_OF_RANGE
    assert bench.refused(SetAmplitude(1, 0xFFFFFFFF)) == ErrorCode.OUT_OF_RANGE
    assert bench.amplitude(1) == 1000


def small_charge_bench() -> Bench:
    """A device whose charge per phase is capped at 0.2 µC: 1 mA at 200 µs."""
    return Bench(profile=PROFILE.model_copy(update={"max_charge_per_phase_uc": 0.2}))


def test_amplitude_above_the_charge_per_phase_is_out_of_range() -> None:
    bench = small_charge_bench().running(1, 1000, pw=200)
    assert bench.refused(SetAmplitude(1, 1001)) == ErrorCode.OUT_OF_RANGE
    assert bench.amplitude(1) == 1000


def test_a_wider_pulse_that_would_exceed_the_charge_is_out_of_range() -> None:
    bench = small_charge_bench().running(1, 1000, pw=200)
    assert bench.refused(configure(1, pw=201)) == ErrorCode.OUT_OF_RANGE
    assert bench.ch(1).config == configure(1, pw=200)
    bench.ok(configure(1, pw=199))  # narrower is fine


def test_an_alternating_step_that_would_exceed_the_charge_is_out_of_range() -> None:
    bench = small_charge_bench().running(1, 1000, pw=200)
    bench.ok(SetAmplitude(1, 0))
    alternating = configure(1, mode=ModeCode.ALTERNATING, steps=((2, 200, 100), (100, 250, 100)))
    bench.ok(alternating)  # at 0 µA any width is within the charge
    bench.ok(SetAmplitude(1, 800))  # 800 µA × 250 µs = 0.2 µC
    assert bench.refused(SetAmplitude(1, 801)) == ErrorCode.OUT_OF_RANGE


def test_the_largest_current_at_the_widest_pulse_is_exactly_the_charge_limit() -> None:
    lim = Bench().device.firmware.limits
    assert lim.check_charge(configure(1, pw=400), 100_000) is None
    assert lim.check_charge(configure(1, pw=400), 100_001) == ErrorCode.OUT_OF_RANGE


# ---- waveforms and modes ------------------------------------------------------------------


@pytest.mark.parametrize("secondary", [(500, 1500), (250, 2000), (1000, 1020), (0, 1000)])
def test_an_unbalanced_asymmetric_waveform_is_refused(secondary: tuple[int, int]) -> None:
    bench = Bench()
    assert bench.refused(configure(1, waveform=ASYM, secondary=secondary)) == (
        ErrorCode.OUT_OF_RANGE
    )
    assert bench.ch(1).config is None


@pytest.mark.parametrize(
    "secondary", [(500, 2000), (250, 4000), (1000, 1000), (1000, 1009), (991, 1000)]
)
def test_a_balanced_asymmetric_waveform_is_accepted(secondary: tuple[int, int]) -> None:
    Bench().ok(configure(1, waveform=ASYM, secondary=secondary))


def test_a_burst_whose_trains_overlap_is_refused() -> None:
    # 10 pulses at 10 Hz last 0.9 s; 2 trains per second need < 0.5 s
    bench = Bench()
    burst = configure(1, 10, mode=ModeCode.BURST, pulses_per_train=10, train_hz=2)
    assert bench.refused(burst) == ErrorCode.OUT_OF_RANGE
    assert bench.ch(1).config is None


@pytest.mark.parametrize(("ppt", "train_hz"), [(0, 2), (101, 0.5), (7, 0)])
def test_a_burst_without_pulses_or_trains_is_refused(ppt: int, train_hz: float) -> None:
    burst = configure(1, 200, mode=ModeCode.BURST, pulses_per_train=ppt, train_hz=train_hz)
    assert Bench().refused(burst) == ErrorCode.OUT_OF_RANGE


def test_a_burst_whose_trains_fit_is_accepted() -> None:
    Bench().ok(configure(1, 100, mode=ModeCode.BURST, pulses_per_train=7, train_hz=2))


@pytest.mark.parametrize(
    "steps",
    [(), ((2, 200, 0),), ((0.5, 200, 1000),), ((2, 200, 1000), (100, 500, 1000))],
    ids=["no-steps", "zero-dwell", "freq-low", "pw-long"],
)
def test_bad_alternation_steps_are_out_of_range(steps: tuple[tuple[float, int, int], ...]) -> None:
    alternating = configure(1, mode=ModeCode.ALTERNATING, steps=steps)
    assert Bench().refused(alternating) == ErrorCode.OUT_OF_RANGE


def test_an_unknown_waveform_or_mode_is_unsupported() -> None:
    bench = Bench()
    assert bench.refused(configure(1, waveform=7)) == ErrorCode.UNSUPPORTED
    assert bench.refused(configure(1, mode=3)) == ErrorCode.UNSUPPORTED


# ---- channels -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [0, 3, 255])
def test_a_channel_the_device_lacks_is_bad_channel(channel: int) -> None:
    bench = Bench()
    assert bench.refused(configure(channel)) == ErrorCode.BAD_CHANNEL
    assert bench.refused(SetAmplitude(channel, 0)) == ErrorCode.BAD_CHANNEL
    assert bench.refused(MeasureImpedance(channel)) == ErrorCode.BAD_CHANNEL


@pytest.mark.parametrize("mask", [0, 0b100, 0b111, 0xFF])
def test_a_mask_naming_no_or_missing_channels_is_bad_channel(mask: int) -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.ok(configure(2))
    for request in (Start(mask), Stop(mask), ResetFault(mask)):
        assert bench.refused(request) == ErrorCode.BAD_CHANNEL
    assert not any(ch.running for ch in bench.device.firmware.channels)


def test_start_mask_0b11_starts_both_channels() -> None:
    bench = Bench()
    bench.ok(configure(1))
    bench.ok(configure(2))
    bench.ok(Start(0b11))
    assert all(ch.running for ch in bench.device.firmware.channels)


# ---- parameters while on ------------------------------------------------------------------


def test_a_waveform_change_while_above_zero_is_not_at_zero() -> None:
    bench = Bench().running(1, 1000)
    before = bench.ch(1).config
    asym = configure(1, waveform=ASYM, secondary=(500, 2000))
    assert bench.refused(asym) == ErrorCode.NOT_AT_ZERO
    assert bench.ch(1).config is before
    assert bench.amplitude(1) == 1000


def test_a_mode_change_while_above_zero_is_not_at_zero() -> None:
    bench = Bench().running(1, 1000)
    burst = configure(1, 100, mode=ModeCode.BURST, pulses_per_train=7, train_hz=2)
    assert bench.refused(burst) == ErrorCode.NOT_AT_ZERO
    assert bench.ch(1).config == configure(1)


def test_a_mode_change_is_accepted_once_the_amplitude_is_back_at_zero() -> None:
    bench = Bench().running(1, 1000)
    bench.ok(SetAmplitude(1, 0))
    burst = configure(1, 100, mode=ModeCode.BURST, pulses_per_train=7, train_hz=2)
    bench.ok(burst)
    assert bench.ch(1).config == burst
    assert bench.ch(1).running


def test_frequency_and_width_may_change_while_on() -> None:
    bench = Bench().running(1, 2000)
    bench.ok(configure(1, 80, 180), t=bench.t + 0.05)
    bench.ok(Heartbeat(), t=bench.t + 0.05)
    assert bench.ch(1).config == configure(1, 80, 180)
    assert (bench.amplitude(1), bench.ch(1).running) == (2000, True)
    last = bench.telemetry(1)[-1]
    assert (last.frequency_mhz, last.pulse_width_us) == (80_000, 180)


def test_configure_with_a_fault_latched_is_refused() -> None:
    bench = Bench().running(1, 1000)
    bench.inject("over_current", channel=1).wait(0.01)
    assert bench.refused(configure(1, 50)) == ErrorCode.FAULT_LATCHED
    assert bench.ch(1).config == configure(1)
