"""The device's own stimulation limits, whatever the host checked: burst trains and pulse
rate, r.m.s. current, both phases of an asymmetric pulse, and re-configuration while on.
Every refusal is a NACK that leaves the output as it was."""

from __future__ import annotations

import pytest
from harness import PROFILE, Bench, configure
from tenssim.limits import (
    MODULATION_RMS_RATE_UA_PER_S,
    MODULATION_RMS_STEP_UA,
    Limits,
    pulses_in_window,
    pulses_overlap,
    rms_factor,
    rms_rise_ua,
    rms_ua,
)
from tenssim.load import Load

from tensctl.wire.codes import ErrorCode, ModeCode, WaveformCode
from tensctl.wire.messages import SetAmplitude

ASYM = WaveformCode.ASYMMETRIC_BIPHASIC
BURST = ModeCode.BURST
LIMITS = Limits.from_profile(PROFILE)


def burst(ppt: int, hz: float, train_hz: float, pw: int = 200) -> object:
    return configure(1, hz, pw, mode=BURST, pulses_per_train=ppt, train_hz=train_hz)


def assert_unchanged(bench: Bench, amplitude_ua: int, running: bool, config: object) -> None:
    assert (bench.amplitude(1), bench.ch(1).running) == (amplitude_ua, running)
    assert bench.ch(1).config == config


# ---- 1. burst trains, pulse rate, overlapping pulses -------------------------------------


def test_a_train_that_lasts_as_long_as_its_period_is_refused() -> None:
    # 2 pulses at 200 Hz last 10 ms; 199.9 trains/s leave 5 ms: 399.8 pulses/s, overlapping
    bench = Bench()
    assert bench.refused(burst(2, 200, 199.9, pw=400)) == ErrorCode.OUT_OF_RANGE
    assert bench.refused(burst(2, 200, 100)) == ErrorCode.OUT_OF_RANGE  # exactly 10 ms: no
    assert bench.ch(1).config is None
    bench.ok(burst(2, 200, 99.999))  # just shorter than the period


def test_the_last_pulse_of_a_train_counts() -> None:
    # 10 pulses at 100 Hz last 100 ms: 9.999 trains/s fit, 10 do not
    bench = Bench()
    assert bench.refused(burst(10, 100, 10)) == ErrorCode.OUT_OF_RANGE
    bench.ok(burst(10, 100, 9.999))


def test_pulses_in_any_1_s_window() -> None:
    assert pulses_in_window(configure(1, 100), 100_000) == 100
    assert pulses_in_window(configure(1, 2.5), 2_500) == 3  # a window can catch 3
    assert pulses_in_window(burst(7, 100, 2), 100_000) == 14
    assert pulses_in_window(burst(7, 100, 1.5), 100_000) == 14  # 1 period + 1/3 s: 7 more
    assert pulses_in_window(burst(7, 100, 0.5), 100_000) == 7  # one whole train
    assert pulses_in_window(burst(10, 200, 1.25), 200_000) == 20  # 1 period + 0.2 s: 10
    assert pulses_in_window(burst(50, 200, 3.9), 200_000) == 197  # 3 periods + 0.23 s: 47
    assert pulses_in_window(burst(2, 200, 199.9), 200_000) == 399  # the audit's burst


def test_more_pulses_in_1_s_than_the_top_frequency_is_refused() -> None:
    # the overlapping burst gets past no check on its own: the rate check refuses it too
    assert LIMITS.max_pulses_per_s() == 200
    assert LIMITS.check_rate(burst(2, 200, 199.9)) == ErrorCode.OUT_OF_RANGE
    assert LIMITS.check_rate(burst(2, 200, 99.999)) is None
    assert LIMITS.check_rate(configure(1, 200)) is None


def test_pulses_that_overlap_are_refused() -> None:
    # 400 µs + 20 µs gap + 11.2 × 400 µs + 100 µs quiet = 5 ms = the period at 200 Hz
    bench = Bench()
    tight = configure(1, 200, 400, waveform=ASYM, secondary=(89, 11_200))
    assert pulses_overlap(tight, 200_000, 400)
    assert bench.refused(tight) == ErrorCode.OUT_OF_RANGE
    assert bench.ch(1).config is None
    fits = configure(1, 200, 400, waveform=ASYM, secondary=(89, 11_199))
    assert not pulses_overlap(fits, 200_000, 400)
    bench.ok(fits)
    bench.ok(configure(1, 100, 400, waveform=ASYM, secondary=(80, 12_500)))  # 10 ms period


def test_an_alternation_step_whose_pulses_overlap_is_refused() -> None:
    steps = ((2, 400, 100), (200, 400, 100))
    shape = {"waveform": ASYM, "secondary": (80, 12_500), "steps": steps}
    long_tail = configure(1, 2, 400, mode=ModeCode.ALTERNATING, **shape)  # 200 Hz step: no
    assert Bench().refused(long_tail) == ErrorCode.OUT_OF_RANGE
    slower = configure(1, 2, 400, mode=ModeCode.ALTERNATING, **{**shape, "steps": steps[:1]})
    Bench().ok(slower)


# ---- 2. r.m.s. current --------------------------------------------------------------------


def strong_bench() -> Bench:
    """A device allowed 150 mA and 60 µC a phase (its envelope reaches 60 mA r.m.s.), on a
    load of about 800 Ω, which it drives at 125 mA within its 120 V."""
    bench = Bench(
        profile=PROFILE.model_copy(
            update={
                "amplitude": PROFILE.amplitude.model_copy(update={"max_ma": 150}),
                "max_charge_per_phase_uc": 60,
            }
        )
    )
    bench.ch(1).load = Load(series_ohm=400.0, parallel_ohm=400.0)
    return bench


def test_the_rms_of_a_symmetric_train_is_the_reference_formula() -> None:
    # 80 mA, 250 µs a phase, 100 Hz: 17.9 mA r.m.s. (shared/reference/safety.md)
    assert rms_ua(configure(1, 100, 250), 80_000) == pytest.approx(17_888.5, abs=0.1)
    # the audit's overlapping burst at 100 mA: 399 pulses in 1 s, 56.5 mA r.m.s.
    assert rms_ua(burst(2, 200, 199.9, pw=400), 100_000) == pytest.approx(56_497.8, abs=0.1)
    assert LIMITS.check_rms(burst(2, 200, 199.9, pw=400), 100_000) == ErrorCode.OUT_OF_RANGE


def test_a_raise_above_50_ma_rms_is_refused() -> None:
    bench = strong_bench().running(1, 125_000, hz=200, pw=400)  # 125 mA × 0.4 = 50 mA r.m.s.
    assert bench.amplitude(1) == 125_000
    bench.heartbeats(bench.t + 0.25)
    config = bench.ch(1).config
    assert bench.refused(SetAmplitude(1, 125_001)) == ErrorCode.OUT_OF_RANGE
    assert_unchanged(bench, 125_000, True, config)


def test_a_configure_that_takes_the_present_amplitude_above_50_ma_rms_is_refused() -> None:
    bench = strong_bench().running(1, 125_300, hz=199, pw=400)  # 49.99 mA r.m.s.
    config = bench.ch(1).config
    # 200 Hz at 125.3 mA: 50.12 mA r.m.s. (frequency may move while on: modulation)
    assert bench.refused(configure(1, 200, 400)) == ErrorCode.OUT_OF_RANGE
    assert_unchanged(bench, 125_300, True, config)


def test_burst_trains_count_at_their_true_rate() -> None:
    lim = Limits.from_profile(strong_bench().profile)
    # 50 pulses at 200 Hz, 3.99 trains/s: 199.5 pulses/s on average, but a 1 s window can
    # hold 200 (3 trains and most of a fourth's 0.25 s): 125 mA × 0.4 = 50 mA r.m.s.
    dense = burst(50, 200, 3.99, pw=400)
    assert lim.check_configure(dense, 0) is None
    assert pulses_in_window(dense, 200_000) == 200
    assert lim.check_output(dense, 125_000) is None
    assert lim.check_output(dense, 125_001) == ErrorCode.OUT_OF_RANGE  # the mean would pass


# ---- 3. asymmetric pulses: both phases ---------------------------------------------------


@pytest.mark.parametrize("secondary", [(10_000, 100), (1001, 999), (2000, 500)])
def test_a_secondary_phase_above_the_primary_peak_is_refused(secondary: tuple[int, int]) -> None:
    # the audit's (10 000 ‰, 100 ‰): 1 A secondary peak and 93.8 mA r.m.s. at 100 mA
    bench = Bench()
    assert bench.refused(configure(1, 200, 400, waveform=ASYM, secondary=secondary)) == (
        ErrorCode.OUT_OF_RANGE
    )
    assert bench.ch(1).config is None


def test_the_audits_asymmetric_pulse_is_over_every_limit() -> None:
    wild = configure(1, 200, 400, waveform=ASYM, secondary=(10_000, 100))
    assert rms_ua(wild, 100_000) == pytest.approx(93_808.3, abs=0.1)
    assert LIMITS.check_rms(wild, 100_000) == ErrorCode.OUT_OF_RANGE
    assert LIMITS.check_charge(wild, 100_000) == ErrorCode.OUT_OF_RANGE  # 1 A secondary peak
    assert LIMITS.check_charge(wild, 10_000) is None  # 100 mA secondary: at the maximum


def test_the_secondary_phases_charge_is_checked_too() -> None:
    # 0.2 µC a phase; secondary 100 % × 100.9 %: 991 µA × 200 µs × 1.009 < 0.2 µC < 992 µA
    bench = Bench(profile=PROFILE.model_copy(update={"max_charge_per_phase_uc": 0.2}))
    bench.running(1, 991, pw=200, waveform=ASYM, secondary=(1000, 1009))
    config = bench.ch(1).config
    bench.heartbeats(bench.t + 0.25)
    assert bench.refused(SetAmplitude(1, 992)) == ErrorCode.OUT_OF_RANGE
    assert bench.refused(SetAmplitude(1, 1000)) == ErrorCode.OUT_OF_RANGE  # primary's limit
    assert_unchanged(bench, 991, True, config)


def test_the_peak_of_both_phases_is_checked() -> None:
    lim = LIMITS
    assert lim.check_charge(configure(1, pw=50), 100_001) == ErrorCode.OUT_OF_RANGE
    over = configure(1, pw=50, waveform=ASYM, secondary=(1001, 1000))  # never configured
    assert lim.check_charge(over, 99_901) == ErrorCode.OUT_OF_RANGE  # 100.0009 mA secondary
    assert lim.check_charge(over, 99_900) is None  # 99.9999 mA


# ---- 4. re-configuration while the output is above 0 -------------------------------------


def test_a_burst_reconfigured_to_a_higher_rms_while_on_is_refused() -> None:
    bench = Bench().running(1, 2000, hz=100, mode=BURST, pulses_per_train=7, train_hz=2)
    config = bench.ch(1).config
    for denser in (burst(7, 100, 4), burst(8, 100, 2), burst(7, 100, 2, pw=250)):
        assert bench.refused(denser) == ErrorCode.NOT_AT_ZERO
        assert_unchanged(bench, 2000, True, config)
    bench.ok(burst(5, 100, 2))  # fewer pulses: lower r.m.s.
    bench.ok(SetAmplitude(1, 0))
    bench.ok(burst(7, 100, 4))  # at 0 anything within the limits


def test_an_alternation_reconfigured_to_a_higher_rms_while_on_is_refused() -> None:
    steps = ((2, 200, 3000), (100, 200, 3000))
    bench = Bench().running(1, 2000, mode=ModeCode.ALTERNATING, steps=steps)
    config = bench.ch(1).config
    faster = configure(1, mode=ModeCode.ALTERNATING, steps=((2, 200, 3000), (120, 200, 3000)))
    assert bench.refused(faster) == ErrorCode.NOT_AT_ZERO
    assert_unchanged(bench, 2000, True, config)


def test_an_asymmetric_shape_change_that_raises_the_rms_while_on_is_refused() -> None:
    bench = Bench().running(1, 2000, waveform=ASYM, secondary=(500, 2000))
    config = bench.ch(1).config
    assert bench.refused(configure(1, waveform=ASYM, secondary=(1000, 1000))) == (
        ErrorCode.NOT_AT_ZERO
    )
    assert_unchanged(bench, 2000, True, config)
    bench.ok(configure(1, waveform=ASYM, secondary=(250, 4000)))  # lower r.m.s.


def no_modulation_bench() -> Bench:
    modes = [m for m in PROFILE.modes if m.value != "modulated"]
    return Bench(profile=PROFILE.model_copy(update={"modes": modes}))


def test_without_host_modulation_a_faster_or_wider_train_while_on_is_refused() -> None:
    bench = no_modulation_bench().running(1, 2000)  # 100 Hz, 200 µs
    config = bench.ch(1).config
    assert bench.refused(configure(1, 120, 200)) == ErrorCode.NOT_AT_ZERO
    assert bench.refused(configure(1, 100, 201)) == ErrorCode.NOT_AT_ZERO
    assert_unchanged(bench, 2000, True, config)
    bench.ok(configure(1, 80, 180))  # lower r.m.s. is fine
    bench.ok(configure(1, 80, 180))  # the same is fine


def test_host_modulation_moves_a_continuous_train_inside_the_limits() -> None:
    # the profile lists `modulated`: the host sweeps frequency and width with CONFIGURE
    assert LIMITS.host_modulation
    bench = Bench().running(1, 2000)
    bench.ok(configure(1, 125, 200))
    assert rms_factor(configure(1, 125, 200)) > rms_factor(configure(1, 100, 200))


# ---- the audit's phase-boundary jump, on a profile that lets the host modulate ------------


def test_a_jump_in_rms_at_any_amplitude_is_refused_even_with_host_modulation() -> None:
    # 60 mA at 2 Hz / 50 µs is 0.6 mA r.m.s.; 200 Hz / 400 µs would be 24 mA in one frame
    assert LIMITS.host_modulation
    bench = Bench().running(1, 60_000, hz=2, pw=50)
    config = bench.ch(1).config
    assert bench.refused(configure(1, 200, 400)) == ErrorCode.NOT_AT_ZERO
    assert_unchanged(bench, 60_000, True, config)


def test_host_modulation_raises_rms_only_at_the_rms_slew_limit() -> None:
    # 50 mA at 100 Hz: 10 mA r.m.s. at 200 µs, 14.1 mA at 400 µs; +10 µs adds about 0.25 mA
    bench = Bench()
    bench.ch(1).load = Load(series_ohm=400.0, parallel_ohm=400.0)  # driven at 50 mA in 120 V
    bench.running(1, 50_000)
    pw, risen = 200, 0.0
    while pw < 400:
        wider = configure(1, 100, pw + 10)
        rise = rms_ua(wider, 50_000) - rms_ua(configure(1, 100, pw), 50_000)
        code = bench.refused(wider) if risen + rise > 4_000 else None
        if code is not None:
            break
        bench.ok(wider)
        pw, risen = pw + 10, risen + rise
    assert code == ErrorCode.NOT_AT_ZERO  # the next step would pass 4 mA r.m.s. within 1 s
    assert 3_700 < risen <= 4_000 and bench.ch(1).config == configure(1, 100, pw)
    bench.heartbeats(bench.t + 1.01)  # a second later the window is empty again
    bench.ok(configure(1, 100, pw + 10))


def test_a_single_modulation_step_above_1_ma_rms_is_refused() -> None:
    bench = Bench().running(1, 20_000)  # 4 mA r.m.s. at 100 Hz, 200 µs
    assert rms_ua(configure(1, 200, 200), 20_000) - 4_000 > 1_000
    assert bench.refused(configure(1, 200, 200)) == ErrorCode.NOT_AT_ZERO
    bench.ok(configure(1, 120, 200))  # +0.38 mA r.m.s.


def test_a_profile_beyond_the_absolute_limits_is_clamped_by_the_firmware() -> None:
    big = PROFILE.model_copy(
        update={
            "amplitude": PROFILE.amplitude.model_copy(update={"max_ma": 1000}),
            "watchdog_ms": 60_000,
        }
    )
    limits = Limits.from_profile(big)
    assert limits.max_amplitude_ua == 130_000 and limits.watchdog_s == 2.0
    assert limits.check_charge(configure(1, 2, 50), 130_001) == ErrorCode.OUT_OF_RANGE
    assert limits.check_charge(configure(1, 2, 50), 130_000) is None


def test_the_modulation_rms_slew_limits_are_inclusive() -> None:
    # 100 → 150 Hz at 200 µs: the amplitudes at which the r.m.s. rises exactly 1 mA, and 1 µA more
    old, new = configure(1, 100, 200), configure(1, 150, 200)

    def amplitude_for(rise: int) -> int:
        return next(a for a in range(1, 130_001) if rms_rise_ua(old, new, a) == rise)

    exact, over = amplitude_for(MODULATION_RMS_STEP_UA), amplitude_for(MODULATION_RMS_STEP_UA + 1)
    assert LIMITS.check_reconfigure(old, new, exact, 0) is None
    assert LIMITS.check_reconfigure(old, new, over, 0) == ErrorCode.NOT_AT_ZERO
    small = configure(1, 110, 200)
    left = MODULATION_RMS_RATE_UA_PER_S - rms_rise_ua(old, small, 20_000)
    assert LIMITS.check_reconfigure(old, small, 20_000, left) is None
    assert LIMITS.check_reconfigure(old, small, 20_000, left + 1) == ErrorCode.NOT_AT_ZERO
