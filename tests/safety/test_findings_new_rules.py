"""The complete record of each finding of the newer rules, and each of their boundaries.

Like ``test_findings.py``: one offending protocol (or profile) per case and the whole
Finding pinned — rule, severity, message, value, limit, unit, source, path, channel — with
values computed by hand and limits and citations taken from the table. Like
``test_sweeps.py``: every limit exactly at its value and one step either side, so that a
``<`` where ``<=`` belongs (or the reverse) is seen.

The rules: ``envelope.pulse_train`` (trains that run into each other, a pulse that leaves
less than the minimum gap before the next), ``amplitude.absolute_cap`` and a non-finite
amplitude, ``placement.area``, the r.m.s. current and power density summed over channels on
one site, the absolute caps on a device profile (watchdog, peak amplitude), the net-charge
boundary, and the supervisor's ceiling.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from builders import channel, cite, device, electrodes, lim, phase, protocol
from builders import expect as shared_expect

from tensctl.model.electrodes import Site
from tensctl.model.modes import Alternating, AlternatingStep, Burst
from tensctl.model.protocol import Channel, IntensityTarget, Waveform
from tensctl.safety import LIMITS, Finding, SafetyReport, Severity, check_protocol
from tensctl.safety.supervisor import Supervisor

V, W = Severity.violation, Severity.warning
SIM = "device profile tenssim-2ch"
TRAIN = "envelope.pulse_train"
GAP_CITE = LIMITS["pulse_gap_min_us"].cite()


def expect(*args: Any, **kwargs: Any) -> Finding:
    """A finding to compare with. Numbers compare to within float noise only (1e-12
    relative): a limit moved by one part in a million must not pass for the same."""
    return shared_expect(*args, rel=1e-12, **kwargs)


def of(report: SafetyReport, rule: str, path: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule and (path is None or f.path == path)]


def burst(pulses: int, trains_per_s: float) -> Burst:
    return Burst.model_construct(type="burst", pulses_per_train=pulses, train_rate_hz=trains_per_s)


# --- envelope.pulse_train: trains that run into each other --------------------------------


def test_trains_that_run_into_each_other() -> None:
    # 3 pulses at 100 Hz (10 000 µs apart), 40 trains/s (25 000 µs per train): from the
    # last pulse of a train to the first of the next 25 000 − 2 · 10 000 = 5000 µs, closer
    # than the phase's own period. A 420 µs pulse still leaves 4580 µs: no gap finding.
    p = phase(100.0, 200.0, mode=burst(3, 40.0))
    report = check_protocol(protocol([p]), device(), {1: 10.0})
    assert of(report, TRAIN) == [
        expect(
            TRAIN,
            V,
            "trains of 3 pulses at 100 Hz, 40 per second, run into each other: "
            "5000 µs from one train to the next",
            "phases[0].mode.train_rate_hz",
            5000.0,
            10000.0,
            "µs",
            "the phase's own pulse period",
        )
    ]


def test_trains_that_meet_leave_no_gap_for_a_pulse() -> None:
    # 2 pulses at 200 Hz (5000 µs), 199.9 trains/s: 1e6 / 199.9 − 5000 = 2.50125 µs between
    # trains; a 2 · 400 + 20 = 820 µs pulse leaves 2.50125 − 820 = −817.49875 µs
    p = phase(200.0, 400.0, mode=burst(2, 199.9))
    report = check_protocol(protocol([p]), device(), {1: 20.0})
    between = 1e6 / 199.9 - 5000.0
    assert of(report, TRAIN) == [
        expect(
            TRAIN,
            V,
            "trains of 2 pulses at 200 Hz, 199.9 per second, run into each other: "
            "2.501 µs from one train to the next",
            "phases[0].mode.train_rate_hz",
            between,
            5000.0,
            "µs",
            "the phase's own pulse period",
        ),
        expect(
            TRAIN,
            V,
            "a 820 µs pulse leaves -817.5 µs before the next one",
            "phases[0].pulse_width_us",
            between - 820.0,
            lim("pulse_gap_min_us"),
            "µs",
            GAP_CITE,
        ),
    ]


def test_trains_at_exactly_1_hz_are_judged() -> None:
    # 2 pulses at 1 Hz (1e6 µs), 0.8 trains/s: 1.25e6 − 1e6 = 250 000 µs between trains
    p = phase(1.0, 200.0, mode=burst(2, 0.8))
    report = check_protocol(protocol([p]), device(), {1: 10.0})
    assert of(report, TRAIN) == [
        expect(
            TRAIN,
            V,
            "trains of 2 pulses at 1 Hz, 0.8 per second, run into each other: "
            "2.5e+05 µs from one train to the next",
            "phases[0].mode.train_rate_hz",
            250000.0,
            1e6,
            "µs",
            "the phase's own pulse period",
        )
    ]


@pytest.mark.parametrize(
    ("trains_per_s", "refused"), [(49.999, False), (50.0, False), (50.001, True)]
)
def test_trains_exactly_one_period_apart_are_legal(trains_per_s: float, refused: bool) -> None:
    # 2 pulses at 100 Hz, 50 trains/s: 20 000 − 10 000 = 10 000 µs, exactly the period
    p = phase(100.0, 200.0, mode=burst(2, trains_per_s))
    report = check_protocol(protocol([p]), device(), {1: 10.0})
    found = of(report, TRAIN, "phases[0].mode.train_rate_hz")
    assert bool(found) is refused, found
    assert not of(report, TRAIN, "phases[0].pulse_width_us")


# --- envelope.pulse_train: the gap after a pulse ------------------------------------------


def test_a_symmetric_pulse_too_close_to_the_next() -> None:
    # 2000 Hz: 500 µs apart; a symmetric 200 µs pulse is 2 · 200 + 20 = 420 µs: 80 µs left.
    # The first step has no frequency at all (envelope.frequency refuses it); the steps
    # after it are still judged.
    steps = [
        AlternatingStep.model_construct(frequency_hz=0.0, pulse_width_us=None, dwell_s=3.0),
        AlternatingStep.model_construct(frequency_hz=2000.0, pulse_width_us=200.0, dwell_s=3.0),
    ]
    alt = Alternating.model_construct(type="alternating", steps=steps)
    report = check_protocol(protocol([phase(None, 200.0, mode=alt)]), device(), {1: 10.0})
    assert of(report, TRAIN) == [
        expect(
            TRAIN,
            V,
            "a 420 µs pulse leaves 80 µs before the next one",
            "phases[0].mode.steps[1].pulse_width_us",
            80.0,
            lim("pulse_gap_min_us"),
            "µs",
            GAP_CITE,
        )
    ]


def test_an_asymmetric_pulse_counts_its_longer_secondary_phase() -> None:
    # secondary phase 4× as long (at ¼ the amplitude): 150 · (1 + 4) + 20 = 770 µs; at
    # 1250 Hz (800 µs apart) 30 µs are left
    p = phase(1250.0, 150.0, secondary=(0.25, 4.0))
    report = check_protocol(protocol([p]), device(), {1: 10.0})
    assert of(report, TRAIN) == [
        expect(
            TRAIN,
            V,
            "a 770 µs pulse leaves 30 µs before the next one",
            "phases[0].pulse_width_us",
            30.0,
            lim("pulse_gap_min_us"),
            "µs",
            GAP_CITE,
        )
    ]


def test_a_symmetric_pulse_ignores_a_stray_secondary_phase() -> None:
    # a symmetric waveform with a secondary phase left in the file: both phases are the
    # primary width, 2 · 200 + 20 = 420 µs; at 2000 Hz 80 µs are left
    p = phase(2000.0, 200.0, secondary=(0.25, 4.0))
    p = p.model_copy(update={"waveform": Waveform.symmetric_biphasic})
    report = check_protocol(protocol([p]), device(), {1: 10.0})
    assert [(f.message, f.value) for f in of(report, TRAIN)] == [
        ("a 420 µs pulse leaves 80 µs before the next one", pytest.approx(80.0, rel=1e-12))
    ]


def test_an_asymmetric_pulse_without_a_secondary_phase_is_judged_symmetric() -> None:
    # no secondary phase given: the second phase is as long as the first, 420 µs at 2000 Hz
    p = phase(2000.0, 200.0).model_copy(update={"waveform": Waveform.asymmetric_biphasic})
    report = check_protocol(protocol([p]), device(), {1: 10.0})
    assert [(f.message, f.value) for f in of(report, TRAIN)] == [
        ("a 420 µs pulse leaves 80 µs before the next one", pytest.approx(80.0, rel=1e-12))
    ]


@pytest.mark.parametrize(("width", "refused"), [(439.5, False), (440.0, True), (440.5, True)])
def test_a_gap_of_exactly_the_minimum_is_refused(width: float, refused: bool) -> None:
    # 1000 Hz: 1000 µs apart; 2 · 440 + 20 = 900 µs leaves exactly the 100 µs minimum
    # (the rule asks for more than it); half a µs of width either side moves it by 1 µs
    assert 1e6 / 1000.0 - (2 * 440.0 + lim("interphase_gap_us")) == lim("pulse_gap_min_us")
    report = check_protocol(protocol([phase(1000.0, width)]), device(), {1: 10.0})
    found = of(report, TRAIN)
    assert bool(found) is refused, found
    if refused:
        assert found[0].value == pytest.approx(1000.0 - (2 * width + 20.0), rel=1e-12)


# --- amplitude ----------------------------------------------------------------------------


@pytest.mark.parametrize(("peak", "shown"), [(math.inf, "inf"), (-math.inf, "-inf")])
def test_an_amplitude_that_is_not_a_finite_number(peak: float, shown: str) -> None:
    report = check_protocol(protocol(), device(), {1: peak})
    assert of(report, "envelope.amplitude") == [
        expect(
            "envelope.amplitude",
            V,
            f"amplitude {shown} mA is not a finite number",
            "intensity",
            peak,
            None,
            "mA",
            SIM,
            1,
        )
    ]


def test_a_nan_amplitude_names_its_channel_s_own_intensity() -> None:
    own = Channel.model_construct(
        id=2,
        label=None,
        electrodes=electrodes(Site.hand_left),
        intensity=IntensityTarget(relative_to="SC2"),
        ceiling_ma=None,
    )
    report = check_protocol(protocol(channels=[channel(1), own]), device(), {1: 10, 2: math.nan})
    [found] = of(report, "envelope.amplitude")
    assert math.isnan(found.value)  # type: ignore[arg-type]
    record = (found.rule, found.severity, found.message, found.path, found.limit, found.unit)
    assert record == (
        "envelope.amplitude",
        V,
        "amplitude nan mA is not a finite number",
        "channels[1].intensity",
        None,
        "mA",
    )
    assert (found.source, found.channel) == (SIM, 2)


def test_a_channel_refused_before_its_dose_does_not_stop_the_next_one() -> None:
    # channel 1's level is not a number (no dose can be computed); channel 2, on its own
    # 4 cm² pads at 50 mA, 200 µs, 100 Hz (10 mA r.m.s.), is 2.5 mA r.m.s./cm²
    second = channel(2, electrodes(Site.hand_left, area=4.0))
    report = check_protocol(
        protocol([phase(100.0, 200.0)], [channel(1), second]), device(), {1: math.nan, 2: 50.0}
    )
    assert of(report, "current_density") == [
        expect(
            "current_density",
            V,
            "channel 2: 2.5 mA r.m.s./cm² on 4 cm²; needs an acknowledgement",
            "phases[0]",
            2.5,
            lim("current_density_ma_per_cm2"),
            "mA r.m.s./cm²",
            cite("current_density_ma_per_cm2"),
            2,
        )
    ]


def test_absolute_cap() -> None:
    report = check_protocol(protocol(), device(max_ma=1000.0), {1: 160.0})
    assert of(report, "amplitude.absolute_cap") == [
        expect(
            "amplitude.absolute_cap",
            V,
            "amplitude 160 mA is above the absolute peak cap",
            "intensity",
            160.0,
            lim("amplitude_peak_max_ma"),
            "mA peak",
            cite("amplitude_peak_max_ma"),
            1,
        )
    ]


@pytest.mark.parametrize(("peak", "refused"), [(129.999, False), (130.0, False), (130.001, True)])
def test_absolute_cap_boundary(peak: float, refused: bool) -> None:
    assert lim("amplitude_peak_max_ma") == 130.0
    report = check_protocol(protocol(), device(max_ma=200.0), {1: peak})
    assert bool(of(report, "amplitude.absolute_cap")) is refused


# --- placement.area -----------------------------------------------------------------------


@pytest.mark.parametrize(("area", "shown"), [(-4.0, "-4.0"), (0.0, "0.0"), (math.inf, "inf")])
def test_an_electrode_area_that_is_not_a_positive_number(area: float, shown: str) -> None:
    pads = [electrodes()[0], electrodes(area=area)[0]]  # the second pad is the bad one
    report = check_protocol(protocol(channels=[channel(1, pads)]), device(), {1: 20.0})
    assert of(report, "placement.area") == [
        expect(
            "placement.area",
            V,
            f"channel 1: electrode area {shown} cm² is not a finite number above 0 "
            "(no density can be judged on it)",
            "channels[0].electrodes[1]",
            area,
            0.0,
            "cm²",
            "electrode catalogue / area_cm2",
            1,
        )
    ]


@pytest.mark.parametrize(("area", "refused"), [(-5e-324, True), (0.0, True), (5e-324, False)])
def test_electrode_area_boundary(area: float, refused: bool) -> None:
    pads = electrodes(area=area)
    report = check_protocol(protocol(channels=[channel(1, pads)]), device(), {1: 20.0})
    assert bool(of(report, "placement.area")) is refused


# --- doses summed over channels on one site -----------------------------------------------


def on_one_site(
    peak: float, width: float, freq: float, area: float, profile: object = None
) -> SafetyReport:
    pads = electrodes(Site.forearm_left, area=area)
    return check_protocol(
        protocol([phase(freq, width)], [channel(1, pads), channel(2, pads)]),
        profile or device(),  # type: ignore[arg-type]
        {1: peak, 2: peak},
        acknowledged=("current_density",),
    )


def test_shared_rms_current() -> None:
    # 90 mA, 400 µs, 150 Hz: 90 · sqrt(2 · 400e-6 · 150) = 31.2 mA r.m.s. each, 62.4 together
    total = 2 * 90.0 * math.sqrt(2 * 400e-6 * 150)
    report = on_one_site(90.0, 400.0, 150.0, 25.0)
    assert of(report, "rms_current") == [
        expect(
            "rms_current",
            V,
            "channels [1, 2] share forearm_left: 62.4 mA r.m.s. together",
            "channels",
            total,
            lim("rms_current_ma"),
            "mA r.m.s.",
            cite("rms_current_ma"),
        )
    ]


@pytest.mark.parametrize(("peak", "refused"), [(99.9, False), (100.0, False), (100.1, True)])
def test_shared_rms_current_boundary(peak: float, refused: bool) -> None:
    # 100 mA, 250 µs, 125 Hz: 100 · sqrt(0.0625) = 25 mA r.m.s. each, exactly 50 together
    report = on_one_site(peak, 250.0, 125.0, 25.0, device(max_ma=130.0))
    assert bool(of(report, "rms_current", "channels")) is refused
    assert not of(report, "rms_current", "phases[0]")  # each alone is well within


def test_shared_power_density_at_exactly_the_limit_is_refused() -> None:
    # 40 mA, 250 µs, 125 Hz: 10 mA r.m.s. each, 20 together; 200 V drives 5000 Ω at 40 mA;
    # on 8 cm²: 0.02² · 5000 / 8 = 0.25 W/cm², the limit itself (the rule asks for less)
    report = on_one_site(40.0, 250.0, 125.0, 8.0, device(compliance_voltage_v=200.0))
    assert of(report, "power_density") == [
        expect(
            "power_density",
            V,
            "channels [1, 2] share forearm_left: 0.25 W/cm² together at 5000 Ω",
            "channels",
            0.25,
            lim("power_density_w_per_cm2"),
            "W/cm²",
            cite("power_density_w_per_cm2"),
        )
    ]


@pytest.mark.parametrize(("area", "refused"), [(7.99, True), (8.0, True), (8.01, False)])
def test_shared_power_density_boundary(area: float, refused: bool) -> None:
    report = on_one_site(40.0, 250.0, 125.0, area, device(compliance_voltage_v=200.0))
    assert bool(of(report, "power_density", "channels")) is refused
    assert not of(report, "power_density", "phases[0]")


def test_every_shared_site_is_reported() -> None:
    # two channels on the same two 4 cm² sites, 10 mA r.m.s. each (50 mA, 200 µs, 100 Hz):
    # 20 / 4 = 5 mA r.m.s./cm² on each site
    pads = [electrodes(Site.forearm_left, 4.0)[0], electrodes(Site.elbow_left, 4.0)[0]]
    proto = protocol([phase(100.0, 200.0)], [channel(1, pads), channel(2, pads)])
    report = check_protocol(proto, device(), {1: 50.0, 2: 50.0})
    assert of(report, "current_density", "channels") == [
        expect(
            "current_density",
            V,
            f"channels [1, 2] share {site}: 5 mA r.m.s./cm² together",
            "channels",
            5.0,
            lim("current_density_ma_per_cm2"),
            "mA r.m.s./cm²",
            cite("current_density_ma_per_cm2"),
        )
        for site in ("forearm_left", "elbow_left")
    ]


# --- charge balance at its boundary ---------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "refused"), [(1.0, False), (1.000000001, False), (1.000000002, True)]
)
def test_net_charge_at_exactly_the_tolerated_allowance(peak: float, refused: bool) -> None:
    # a secondary phase of amplitude 0: all of Q = peak · 100 µs is net. 0.1 µC is the
    # absolute allowance; 1.000000001 mA gives 0.1 · (1 + 1e-9) µC, the float-noise
    # tolerance itself, which still passes
    p = phase(100.0, 100.0, secondary=(0.0, 1.0))
    report = check_protocol(protocol([p]), device(), {1: peak})
    assert bool(of(report, "charge_balance")) is refused


# --- the device profile's absolute caps -----------------------------------------------------


def test_a_watchdog_above_the_absolute_cap() -> None:
    report = check_protocol(protocol(), device(watchdog_ms=2500.0), {1: 10.0})
    message = "device profile tenssim-2ch: watchdog_ms 2500 ms is above the limit"
    assert of(report, "device.watchdog") == [
        expect(
            "device.watchdog",
            severity,
            message,
            "device.watchdog_ms",
            2500.0,
            lim(key),
            "ms",
            cite(key),
        )
        for severity, key in ((W, "device_watchdog_max_ms"), (V, "device_watchdog_abs_max_ms"))
    ]


@pytest.mark.parametrize(("ms", "refused"), [(1999.0, False), (2000.0, False), (2001.0, True)])
def test_watchdog_absolute_cap_boundary(ms: float, refused: bool) -> None:
    report = check_protocol(protocol(), device(watchdog_ms=ms), {1: 10.0})
    expected = [W, V] if refused else [W]  # above the 500 ms default, a warning in any case
    assert [f.severity for f in of(report, "device.watchdog")] == expected


def test_a_profile_above_the_absolute_peak() -> None:
    report = check_protocol(protocol(), device(max_ma=150.0), {1: 10.0})
    assert of(report, "device.amplitude") == [
        expect(
            "device.amplitude",
            V,
            "device profile tenssim-2ch: amplitude.max_ma 150 mA peak is above the limit",
            "device.amplitude.max_ma",
            150.0,
            lim("amplitude_peak_max_ma"),
            "mA peak",
            cite("amplitude_peak_max_ma"),
        )
    ]


@pytest.mark.parametrize(("max_ma", "refused"), [(129.9, False), (130.0, False), (130.1, True)])
def test_profile_peak_boundary(max_ma: float, refused: bool) -> None:
    report = check_protocol(protocol(), device(max_ma=max_ma), {1: 10.0})
    assert bool(of(report, "device.amplitude")) is refused


# --- the supervisor's ceiling ---------------------------------------------------------------


@pytest.mark.parametrize(("ceiling", "held"), [(-2.0, 0.0), (0.0, 0.0), (0.5, 0.5), (200.0, 100.0)])
def test_a_ceiling_below_1_ma_is_held_as_given(ceiling: float, held: float) -> None:
    s = Supervisor(device(), {1: ceiling})
    assert s.ceiling_ma(1) == held
    assert s.limit(1, 50.0, 0.0) == min(held, 1.0)  # one slew step at most


@pytest.mark.parametrize(
    ("lowered", "held"),
    [(math.inf, 0.0), (-math.inf, 0.0), (-0.5, 0.0), (0.0, 0.0), (0.5, 0.5), (1.0, 1.0)],
)
def test_lowering_the_ceiling_to_a_small_or_bogus_value(lowered: float, held: float) -> None:
    s = Supervisor(device(), {1: 30.0})
    assert s.lower_ceiling(1, lowered) == held == s.ceiling_ma(1)
    assert s.limit(1, 50.0, 0.0) == held
