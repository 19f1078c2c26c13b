"""Rules outside the per-pulse sweeps: session, placement, device, modes, worst cases."""

from __future__ import annotations

import math

import pytest
from builders import channel, device, electrodes, phase, protocol
from oracle import L, sweep

from tensctl.model.device import DeviceProfile, LiveParameter, UseClass
from tensctl.model.electrodes import Site
from tensctl.model.modes import (
    Alternating,
    AlternatingStep,
    AmplitudeDepth,
    Burst,
    FrequencySweep,
    Modulated,
    PulseWidthSweep,
)
from tensctl.model.protocol import Waveform
from tensctl.safety import Severity, check_protocol

V, W, D = Severity.violation, Severity.warning, Severity.diagnostic


@pytest.mark.parametrize(
    ("use_class", "key"),
    [
        (UseClass.home, "session_max_s"),
        (UseClass.clinic, "session_max_clinic_s"),
        (UseClass.research, "session_max_clinic_s"),
    ],
)
def test_session_timer_sweep(use_class: UseClass, key: str) -> None:
    dev = device(use_class=use_class, max_session_s=1e9)
    for timer in sweep(L[key], (600.0,)):
        report = check_protocol(
            protocol([phase(duration=600.0)], timer=timer, daily=1e9), dev, {1: 10.0}
        )
        legal = 600.0 <= timer <= L[key]
        assert report.ok == legal, timer
        assert ("session.timer" in report.rules(V)) == (not legal)


def test_session_timer_device_limit_is_cited() -> None:
    dev = device(max_session_s=900.0)
    report = check_protocol(protocol([phase(duration=600.0)], timer=1200.0), dev, {1: 10.0})
    [finding] = [f for f in report.violations if f.rule == "session.timer"]
    assert finding.limit == 900.0 and "tenssim-2ch" in finding.source
    assert finding.path == "session.max_duration_s"


def test_daily_cap() -> None:
    dev = device()
    for daily in sweep(1800.0):
        report = check_protocol(protocol(timer=1800.0, daily=daily), dev, {1: 10.0})
        assert ("session.daily_cap" in report.rules(V)) == (daily < 1800.0), daily
    absent = check_protocol(protocol(daily=None), dev, {1: 10.0})
    assert absent.ok and "session.daily_cap" in absent.rules(W)


def test_update_rate_for_alternating_and_modulated() -> None:
    dev = device(min_update_interval_ms=100.0)
    for dwell in sweep(0.2, (0.1,)):
        steps = [
            AlternatingStep(frequency_hz=2, dwell_s=3),
            AlternatingStep.model_construct(frequency_hz=100, pulse_width_us=None, dwell_s=dwell),
        ]
        alt = Alternating.model_construct(type="alternating", steps=steps)
        report = check_protocol(protocol([phase(None, 200.0, mode=alt)]), dev, {1: 10.0})
        assert ("envelope.update_rate" in report.rules(V)) == (dwell * 1000 < 100.0), dwell
        if dwell * 1000 < 100.0:
            [f] = [f for f in report.violations if f.rule == "envelope.update_rate"]
            assert f.path == "phases[0].mode.steps[1].dwell_s"
    for period in sweep(2.0, (1.0,)):
        mod = Modulated.model_construct(
            type="modulated",
            period_s=period,
            shape="triangle",
            parameters=[FrequencySweep(parameter="frequency_hz", low=2, high=100)],
        )
        report = check_protocol(protocol([phase(None, 200.0, mode=mod)]), dev, {1: 10.0})
        assert ("envelope.update_rate" in report.rules(V)) == (period * 100 < 100.0), period
    unlimited = device(min_update_interval_ms=None)
    report = check_protocol(protocol([phase(None, 200.0, mode=alt)]), unlimited, {1: 10.0})
    assert "envelope.update_rate" not in report.rules()


@pytest.mark.parametrize("live", [["amplitude", "pulse_width"], ["frequency"], ["amplitude"]])
def test_modulation_needs_the_parameter_to_change_live(live: list[str]) -> None:
    dev = device(live_parameters=[LiveParameter(p) for p in live])
    swept = [
        FrequencySweep(parameter="frequency_hz", low=2, high=100),
        PulseWidthSweep(parameter="pulse_width_us", low=100, high=200),
        AmplitudeDepth(parameter="amplitude", depth_percent=50),
    ]
    for i, sweep_ in enumerate(swept):
        mod = Modulated.model_construct(
            type="modulated", period_s=10.0, shape="triangle", parameters=[sweep_]
        )
        freq = None if i == 0 else 100.0
        width = None if i == 1 else 200.0
        report = check_protocol(protocol([phase(freq, width, mode=mod)]), dev, {1: 10.0})
        name = ["frequency", "pulse_width", "amplitude"][i]
        assert ("envelope.live_update" in report.rules(V)) == (name not in live), name
    alternating = Alternating.model_construct(
        type="alternating", steps=[AlternatingStep(frequency_hz=2, dwell_s=3)] * 2
    )
    report = check_protocol(protocol([phase(None, 200.0, mode=alternating)]), dev, {1: 10.0})
    assert "envelope.live_update" not in report.rules()  # the device alternates on its own


@pytest.mark.parametrize(
    ("value", "rule", "severity", "field", "key"),
    [
        (
            "compliance_voltage_v",
            "device.compliance_voltage",
            V,
            "compliance_voltage_v",
            "open_circuit_voltage_v",
        ),
        ("watchdog_ms", "device.watchdog", W, "watchdog_ms", "device_watchdog_max_ms"),
        ("slew_step", "device.slew", W, "slew.max_step_ma", "slew_step_max_ma"),
        ("slew_rate", "device.slew", W, "slew.max_rate_ma_per_s", "slew_rate_max_ma_per_s"),
    ],
)
def test_device_profile_limits(
    value: str, rule: str, severity: Severity, field: str, key: str
) -> None:
    for x in sweep(L[key]):
        dev = device(**{value: x})
        report = check_protocol(protocol(), dev, {1: 10.0})
        fired = [f for f in report.findings if f.rule == rule and f.path == f"device.{field}"]
        assert bool(fired) == (x > L[key]), x
        assert all(f.severity is severity for f in fired)


@pytest.mark.parametrize(
    ("sites", "rule"),
    [
        ((Site.chest_left, Site.upper_back_left), "placement.thorax"),
        ((Site.chest_right, Site.upper_back_left), "placement.thorax"),
        ((Site.chest_left, Site.chest_right), "placement.thorax"),
        ((Site.head, Site.posterior_neck), "placement.contraindicated"),
        ((Site.eye, Site.forearm_left), "placement.contraindicated"),
        ((Site.mouth, Site.head), "placement.contraindicated"),
        ((Site.anterior_neck, Site.trapezius_left), "placement.contraindicated"),
        ((Site.upper_back_left, Site.upper_back_right), None),
        ((Site.chest_left, Site.shoulder_left), None),
        ((Site.upper_back_left, Site.lower_back_left), None),
    ],
)
def test_placement(sites: tuple[Site, Site], rule: str | None) -> None:
    pads = [electrodes(site)[0] for site in sites]
    report = check_protocol(protocol(channels=[channel(pads=pads)]), device(), {1: 10.0})
    placement = {r for r in report.rules(V) if r.startswith("placement")}
    assert placement == ({rule} if rule else set())


def test_placement_uses_the_electrodes_actually_placed() -> None:
    proto = protocol()
    placed = {1: [electrodes(Site.chest_left)[0], electrodes(Site.chest_right)[0]]}
    report = check_protocol(proto, device(), {1: 10.0}, electrodes=placed)
    assert "placement.thorax" in report.rules(V)


def test_channel_count_waveform_and_mode_support() -> None:
    dev = device(waveforms=[Waveform.symmetric_biphasic], modes=["continuous"])
    chans = [channel(i) for i in (1, 2, 3)]
    burst = Burst(type="burst", pulses_per_train=3, train_rate_hz=2)
    proto = protocol([phase(secondary=(0.25, 4.0)), phase(mode=burst)], chans)
    report = check_protocol(proto, dev, {1: 10.0, 2: 10.0, 3: 10.0})
    assert {"envelope.channels", "envelope.waveform", "envelope.mode"} <= report.rules(V)
    paths = {f.rule: f.path for f in report.violations}
    assert paths["envelope.waveform"] == "phases[0].waveform"
    assert paths["envelope.mode"] == "phases[1].mode.type"


def test_shared_site_sums_rms_currents() -> None:
    dev = device()
    # each channel 1.5 mA r.m.s./cm² alone on 10 cm² (75 mA, 100 µs, 100 Hz ≈ 15 mA r.m.s.);
    # together 3 mA/cm² on the shared forearm site
    ch1 = channel(1, [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.hand_left)[0]])
    ch2 = channel(2, [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.elbow_left)[0]])
    report = check_protocol(protocol([phase(100.0, 100.0)], [ch1, ch2]), dev, {1: 75.0, 2: 75.0})
    shared = [f for f in report.violations if f.path == "channels"]
    assert shared and shared[0].rule == "current_density"
    assert shared[0].value == pytest.approx(2 * 75 * (2 * 100e-6 * 100) ** 0.5 / 10.0)
    acked = check_protocol(
        protocol([phase(100.0, 100.0)], [ch1, ch2]),
        dev,
        {1: 75.0, 2: 75.0},
        acknowledged=("current_density",),
    )
    assert acked.ok
    apart = check_protocol(protocol([phase(100.0, 100.0)], [ch1, ch2]), dev, {1: 40.0, 2: 40.0})
    assert "current_density" not in apart.rules()


def test_missing_intensity_is_a_violation() -> None:
    report = check_protocol(protocol(), device(), {})
    assert "intensity.missing" in report.rules(V)


def test_alternating_and_modulated_check_every_corner() -> None:
    dev = device()
    alt = Alternating(
        type="alternating",
        steps=[
            AlternatingStep(frequency_hz=2, dwell_s=3),
            AlternatingStep(frequency_hz=250, dwell_s=3, pulse_width_us=30),
        ],
    )
    report = check_protocol(protocol([phase(None, 200.0, mode=alt)]), dev, {1: 10.0})
    paths = {f.path for f in report.violations}
    assert paths == {
        "phases[0].mode.steps[1].frequency_hz",
        "phases[0].mode.steps[1].pulse_width_us",
    }
    mod = Modulated(
        type="modulated",
        period_s=12,
        parameters=[
            FrequencySweep(parameter="frequency_hz", low=0.5, high=120),
            PulseWidthSweep(parameter="pulse_width_us", low=100, high=450, inverted=True),
            AmplitudeDepth(parameter="amplitude", depth_percent=30),
        ],
    )
    report = check_protocol(protocol([phase(None, None, mode=mod)]), dev, {1: 10.0})
    paths = {f.path for f in report.violations}
    assert paths == {"phases[0].mode.parameters[0].low", "phases[0].mode.parameters[1].high"}
    # The worst corner (150 Hz with 400 µs: 90 mA → 31.2 mA r.m.s., 3.1 mA/cm² on 10 cm²)
    # decides, although the inverted width means the timeline only reaches 150 Hz with
    # 100 µs (15.6 mA r.m.s., 1.56 mA/cm²): the check is a proof for every instant.
    mod_ok = Modulated(
        type="modulated",
        period_s=12,
        parameters=[
            FrequencySweep(parameter="frequency_hz", low=2, high=150),
            PulseWidthSweep(parameter="pulse_width_us", low=100, high=400, inverted=True),
        ],
    )
    pads = [channel(pads=electrodes(area=10.0))]
    report = check_protocol(protocol([phase(None, None, mode=mod_ok)], pads), dev, {1: 90.0})
    [f] = report.violations
    assert f.rule == "current_density"
    assert f.value == pytest.approx(90 * (2 * 400e-6 * 150) ** 0.5 / 10)


def test_findings_carry_rule_value_limit_unit_source_and_path() -> None:
    report = check_protocol(protocol([phase(300.0, 200.0)]), device(), {1: 10.0})
    [f] = report.violations
    assert (f.rule, f.value, f.limit, f.unit) == ("envelope.frequency", 300.0, 200.0, "Hz")
    assert f.path == "phases[0].frequency_hz" and "[Q]" in f.source
    assert f.to_json()["severity"] == "violation"
    assert report.warnings == [] and not report.ok


def test_shannon_k_is_only_ever_a_diagnostic() -> None:
    for amp in (0.0, 10.0, 100.0):
        report = check_protocol(
            protocol([phase(100.0, 400.0)], [channel(pads=electrodes(area=0.5))]),
            device(),
            {1: amp},
        )
        ks = [f for f in report.findings if f.rule == "shannon_k"]
        assert ks and all(f.severity is D for f in ks)
        assert "shannon_k" not in report.rules(V) | report.rules(W)


def test_a_channel_without_intensity_does_not_hide_the_next_one() -> None:
    eye = channel(2, [electrodes(Site.eye)[0], electrodes(Site.forearm_left)[0]])
    report = check_protocol(protocol(channels=[channel(1), eye]), device(), {2: 150.0})
    assert {"intensity.missing", "placement.contraindicated", "envelope.amplitude"} <= (
        report.rules(V)
    )
    assert [f.channel for f in report.violations if f.rule == "envelope.amplitude"] == [2]


def test_every_alternating_step_is_dose_checked_not_only_the_last() -> None:
    # 150 mA: the 400 µs step carries 60 µC per phase; the last step (100 µs) only 15 µC
    steps = [
        AlternatingStep(frequency_hz=100, dwell_s=3, pulse_width_us=400),
        AlternatingStep(frequency_hz=2, dwell_s=3, pulse_width_us=100),
    ]
    alt = Alternating(type="alternating", steps=steps)
    dev = device(max_ma=500.0, max_charge_per_phase_uc=1000.0)
    big = [channel(pads=electrodes(area=1000.0))]
    report = check_protocol(protocol([phase(None, None, mode=alt)], big), dev, {1: 150.0})
    [charge] = [f for f in report.violations if f.rule == "charge_per_phase"]
    assert charge.value == pytest.approx(60.0)


def test_no_current_is_no_dose_even_on_a_tiny_pad() -> None:
    tiny = protocol([phase()], [channel(pads=electrodes(area=0.25))])
    report = check_protocol(tiny, device(), {1: 0.0})
    assert report.ok and "current_density" not in report.rules()


def test_an_idle_channel_adds_nothing_to_a_shared_site() -> None:
    # channel 2 alone: 7.5 mA, 200 µs, 100 Hz → 1.5 mA r.m.s. on the shared 1 cm² pad
    ch1 = channel(1, [electrodes(Site.forearm_left, 1.0)[0], electrodes(Site.hand_left)[0]])
    ch2 = channel(2, [electrodes(Site.forearm_left, 1.0)[0], electrodes(Site.elbow_left)[0]])
    report = check_protocol(protocol([phase()], [ch1, ch2]), device(), {1: 0.0, 2: 7.5})
    assert report.ok and "current_density" not in report.rules()


def test_shared_sites_are_those_of_the_electrodes_actually_placed() -> None:
    # the file puts the channels on different forearms; the operator put both on the left
    ch1 = channel(1, [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.hand_left)[0]])
    ch2 = channel(2, [electrodes(Site.forearm_right, 10.0)[0], electrodes(Site.hand_right)[0]])
    proto = protocol([phase(100.0, 100.0)], [ch1, ch2])
    assert check_protocol(proto, device(), {1: 75.0, 2: 75.0}).ok  # 1.06 mA/cm² each
    placed = {
        1: ch1.electrodes,
        2: [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.elbow_left)[0]],
    }
    report = check_protocol(proto, device(), {1: 75.0, 2: 75.0}, electrodes=placed)
    [shared] = report.violations
    assert (shared.rule, shared.path) == ("current_density", "channels")


def test_channels_on_different_sites_are_not_summed() -> None:
    ch1 = channel(1, [electrodes(Site.hand_left)[0], electrodes(Site.forearm_left, 10.0)[0]])
    ch2 = channel(2, [electrodes(Site.hand_right)[0], electrodes(Site.forearm_right, 10.0)[0]])
    report = check_protocol(protocol([phase(100.0, 100.0)], [ch1, ch2]), device(), {1: 75, 2: 75})
    assert report.ok and "current_density" not in report.rules()


def test_a_stray_secondary_phase_on_a_symmetric_pulse_is_ignored() -> None:
    # The file model refuses this combination; the check must still dose what the device
    # produces, two full phases: 140 mA, 400 µs, 200 Hz → 140 · 0.4 = 56 mA r.m.s. (a 1:4
    # secondary phase would make it look like 140 · sqrt(1.25 · 0.08) = 44 mA).
    stray = phase(200.0, 400.0, secondary=(0.25, 4.0)).model_copy(
        update={"waveform": Waveform.symmetric_biphasic}
    )
    dev = device(max_ma=500.0, max_charge_per_phase_uc=1000.0)
    big = [channel(pads=electrodes(area=1000.0))]
    report = check_protocol(protocol([stray], big), dev, {1: 140.0})
    [rms] = [f for f in report.violations if f.rule == "rms_current"]
    assert rms.value == pytest.approx(56.0)


STRONG = device(max_ma=2000.0, compliance_voltage_v=400.0, max_charge_per_phase_uc=1e6)


def _rules_at(dev: DeviceProfile, amp: float, freq: float, width: float, area: float) -> set[str]:
    proto = protocol([phase(freq, width)], [channel(pads=electrodes(area=area))])
    return check_protocol(proto, dev, {1: amp}).rules(V)


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def test_limits_at_exactly_the_limit() -> None:
    """safety-check.md: I_rms ≤ 50 mA, E ≤ 300 mJ and J ≤ 2 mA/cm² are allowed at the limit
    itself; P/A must stay strictly below 0.25 W/cm². The amplitudes below hit each limit
    exactly in floating point (250 µs at 125 Hz: I_rms = I / 4)."""
    assert "rms_current" not in _rules_at(STRONG, 200.0, 125.0, 250.0, 1000.0)
    assert "rms_current" in _rules_at(STRONG, above(200.0), 125.0, 250.0, 1000.0)
    # 1 A² · 500 Ω · 2 · 300 µs = 300 mJ
    assert "energy_per_pulse" not in _rules_at(STRONG, 1000.0, 1.0, 300.0, 1e6)
    assert "energy_per_pulse" in _rules_at(STRONG, above(1000.0), 1.0, 300.0, 1e6)
    # 10 mA r.m.s. on 5 cm²
    assert "current_density" not in _rules_at(device(), 40.0, 125.0, 250.0, 5.0)
    assert "current_density" in _rules_at(device(), above(40.0), 125.0, 250.0, 5.0)
    # 10 mA r.m.s. at 100 V / 40 mA = 2500 Ω on 1 cm²: 0.01² · 2500 = 0.25 W/cm²
    dev = device(compliance_voltage_v=100.0)
    assert "power_density" in _rules_at(dev, 40.0, 125.0, 250.0, 1.0)
    assert "power_density" not in _rules_at(dev, math.nextafter(40.0, 0.0), 125.0, 250.0, 1.0)


def test_shared_site_at_exactly_the_limit() -> None:
    # 10 mA r.m.s. each (40 mA, 250 µs, 125 Hz), 20 mA on the shared 10 cm²: 2 mA/cm²
    ch1 = channel(1, [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.hand_left)[0]])
    ch2 = channel(2, [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.elbow_left)[0]])
    proto = protocol([phase(125.0, 250.0)], [ch1, ch2])
    assert check_protocol(proto, device(), {1: 40.0, 2: 40.0}).ok
    over = check_protocol(proto, device(), {1: above(40.0), 2: above(40.0)})
    assert [f.path for f in over.violations] == ["channels"]
