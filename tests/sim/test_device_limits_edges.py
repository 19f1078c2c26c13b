"""The device's own limits exactly at each boundary and one unit either side: the balance
tolerance of an asymmetric pulse, burst trains (pulses per train, train rate), alternation
steps, the 1 s pulse window, overlapping pulses, the charge of a phase, and the profile's
conversion to the wire's integers. Each value is chosen so that a limit moved by one unit
(or a constant off by one part in a thousand) changes the verdict."""

from __future__ import annotations

from dataclasses import replace

import pytest
from harness import PROFILE, Bench, configure
from tenssim.limits import MAX_PULSES_PER_TRAIN, MAX_STEPS, Limits, pulses_in_window, pulses_overlap

from tensctl.wire.codes import ErrorCode, ModeCode, WaveformCode
from tensctl.wire.messages import Configure

ASYM = WaveformCode.ASYMMETRIC_BIPHASIC
BURST = ModeCode.BURST
ALTERNATING = ModeCode.ALTERNATING
LIMITS = Limits.from_profile(PROFILE)
OUT = ErrorCode.OUT_OF_RANGE


def burst(ppt: int, hz: float, train_hz: float, pw: int = 200) -> Configure:
    return configure(1, hz, pw, mode=BURST, pulses_per_train=ppt, train_hz=train_hz)


def profile_limits(**update: object) -> Limits:
    return Limits.from_profile(PROFILE.model_copy(update=update))


# ---- the profile in the wire's integers ---------------------------------------------------


# converted inside each test (not only at import), so that the conversion is what is tested


def test_the_profile_converts_to_exact_integers() -> None:
    # tenssim-2ch: 100 mA, 50–400 µs, 1–200 Hz, 40 µC a phase
    lim = Limits.from_profile(PROFILE)
    assert (lim.max_amplitude_ua, lim.max_charge_pc) == (100_000, 40_000_000)
    assert (lim.pulse_width_min_us, lim.pulse_width_max_us) == (50, 400)
    assert (lim.frequency_min_mhz, lim.frequency_max_mhz) == (1_000, 200_000)


def test_the_charge_limit_is_exact_to_the_picocoulomb() -> None:
    # secondary 100.1 % wide at 400 µs: 99.9 mA × 400 µs × 1.001 = 39.99996 µC, 99.901 mA
    # gives 40.000036 µC, over 40 µC by 36 pC
    wide = configure(1, 100, 400, waveform=ASYM, secondary=(1000, 1001))
    lim = Limits.from_profile(PROFILE)
    assert lim.check_charge(wide, 99_900) is None
    assert lim.check_charge(wide, 99_901) == OUT


def test_max_pulses_per_s_rounds_a_fractional_top_frequency_up() -> None:
    # a profile topping out at 200.1 Hz: a 1 s window can hold 201 pulses
    lim = profile_limits(frequency_hz=PROFILE.frequency_hz.model_copy(update={"max": 200.1}))
    assert lim.frequency_max_mhz == 200_100
    assert lim.max_pulses_per_s() == 201
    assert lim.check_rate(configure(1, 200.1)) is None


# ---- the 1 s window ----------------------------------------------------------------------


def test_a_continuous_train_just_above_a_whole_rate_catches_one_more_pulse() -> None:
    assert pulses_in_window(configure(1, 100.001), 100_001) == 101
    assert pulses_in_window(configure(1, 1.001), 1_001) == 2
    assert pulses_in_window(configure(1, 200.1), 200_100) == 201


def test_a_burst_without_trains_has_no_pulses() -> None:
    assert pulses_in_window(burst(7, 100, 0), 100_000) == 0


def test_the_slowest_train_rate_still_holds_one_whole_train() -> None:
    # 1 mHz trains: a window holds no whole period but all 7 pulses of one train
    assert pulses_in_window(burst(7, 100, 0.001), 100_000) == 7
    assert pulses_in_window(burst(7, 100, 0.002), 100_000) == 7


def test_a_rest_just_past_whole_periods_holds_one_more_pulse() -> None:
    # 2.001 trains/s: 2 whole periods (0.9995 s) and a 0.5 ms rest, which catches 1 pulse
    assert pulses_in_window(burst(7, 100, 2.001), 100_000) == 15
    assert pulses_in_window(burst(7, 100, 2), 100_000) == 14


def test_the_pulses_in_a_rest_are_rounded_up() -> None:
    # 1.5 trains/s at 30.001 Hz: a 1/3 s rest holds ceil(10.0003) = 11 pulses
    assert pulses_in_window(burst(20, 30.001, 1.5), 30_001) == 20 + 11
    assert pulses_in_window(burst(20, 30, 1.5), 30_000) == 20 + 10


# ---- overlapping pulses ------------------------------------------------------------------


def test_pulses_that_fit_by_a_tenth_of_a_microsecond_are_accepted() -> None:
    # 100 µs + 20 µs gap + 47.799 × 100 µs + 100 µs quiet = 4999.9 µs, the period 5000 µs
    fits = configure(1, 200, 100, waveform=ASYM, secondary=(21, 47_799))
    assert not pulses_overlap(fits, 200_000, 100)
    Bench().ok(fits)
    tight = configure(1, 200, 100, waveform=ASYM, secondary=(21, 47_800))  # 5000 µs
    assert pulses_overlap(tight, 200_000, 100)
    assert Bench().refused(tight) == OUT


# ---- asymmetric pulses: shape and balance ------------------------------------------------


@pytest.mark.parametrize(
    ("secondary", "ok"),
    [((1000, 1010), True), ((1000, 1011), False), ((1000, 990), True), ((1000, 989), False)],
)
def test_the_balance_tolerance_is_1_percent_inclusive(secondary: tuple[int, int], ok: bool) -> None:
    shape = configure(1, waveform=ASYM, secondary=secondary)
    assert LIMITS.check_configure(shape, 0) == (None if ok else OUT)


def test_a_secondary_of_one_permille_amplitude_is_valid_when_balanced() -> None:
    # 0.1 % of the amplitude for 1000 × the width (not representable on the wire, whose
    # width ratio is 16 bits, but the check itself takes any positive amplitude ratio)
    lowest = replace(
        configure(1, 1, 50, waveform=ASYM),
        secondary_amplitude_permille=1,
        secondary_width_permille=1_000_000,
    )
    assert LIMITS.check_configure(lowest, 0) is None


def test_the_primary_phases_charge_is_checked_when_the_secondarys_is_lower() -> None:
    # 0.2 µC a phase at 200 µs: 1 mA exactly; the secondary (99 %) would still allow 1.01 mA
    lim = replace(LIMITS, max_charge_pc=200_000)
    short = configure(1, 100, 200, waveform=ASYM, secondary=(1000, 990))
    assert lim.check_charge(short, 1000) is None
    assert lim.check_charge(short, 1001) == OUT
    lower = configure(1, 100, 200, waveform=ASYM, secondary=(990, 1000))
    assert lim.check_charge(lower, 1001) == OUT


# ---- burst trains ------------------------------------------------------------------------


def test_a_burst_of_one_pulse_per_train_is_accepted() -> None:
    Bench().ok(burst(1, 100, 10))
    assert Bench().refused(burst(0, 100, 10)) == OUT


def test_the_most_pulses_per_train_is_accepted_one_more_is_not() -> None:
    assert MAX_PULSES_PER_TRAIN == 100
    Bench().ok(burst(100, 200, 1))  # 100 pulses a window, rate and overlap fine
    assert LIMITS.check_rate(burst(101, 200, 1)) is None  # only the train limit refuses it
    assert Bench().refused(burst(101, 200, 1)) == OUT


def test_the_slowest_train_rate_is_accepted() -> None:
    Bench().ok(burst(5, 100, 0.001))
    assert Bench().refused(burst(5, 100, 0)) == OUT


# ---- alternation steps -------------------------------------------------------------------


def alternating(steps: tuple[tuple[float, int, int], ...]) -> Configure:
    return configure(1, 10, 200, mode=ALTERNATING, steps=steps)


def test_the_most_alternation_steps_are_accepted_one_more_is_not() -> None:
    assert MAX_STEPS == 16
    Bench().ok(alternating(((10, 200, 100),) * 16))
    assert LIMITS.check_configure(alternating(((10, 200, 100),) * 17), 0) == OUT
    assert LIMITS.check_configure(alternating(()), 0) == OUT


def test_a_dwell_of_one_millisecond_is_accepted_none_is_not() -> None:
    Bench().ok(alternating(((10, 200, 1), (20, 200, 1))))
    assert Bench().refused(alternating(((10, 200, 0),))) == OUT
