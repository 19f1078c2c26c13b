"""The static safety check refuses, with a reason, what a Hasomed device cannot express:
bursts and alternation (neither runs them on its own), modulation faster than the device
takes updates, more channels than it has, pulse widths and frequencies out of its range."""

from __future__ import annotations

import pytest

from tensctl.model.library import find_device
from tensctl.model.loader import parse_protocol
from tensctl.model.protocol import Protocol
from tensctl.safety.static import check_protocol

DEVICES = ["hasomed-rehastim2", "hasomed-p24"]


def protocol(phase: str, channels: int = 1) -> Protocol:
    pads = "[{site: forearm_left, area_cm2: 25}, {site: forearm_left, area_cm2: 25}]"
    listed = "\n".join(f"  - {{id: {n}, electrodes: {pads}}}" for n in range(1, channels + 1))
    text = f"""
format_version: 1
id: capability
name: Capability probe
channels:
{listed}
intensity: {{target_ma: 10}}
phases:
  - name: p
    duration_s: 600
{phase}
session: {{max_duration_s: 600, daily_cap_s: 3600}}
"""
    return parse_protocol(text)


CONTINUOUS = "    frequency_hz: 40\n    pulse_width_us: 200"
CASES = {
    "burst": (
        "    frequency_hz: 40\n    pulse_width_us: 200\n"
        "    mode: {type: burst, pulses_per_train: 7, train_rate_hz: 2}",
        "envelope.mode",
        "phases[0].mode.type",
    ),
    "alternating": (
        "    pulse_width_us: 200\n    mode: {type: alternating, steps: "
        "[{frequency_hz: 2, dwell_s: 3}, {frequency_hz: 40, dwell_s: 3}]}",
        "envelope.mode",
        "phases[0].mode.type",
    ),
    "fast modulation": (
        "    frequency_hz: 40\n    mode: {type: modulated, "
        "period_s: 0.1, parameters: [{parameter: pulse_width_us, low: 100, high: 200}]}",
        "envelope.update_rate",
        "phases[0].mode.period_s",
    ),
    "pulse too narrow": (  # the RehaStim2 raises anything under 20 µs; P24 takes 10 µs
        "    frequency_hz: 2\n    pulse_width_us: 5",
        "envelope.pulse_width",
        "phases[0].pulse_width_us",
    ),
}


@pytest.mark.parametrize("device_id", DEVICES)
def test_a_plain_protocol_is_within_what_the_device_can_express(device_id: str) -> None:
    device, _ = find_device(device_id)
    report = check_protocol(protocol(CONTINUOUS), device, {1: 10.0})
    assert report.ok, [f.message for f in report.violations]


@pytest.mark.parametrize("device_id", DEVICES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_what_the_device_cannot_express_is_refused_with_a_reason(device_id: str, case: str) -> None:
    text, rule, path = CASES[case]
    device, _ = find_device(device_id)
    report = check_protocol(protocol(text), device, {1: 10.0})
    found = [f for f in report.violations if f.rule == rule]
    assert found, [f.rule for f in report.violations]
    assert found[0].path == path and found[0].source
    if rule != "envelope.pulse_width":  # there the safety table's 50-400 µs is tighter
        assert device.id in found[0].source


@pytest.mark.parametrize("device_id", DEVICES)
def test_more_channels_than_the_device_has_are_refused(device_id: str) -> None:
    device, _ = find_device(device_id)
    wanted = device.channels + 1
    report = check_protocol(
        protocol(CONTINUOUS, channels=wanted), device, dict.fromkeys(range(1, wanted + 1), 5.0)
    )
    [finding] = [f for f in report.violations if f.rule == "envelope.channels"]
    assert (finding.value, finding.limit) == (wanted, device.channels)


def test_the_rehastim2_refuses_frequencies_above_50_hz_and_the_p24_takes_them() -> None:
    fast = "    frequency_hz: 100\n    pulse_width_us: 200"
    rehastim2, _ = find_device("hasomed-rehastim2")
    p24, _ = find_device("hasomed-p24")
    refused = check_protocol(protocol(fast), rehastim2, {1: 10.0})
    assert "envelope.frequency" in refused.rules(refused.violations[0].severity)
    assert check_protocol(protocol(fast), p24, {1: 10.0}).ok


@pytest.mark.parametrize("device_id", DEVICES)
def test_the_profile_names_the_driver_and_the_line_settings(device_id: str) -> None:
    device, _ = find_device(device_id)
    scheme = {"hasomed-rehastim2": "sciencemode2", "hasomed-p24": "sciencemode4"}[device_id]
    assert device.driver_scheme == scheme and not device.simulated
    assert device.serial is not None and device.datasheet is not None
    assert (device.serial.baudrate, device.serial.parity) == {
        "sciencemode2": (460800, "E"),
        "sciencemode4": (3_000_000, "N"),
    }[scheme]


def test_frequency_modulation_is_refused_where_a_new_frequency_interrupts_the_output() -> None:
    """A RehaStim2 sets the frequency only by re-initialising its channel list (a gap every
    update); the P24 takes a new period in any update."""
    swept = (
        "    pulse_width_us: 200\n    mode: {type: modulated, period_s: 10, "
        "parameters: [{parameter: frequency_hz, low: 10, high: 40}]}"
    )
    rehastim2, _ = find_device("hasomed-rehastim2")
    p24, _ = find_device("hasomed-p24")
    refused = check_protocol(protocol(swept), rehastim2, {1: 10.0})
    [finding] = [f for f in refused.violations if f.rule == "envelope.live_update"]
    assert finding.path == "phases[0].mode.parameters[0].parameter"
    assert "RehaStim2 cannot change frequency" in finding.message
    assert check_protocol(protocol(swept), p24, {1: 10.0}).ok
    width_swept = (
        "    frequency_hz: 40\n    mode: {type: modulated, period_s: 10, "
        "parameters: [{parameter: pulse_width_us, low: 100, high: 200}]}"
    )
    assert check_protocol(protocol(width_swept), rehastim2, {1: 10.0}).ok
