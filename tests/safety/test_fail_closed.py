"""The holes an adversarial audit found on the host side (issue 13), one test per class.

Each test feeds the value the audit used (NaN, an infinity, a bool where a number belongs,
trains that meet, two channels on one site, a hand-edited profile) and asserts that it is
refused — or, inside the supervisor, that nothing above 0 mA comes out. None of them relies
on the formula the check itself uses: the expected outcome is the refusal.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from builders import channel, device, electrodes, phase, protocol

import tensctl
from tensctl.api import RunningSession
from tensctl.errors import InputError, SafetyRefused, UsageError
from tensctl.model.device import AmplitudeSpec
from tensctl.model.electrodes import Site
from tensctl.model.library import find_protocol
from tensctl.model.modes import Burst
from tensctl.model.protocol import Phase, Threshold
from tensctl.safety import Severity, check_protocol
from tensctl.safety.supervisor import Supervisor

NOT_NUMBERS: list[Any] = [math.nan, -math.nan, math.inf, -math.inf, True, "20", None, -1.0]


def violations(report: Any, rule: str) -> list[Any]:
    return [f for f in report.findings if f.rule == rule and f.severity is Severity.violation]


# --- 1. non-finite and out-of-type numbers through the Python API -------------------------


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("argument", ["intensity", "ceiling"])
def test_api_refuses_a_level_that_is_not_a_finite_number(argument: str, bad: Any) -> None:
    if bad is None:  # None means "not given" for these arguments
        return
    with tensctl.connect("sim://", virtual=True) as dev, pytest.raises(InputError) as caught:
        dev.session("brief-intense", screened=True, **{"intensity": 15.0, argument: bad})
    assert argument in "\n".join(caught.value.lines())


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=repr)
def test_api_refuses_a_per_channel_level_that_is_not_a_finite_number(bad: Any) -> None:
    with tensctl.connect("sim://", virtual=True) as dev, pytest.raises(InputError) as caught:
        dev.session("brief-intense", screened=True, intensity={1: bad})
    assert "intensity[1]" in "\n".join(caught.value.lines())


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("name", ["SC1", "SC2", "N"])
def test_api_refuses_a_threshold_that_is_not_a_finite_number(name: str, bad: Any) -> None:
    with tensctl.connect("sim://", virtual=True) as dev, pytest.raises(InputError) as caught:
        dev.session("brief-intense", screened=True, intensity=15.0, thresholds={1: {name: bad}})
    assert f"thresholds[1].{name}" in "\n".join(caught.value.lines())


@pytest.mark.parametrize("ch", [1.9, True, 0, 9, "1"], ids=repr)
def test_api_refuses_a_channel_that_is_not_one_of_the_protocol(ch: Any) -> None:
    with tensctl.connect("sim://", virtual=True) as dev, pytest.raises(InputError) as caught:
        dev.session("brief-intense", screened=True, intensity={ch: 10.0})
    assert "no channel" in "\n".join(caught.value.lines())


def test_api_refuses_an_unknown_threshold_name() -> None:
    with tensctl.connect("sim://", virtual=True) as dev, pytest.raises(InputError) as caught:
        dev.session("brief-intense", screened=True, intensity=15.0, thresholds={1: {"X": 3}})
    assert "'X' is not a threshold" in "\n".join(caught.value.lines())


@pytest.mark.parametrize("bad", [*NOT_NUMBERS[:-2], 0, -1.0, 1e9], ids=repr)
def test_api_refuses_a_speed_that_is_not_a_sensible_number(bad: Any) -> None:
    # an infinite speed made the clock NaN; 1e9 made a 15-minute session "complete" in
    # 9.4 million seconds of its clock
    with pytest.raises(UsageError) as caught:
        tensctl.connect("sim://", speed=bad)
    assert "above 0 and at most 100" in str(caught.value)


@pytest.mark.parametrize("bad", ["inf", "nan", "0", "-2", "1000"])
def test_cli_refuses_a_speed_that_is_not_a_sensible_number(bad: str, cli: Any) -> None:
    result = cli("run", "brief-intense", "--intensity", "15", "--yes", "--speed", bad)
    assert result.code == 2 and "above 0 and at most 100" in result.err
    assert "Traceback" not in result.err + result.out and "internal error" not in result.err


@pytest.mark.parametrize("peak", [math.nan, math.inf, -math.inf])
def test_static_check_refuses_a_non_finite_intensity(peak: float) -> None:
    report = check_protocol(protocol(), device(), {1: peak})
    assert not report.ok
    assert violations(report, "envelope.amplitude")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.nan])
def test_supervisor_with_a_non_finite_ceiling_sends_nothing(bad: float) -> None:
    s = Supervisor(device(), {1: bad})
    assert s.ceiling_ma(1) == 0.0
    level = 0.0
    for t in range(200):  # long enough for any slew budget to have let 100 mA through
        level = s.limit(1, 100.0, t * 0.5)
        s.sent(1, level, t * 0.5)
    assert level == 0.0


def test_supervisor_with_a_non_finite_device_maximum_sends_nothing() -> None:
    amplitude = AmplitudeSpec.model_construct(max_ma=math.nan, resolution_ua=1)
    s = Supervisor(device(amplitude=amplitude), {1: 30.0})
    assert s.limit(1, 30.0, 0.0) == 0.0


def test_supervisor_ceiling_never_above_the_absolute_peak_cap() -> None:
    s = Supervisor(device(max_ma=1000.0), {1: 500.0})
    assert s.ceiling_ma(1) == 130.0


def test_a_nan_noxious_threshold_makes_the_ceiling_zero_not_unbounded() -> None:
    """`N = nan` used to fall out of min() and drop the noxious cap; the engine is given it
    directly here, past the API's own refusal (defence in depth)."""
    with tensctl.connect("sim://", virtual=True) as dev:
        s = RunningSession(
            dev.driver,
            find_protocol("brief-intense")[0],
            dev.profile,
            dev.clock,
            patient=None,
            intensity_ma={1: 15.0},
            ceiling_ma={},
            thresholds={1: {Threshold.N: math.nan}},
            screened=True,
            acknowledged=(),
            virtual=True,
        )
        s.connect()
        with pytest.raises(SafetyRefused):
            s.check()
        s.close()


# --- 2. bursts whose trains meet ----------------------------------------------------------


def burst_phase(ppt: int, freq: float, trains: float) -> dict[str, Any]:
    return {
        "name": "b",
        "duration_s": 600,
        "frequency_hz": freq,
        "pulse_width_us": 400,
        "mode": {"type": "burst", "pulses_per_train": ppt, "train_rate_hz": trains},
    }


@pytest.mark.parametrize(
    ("ppt", "freq", "trains"),
    [(2, 200.0, 199.9), (2, 200.0, 100.0), (7, 100.0, 100 / 7), (10, 100.0, 10.0)],
)
def test_trains_that_meet_the_next_are_refused(ppt: int, freq: float, trains: float) -> None:
    with pytest.raises(ValueError, match="not shorter than"):
        Phase.model_validate(burst_phase(ppt, freq, trains))


def test_a_train_that_ends_before_the_next_is_accepted() -> None:
    Phase.model_validate(burst_phase(2, 200.0, 99.0))
    Phase.model_validate(burst_phase(7, 100.0, 2.0))


def test_static_check_refuses_trains_that_meet_even_if_the_model_was_bypassed() -> None:
    """2 pulses at 200 Hz, 199.9 trains/s: 399.8 pulses/s on a 200 Hz device."""
    trains = Burst.model_construct(type="burst", pulses_per_train=2, train_rate_hz=199.9)
    p = phase(freq=200.0, width=400.0, mode=trains)
    report = check_protocol(protocol(phases=[p]), device(), {1: 20.0})
    assert violations(report, "envelope.pulse_train")


# --- 5. two channels on one site ----------------------------------------------------------


def on_one_site(
    amp: float,
    width: float,
    freq: float,
    n: int,
    profile: Any,
    acknowledged: frozenset[str] = frozenset(),
) -> Any:
    pads = electrodes(Site.forearm_left, area=25.0)
    chans = [channel(i, pads) for i in range(1, n + 1)]
    return check_protocol(
        protocol(phases=[phase(freq=freq, width=width)], channels=chans),
        profile,
        dict.fromkeys(range(1, n + 1), amp),
        acknowledged=acknowledged,
    )


def test_power_density_is_summed_over_channels_on_one_site() -> None:
    """A legal 480 V profile: 0.097 W/cm² per channel, 0.39 W/cm² on the shared site."""
    profile = device(compliance_voltage_v=480.0)
    alone = on_one_site(45.0, 400.0, 150.0, 1, profile)
    assert alone.ok, alone.findings
    together = on_one_site(45.0, 400.0, 150.0, 2, profile)
    found = violations(together, "power_density")
    assert found and "share" in found[0].message
    assert found[0].value == pytest.approx(0.389, abs=1e-3)


def test_rms_current_is_summed_over_channels_on_one_site() -> None:
    """31 mA r.m.s. per channel, 62 mA r.m.s. through the shared site."""
    alone = on_one_site(90.0, 400.0, 150.0, 1, device())
    assert alone.ok, alone.findings
    together = on_one_site(90.0, 400.0, 150.0, 2, device(), frozenset({"current_density"}))
    found = violations(together, "rms_current")
    assert found and "share" in found[0].message


# --- absolute limits no profile overrides -------------------------------------------------


def test_a_profile_with_a_60_s_watchdog_is_refused() -> None:
    report = check_protocol(protocol(), device(watchdog_ms=60_000), {1: 10.0})
    assert violations(report, "device.watchdog")
    assert not report.ok


def test_a_1000_ma_profile_is_refused_and_no_level_above_the_cap_passes() -> None:
    report = check_protocol(protocol(), device(max_ma=1000.0), {1: 160.0})
    assert violations(report, "device.amplitude")
    assert violations(report, "amplitude.absolute_cap")


@pytest.mark.parametrize(("lowered", "held"), [(10.0, 10.0), (40.0, 30.0), (math.nan, 0.0)])
def test_a_peel_lowers_the_ceiling_and_never_raises_it(lowered: float, held: float) -> None:
    s = Supervisor(device(), {1: 30.0})
    assert s.lower_ceiling(1, lowered) == held == s.ceiling_ma(1)
    assert s.limit(1, 50.0, 0.0) <= held


@pytest.mark.parametrize("area", [-0.0, 0.0, -4.0, math.nan, math.inf])
def test_an_electrode_area_that_is_not_a_positive_number_is_refused(area: float) -> None:
    """Found by the adversarial suite: a zero area divided by zero in the dose checks."""
    pads = electrodes(Site.forearm_left, area=area)
    report = check_protocol(protocol(channels=[channel(1, pads)]), device(), {1: 20.0})
    assert violations(report, "placement.area")
    assert not violations(report, "current_density")  # no dose judged on a bogus area


def test_a_subnormal_peak_is_judged_not_a_crash() -> None:
    """Found by the adversarial suite: V / (5e-324 mA / 1000) divided by zero."""
    report = check_protocol(protocol(), device(), {1: 5e-324})
    assert report.ok


@pytest.mark.parametrize(("trains", "refused"), [(0.0, True), (-1.0, True), (0.5, False)])
def test_a_train_rate_that_is_not_positive_is_refused_not_a_crash(
    trains: float, refused: bool
) -> None:
    """Found by mutation testing: a bypassed model's 0 trains/s divided by zero."""
    rate = Burst.model_construct(type="burst", pulses_per_train=2, train_rate_hz=trains)
    report = check_protocol(protocol(phases=[phase(mode=rate)]), device(), {1: 10.0})
    assert bool(violations(report, "envelope.pulse_train")) is refused
