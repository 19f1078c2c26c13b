"""What the operator is told: every field of every kind of finding, and of every trip.

A finding is the whole of what `protocols validate`/`show` print and what the session record
keeps (safety-check.md: rule, severity, message, value, limit with its unit, the limit's
source, the path in the protocol file, the channel). A blocked session must say exactly which
value broke which limit, where, and on whose authority; a trip's message goes into the fault
record. So each case below builds one offending protocol (or reading) and pins the complete
record. Values are computed by hand from safety-check.md's formulas; limits and their
citations come from the table (no number written twice).
"""

from __future__ import annotations

import math

import pytest
from builders import channel, cite, device, electrodes, expect, lim, phase, protocol, reading

from tensctl.model.device import LiveParameter, UseClass
from tensctl.model.electrodes import Electrode, Site
from tensctl.model.modes import (
    Alternating,
    AlternatingStep,
    Burst,
    FrequencySweep,
    Modulated,
    PulseWidthSweep,
)
from tensctl.model.protocol import Channel, IntensityTarget, Waveform
from tensctl.safety import LIMITS, Finding, SafetyReport, Severity, check_protocol
from tensctl.safety.supervisor import Action, Supervisor, Verdict

V, W, D = Severity.violation, Severity.warning, Severity.diagnostic
SIM = "device profile tenssim-2ch"


def only(report: SafetyReport, rule: str) -> Finding:
    found = [f for f in report.findings if f.rule == rule]
    assert len(found) == 1, found
    return found[0]


# --- the protocol, its session and the device's envelope ---------------------------------


def test_too_many_channels() -> None:
    report = check_protocol(
        protocol(channels=[channel(i) for i in (1, 2, 3)]), device(), {1: 10, 2: 10, 3: 10}
    )
    assert only(report, "envelope.channels") == expect(
        "envelope.channels", V, "3 channels, the device has 2", "channels", 3, 2, "channels", SIM
    )


def test_missing_intensity_names_the_channel() -> None:
    report = check_protocol(protocol(channels=[channel(1), channel(2)]), device(), {1: 10.0})
    assert only(report, "intensity.missing") == expect(
        "intensity.missing",
        V,
        "channel 2 has no resolved intensity",
        "channels[1].intensity",
        channel=2,
    )


def test_session_timer_above_the_table_cites_the_table() -> None:
    home = device(use_class=UseClass.home, max_session_s=1e9)
    report = check_protocol(protocol(timer=4000.0, daily=1e9), home, {1: 10.0})
    cap = lim("session_max_s")
    assert only(report, "session.timer") == expect(
        "session.timer",
        V,
        f"session timer 4000 s exceeds {cap:g} s",
        "session.max_duration_s",
        4000.0,
        cap,
        "s",
        cite("session_max_s"),
    )


def test_phases_longer_than_the_timer() -> None:
    proto = protocol([phase(duration=600.0), phase(duration=600.0)], timer=1000.0)
    assert only(check_protocol(proto, device(), {1: 10.0}), "session.timer") == expect(
        "session.timer",
        V,
        "phases last 1200 s, longer than the session timer",
        "phases",
        1200.0,
        1000.0,
        "s",
        "session.max_duration_s",
    )


def test_daily_cap_absent_or_too_short() -> None:
    absent = check_protocol(protocol(daily=None), device(), {1: 10.0})
    assert only(absent, "session.daily_cap") == expect(
        "session.daily_cap", W, "no daily cap is set", "session"
    )
    short = check_protocol(protocol(timer=1800.0, daily=900.0), device(), {1: 10.0})
    assert only(short, "session.daily_cap") == expect(
        "session.daily_cap",
        V,
        "the daily cap is shorter than one session",
        "session.daily_cap_s",
        900.0,
        1800.0,
        "s",
        "session.max_duration_s",
    )


def test_waveform_and_mode_the_device_lacks() -> None:
    dev = device(waveforms=[Waveform.symmetric_biphasic], modes=["continuous"])
    burst = Burst(type="burst", pulses_per_train=3, train_rate_hz=2)
    report = check_protocol(
        protocol([phase(secondary=(0.25, 4.0)), phase(mode=burst)]), dev, {1: 10.0}
    )
    assert only(report, "envelope.waveform") == expect(
        "envelope.waveform",
        V,
        "tenssim 2-channel cannot produce asymmetric_biphasic",
        "phases[0].waveform",
        "asymmetric_biphasic",
        None,
        "",
        SIM,
    )
    assert only(report, "envelope.mode") == expect(
        "envelope.mode",
        V,
        "tenssim 2-channel has no burst mode",
        "phases[1].mode.type",
        "burst",
        None,
        "",
        SIM,
    )


NARROW = device(
    frequency_hz=device().frequency_hz.model_copy(update={"min": 5, "max": 80}),
    pulse_width_us=device().pulse_width_us.model_copy(update={"min": 100, "max": 300}),
)


@pytest.mark.parametrize(
    ("freq", "width", "words", "bounds"),
    [
        (3.0, 350.0, ("below the minimum", "above the maximum"), (5.0, 300.0)),
        (90.0, 80.0, ("above the maximum", "below the minimum"), (80.0, 100.0)),
    ],
)
def test_envelope_of_a_narrower_device_cites_the_device(
    freq: float, width: float, words: tuple[str, str], bounds: tuple[float, float]
) -> None:
    report = check_protocol(protocol([phase(freq, width)]), NARROW, {1: 10.0})
    assert only(report, "envelope.frequency") == expect(
        "envelope.frequency",
        V,
        f"frequency {freq:g} Hz is {words[0]}",
        "phases[0].frequency_hz",
        freq,
        bounds[0],
        "Hz",
        f"{SIM} [S]",
    )
    assert only(report, "envelope.pulse_width") == expect(
        "envelope.pulse_width",
        V,
        f"pulse width {width:g} µs is {words[1]}",
        "phases[0].pulse_width_us",
        width,
        bounds[1],
        "µs",
        f"{SIM} [S]",
    )


def test_a_device_bound_equal_to_the_table_cites_the_table() -> None:
    # the simulator's range starts at the table's 1 Hz; its charge cap is the table's 40 µC
    report = check_protocol(protocol([phase(0.5, 400.0)]), device(), {1: 110.0})
    assert only(report, "envelope.frequency") == expect(
        "envelope.frequency",
        V,
        "frequency 0.5 Hz is below the minimum",
        "phases[0].frequency_hz",
        0.5,
        lim("frequency_min_hz"),
        "Hz",
        cite("frequency_min_hz"),
    )
    assert only(report, "charge_per_phase") == expect(
        "charge_per_phase",
        V,
        "channel 1: 44 µC per phase",
        "phases[0]",
        44.0,
        lim("charge_per_phase_uc"),
        "µC",
        cite("charge_per_phase_uc"),
        1,
    )


def test_update_rate() -> None:
    steps = [
        AlternatingStep(frequency_hz=2, dwell_s=3),
        AlternatingStep.model_construct(frequency_hz=100, pulse_width_us=None, dwell_s=0.05),
    ]
    alt = Alternating.model_construct(type="alternating", steps=steps)
    dev = device(min_update_interval_ms=100.0)
    report = check_protocol(protocol([phase(None, 200.0, mode=alt)]), dev, {1: 10.0})
    assert only(report, "envelope.update_rate") == expect(
        "envelope.update_rate",
        V,
        "needs an update every 50 ms; the device accepts one every 100 ms",
        "phases[0].mode.steps[1].dwell_s",
        50.0,
        100.0,
        "ms",
        f"{SIM} (min_update_interval_ms)",
    )


def test_live_update() -> None:
    mod = Modulated.model_construct(
        type="modulated",
        period_s=10.0,
        shape="triangle",
        parameters=[
            PulseWidthSweep(parameter="pulse_width_us", low=100, high=200),
            FrequencySweep(parameter="frequency_hz", low=2, high=40),
        ],
    )
    dev = device(live_parameters=[LiveParameter.amplitude, LiveParameter.pulse_width])
    report = check_protocol(protocol([phase(None, None, mode=mod)]), dev, {1: 10.0})
    assert only(report, "envelope.live_update") == expect(
        "envelope.live_update",
        V,
        "tenssim 2-channel cannot change frequency while stimulating",
        "phases[0].mode.parameters[1].parameter",
        "frequency_hz",
        None,
        "",
        f"{SIM} (live_parameters)",
    )


def test_device_profile_above_the_table() -> None:
    report = check_protocol(protocol(), device(compliance_voltage_v=600.0), {1: 10.0})
    assert only(report, "device.compliance_voltage") == expect(
        "device.compliance_voltage",
        V,
        "device profile tenssim-2ch: compliance_voltage_v 600 V is above the limit",
        "device.compliance_voltage_v",
        600.0,
        lim("open_circuit_voltage_v"),
        "V",
        cite("open_circuit_voltage_v"),
    )


# --- placement --------------------------------------------------------------------------


def pads(*sites: Site) -> list[Electrode]:
    return [electrodes(site)[0] for site in sites]


def test_contraindicated_sites_are_all_named() -> None:
    second = channel(2, pads(Site.head, Site.eye))
    report = check_protocol(protocol(channels=[channel(1), second]), device(), {1: 10, 2: 10})
    assert only(report, "placement.contraindicated") == expect(
        "placement.contraindicated",
        V,
        "channel 2 is placed on eye, head",
        "channels[1].electrodes",
        "eye, head",
        None,
        "",
        "safety.md item 14",
        2,
    )


def test_across_the_thorax() -> None:
    second = channel(2, pads(Site.chest_right, Site.chest_left))
    report = check_protocol(protocol(channels=[channel(1), second]), device(), {1: 10, 2: 10})
    assert only(report, "placement.thorax") == expect(
        "placement.thorax",
        V,
        "channel 2 would pass current across the thorax",
        "channels[1].electrodes",
        "chest_left, chest_right",
        None,
        "",
        "safety.md item 13",
        2,
    )


# --- amplitude --------------------------------------------------------------------------


def test_amplitude_findings_point_at_the_protocol_intensity() -> None:
    report = check_protocol(protocol(channels=[channel(ceiling=30.0)]), device(), {1: -5.0})
    assert only(report, "envelope.amplitude") == expect(
        "envelope.amplitude", V, "amplitude -5 mA is negative", "intensity", -5.0, 0.0, "mA", SIM, 1
    )
    report = check_protocol(protocol(channels=[channel(ceiling=30.0)]), device(), {1: 150.0})
    assert only(report, "envelope.amplitude") == expect(
        "envelope.amplitude",
        V,
        "amplitude 150 mA is above the device maximum",
        "intensity",
        150.0,
        100.0,
        "mA",
        SIM,
        1,
    )
    assert only(report, "intensity.ceiling") == expect(
        "intensity.ceiling",
        V,
        "amplitude 150 mA is above the channel ceiling",
        "intensity",
        150.0,
        30.0,
        "mA",
        "protocol ceiling_ma",
        1,
    )


def test_amplitude_findings_point_at_a_channel_s_own_intensity() -> None:
    own = Channel.model_construct(
        id=2,
        label=None,
        electrodes=electrodes(),
        intensity=IntensityTarget(relative_to="SC2"),
        ceiling_ma=None,
    )
    report = check_protocol(protocol(channels=[channel(1), own]), device(), {1: 10, 2: -1.0})
    assert only(report, "envelope.amplitude").path == "channels[1].intensity"


# --- doses ------------------------------------------------------------------------------

STRONG = device(max_ma=2000.0, compliance_voltage_v=400.0, max_charge_per_phase_uc=1000.0)


def test_rms_charge_and_energy_per_pulse() -> None:
    # 1100 mA, 300 µs at 10 Hz: I_rms = 1100 · sqrt(2 · 300e-6 · 10) = 85.2 mA; Q = 330 µC;
    # E = 1.1² A² · 500 Ω · 2 · 300 µs = 363 mJ
    big = [channel(pads=electrodes(area=1000.0))]
    report = check_protocol(protocol([phase(10.0, 300.0)], big), STRONG, {1: 1100.0})
    rms = 1100.0 * math.sqrt(2 * 300e-6 * 10)
    assert only(report, "rms_current") == expect(
        "rms_current",
        V,
        "channel 1: 85.2 mA r.m.s.",
        "phases[0]",
        rms,
        lim("rms_current_ma"),
        "mA r.m.s.",
        cite("rms_current_ma"),
        1,
    )
    assert only(report, "charge_per_phase") == expect(
        "charge_per_phase",
        V,
        "channel 1: 330 µC per phase",
        "phases[0]",
        330.0,
        lim("charge_per_phase_uc"),
        "µC",
        cite("charge_per_phase_uc"),
        1,
    )
    assert only(report, "energy_per_pulse") == expect(
        "energy_per_pulse",
        V,
        "channel 1: 363 mJ per pulse",
        "phases[0]",
        1.1**2 * 500 * 2 * 300e-6 * 1000,
        lim("energy_per_pulse_mj"),
        "mJ into 500 Ω",
        cite("energy_per_pulse_mj"),
        1,
    )


def test_charge_per_phase_against_a_tighter_device_cites_the_device() -> None:
    dev = device(max_charge_per_phase_uc=20.0)
    report = check_protocol(protocol([phase(10.0, 400.0)]), dev, {1: 60.0})  # 24 µC
    assert only(report, "charge_per_phase") == expect(
        "charge_per_phase",
        V,
        "channel 1: 24 µC per phase",
        "phases[0]",
        24.0,
        20.0,
        "µC",
        f"{SIM} [S]",
        1,
    )


def test_charge_balance() -> None:
    # secondary phase at half the amplitude for the same width: Q = 50 mA · 200 µs = 10 µC,
    # Q_net = 10 · (1 − 0.5) = 5 µC, allowed max(1 % · 10, 0.1) = 0.1 µC
    report = check_protocol(protocol([phase(50.0, 200.0, secondary=(0.5, 1.0))]), device(), {1: 50})
    frac, absolute = LIMITS["net_charge_fraction"], LIMITS["net_charge_uc"]
    assert only(report, "charge_balance") == expect(
        "charge_balance",
        V,
        "channel 1: 5 µC net charge per pulse is not balanced",
        "phases[0].secondary_phase",
        5.0,
        absolute.value,
        "µC",
        f"{frac.cite()}; {absolute.cite()}",
        1,
    )


def test_current_density_blocks_and_says_it_needs_an_acknowledgement() -> None:
    # 50 mA, 200 µs, 100 Hz → 10 mA r.m.s.; on 4 cm²: 2.5 mA r.m.s./cm²
    proto = protocol([phase(100.0, 200.0)], [channel(pads=electrodes(area=4.0))])
    blocked = check_protocol(proto, device(), {1: 50.0})
    acked = check_protocol(proto, device(), {1: 50.0}, acknowledged=("current_density",))
    for report, severity, note in (
        (blocked, V, "; needs an acknowledgement"),
        (acked, W, " (acknowledged)"),
    ):
        assert only(report, "current_density") == expect(
            "current_density",
            severity,
            f"channel 1: 2.5 mA r.m.s./cm² on 4 cm²{note}",
            "phases[0]",
            2.5,
            lim("current_density_ma_per_cm2"),
            "mA r.m.s./cm²",
            cite("current_density_ma_per_cm2"),
            1,
        )


def test_power_density_names_the_drivable_impedance() -> None:
    # 10 mA r.m.s. (as above); 120 V drives at most 2400 Ω at 50 mA; on 0.5 cm²:
    # 0.01² · 2400 / 0.5 = 0.48 W/cm²
    proto = protocol([phase(100.0, 200.0)], [channel(pads=electrodes(area=0.5))])
    report = check_protocol(proto, device(), {1: 50.0})
    assert only(report, "power_density") == expect(
        "power_density",
        V,
        "channel 1: 0.48 W/cm² at 2400 Ω on 0.5 cm²",
        "phases[0]",
        0.48,
        lim("power_density_w_per_cm2"),
        "W/cm²",
        cite("power_density_w_per_cm2"),
        1,
    )


def test_shannon_k_diagnostic() -> None:
    # Q = 10 mA · 200 µs = 2 µC on 25 cm²: k = log10(2 · 2 / 25)
    report = check_protocol(protocol([phase(100.0, 200.0)]), device(), {1: 10.0})
    assert only(report, "shannon_k") == expect(
        "shannon_k",
        D,
        "channel 1: Shannon k = -0.80 (cortical criterion; diagnostic only, never a pass)",
        "phases[0]",
        math.log10(4 / 25),
        lim("shannon_k"),
        "",
        cite("shannon_k"),
        1,
    )


def test_shared_site() -> None:
    # 75 mA, 100 µs, 100 Hz → 75 · sqrt(0.02) = 10.6 mA r.m.s. each; 21.2 on 10 cm² shared.
    # The shared site is not the first of channel 1's electrodes.
    ch1 = channel(1, [electrodes(Site.hand_left)[0], electrodes(Site.forearm_left, 10.0)[0]])
    ch2 = channel(2, [electrodes(Site.forearm_left, 10.0)[0], electrodes(Site.elbow_left)[0]])
    proto = protocol([phase(100.0, 100.0)], [ch1, ch2])
    for acknowledged, severity in (((), V), (("current_density",), W)):
        report = check_protocol(proto, device(), {1: 75.0, 2: 75.0}, acknowledged=acknowledged)
        [shared] = [f for f in report.findings if f.path == "channels"]
        assert shared == expect(
            "current_density",
            severity,
            "channels [1, 2] share forearm_left: 2.12 mA r.m.s./cm² together",
            "channels",
            2 * 75 * math.sqrt(0.02) / 10,
            lim("current_density_ma_per_cm2"),
            "mA r.m.s./cm²",
            cite("current_density_ma_per_cm2"),
        )


# --- the runtime supervisor's trips -----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({"impedance_ohm": math.inf}, ("open_circuit", "load above 10,000 Ω")),
        ({"delivered_ma": 0.0}, ("open_circuit", "current commanded, none measured")),
        ({"delivered_ma": 24.0}, ("over_current", "measured 24 mA for 20 mA commanded")),
        ({"delivered_ma": 15.0}, ("compliance", "delivered 15 of 20 mA (compliance)")),
        ({"frequency_hz": 130.0}, ("mismatch", "frequency 130, expected 100")),
        ({"pulse_width_us": 150.0}, ("mismatch", "pulse width 150, expected 200")),
    ],
)
def test_each_trip_says_what_was_measured(
    changes: dict[str, float], verdict: tuple[str, str]
) -> None:
    s = Supervisor(device(), {1: 30.0})
    assert s.judge(1, reading(**changes), 100.0, 200.0) == Verdict(Action.trip, *verdict)


def test_peel_says_how_far_the_impedance_rose() -> None:
    s = Supervisor(device(), {1: 30.0})
    s.judge(1, reading(impedance_ohm=2000.0))
    halve = s.judge(1, reading(impedance_ohm=3000.0))
    assert halve == Verdict(Action.halve, "peel", "impedance 1.50× its baseline")
    trip = s.judge(1, reading(impedance_ohm=4000.0))
    assert trip == Verdict(Action.trip, "peel", "impedance 2.00× its baseline")
