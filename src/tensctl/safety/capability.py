"""What a device can express: the protocol against the device profile's envelope — channel
count, waveforms and modes, frequency and pulse width at every reachable operating point,
host-driven updates no faster than the device takes them, and modulation only of what it
changes live. Part of the static check (:func:`tensctl.safety.static.check_protocol`).
"""

from __future__ import annotations

import math

from tensctl.model.device import DeviceProfile
from tensctl.model.modes import Alternating, Burst, Modulated
from tensctl.model.protocol import Phase, Protocol, Waveform
from tensctl.safety.findings import Finding, Severity
from tensctl.safety.limits import Limit, limit
from tensctl.safety.rules import envelope

V = Severity.violation


def check(protocol: Protocol, device: DeviceProfile) -> list[Finding]:
    """Every finding of the device envelope for the whole protocol."""
    out = []
    if len(protocol.channels) > device.channels:
        out.append(
            Finding(
                "envelope.channels",
                V,
                f"{len(protocol.channels)} channels, the device has {device.channels}",
                "channels",
                len(protocol.channels),
                device.channels,
                "channels",
                f"device profile {device.id}",
            )
        )
    for p_idx, phase in enumerate(protocol.phases):
        out += phase_envelope(phase, f"phases[{p_idx}]", device)
    return out


def phase_envelope(phase: Phase, path: str, device: DeviceProfile) -> list[Finding]:
    out = []
    if phase.waveform not in device.waveforms:
        out.append(
            Finding(
                "envelope.waveform",
                V,
                f"{device.model} cannot produce {phase.waveform}",
                f"{path}.waveform",
                str(phase.waveform),
                None,
                "",
                f"device profile {device.id}",
            )
        )
    if phase.mode.type not in device.modes:
        out.append(
            Finding(
                "envelope.mode",
                V,
                f"{device.model} has no {phase.mode.type} mode",
                f"{path}.mode.type",
                phase.mode.type,
                None,
                "",
                f"device profile {device.id}",
            )
        )
    f_lo, f_hi = envelope(device, "frequency")
    w_lo, w_hi = envelope(device, "pulse_width")
    for point in phase.operating_points():
        out += within(
            "envelope.frequency",
            point.frequency_hz,
            f_lo,
            f_hi,
            f"{path}.{point.frequency_path}",
            "frequency",
        )
        out += within(
            "envelope.pulse_width",
            point.pulse_width_us,
            w_lo,
            w_hi,
            f"{path}.{point.width_path}",
            "pulse width",
        )
    out += pulse_train(phase, path)
    out += update_rate(phase, path, device)
    out += live_changes(phase, path, device)
    return out


def pulse_train(phase: Phase, path: str) -> list[Finding]:
    """The real train, not its average: consecutive pulses never closer than the phase's own
    period (a burst whose trains meet pulses faster than its frequency), and a pulse —
    both its phases and the gap between them — ends more than the minimum gap before the
    next begins (the device refuses the same train on its own)."""
    secondary = 1.0
    if phase.waveform is Waveform.asymmetric_biphasic and phase.secondary_phase is not None:
        secondary = phase.secondary_phase.width_ratio
    gap, interphase = limit("pulse_gap_min_us"), limit("interphase_gap_us").value
    out = []
    for point in phase.operating_points():
        if not point.frequency_hz > 0:  # not a frequency: envelope.frequency refuses it
            continue
        period_us = 1e6 / point.frequency_hz
        closest_us = period_us
        mode = phase.mode
        if isinstance(mode, Burst):
            # from the last pulse of a train to the first of the next
            rate = mode.train_rate_hz  # not a rate > 0 (model bypassed): nan, refused below
            between_us = (
                1e6 / rate - (mode.pulses_per_train - 1) * period_us if rate > 0 else math.nan
            )
            if not between_us >= period_us:
                out.append(
                    Finding(
                        "envelope.pulse_train",
                        V,
                        f"trains of {mode.pulses_per_train} pulses at {point.frequency_hz:g} Hz,"
                        f" {mode.train_rate_hz:g} per second, run into each other: "
                        f"{between_us:.4g} µs from one train to the next",
                        f"{path}.mode.train_rate_hz",
                        between_us,
                        period_us,
                        "µs",
                        "the phase's own pulse period",
                    )
                )
            closest_us = min(closest_us, between_us)
        pulse_us = point.pulse_width_us * (1.0 + secondary) + interphase
        if not closest_us - pulse_us > gap.value:
            out.append(
                Finding.against(
                    "envelope.pulse_train",
                    V,
                    f"a {pulse_us:g} µs pulse leaves {closest_us - pulse_us:.4g} µs "
                    "before the next one",
                    f"{path}.{point.width_path}",
                    closest_us - pulse_us,
                    gap,
                )
            )
    return out


def within(rule: str, value: float, lo: Limit, hi: Limit, path: str, what: str) -> list[Finding]:
    if not value >= lo.value:
        return [
            Finding.against(
                rule, V, f"{what} {value:g} {lo.unit} is below the minimum", path, value, lo
            )
        ]
    if not value <= hi.value:
        return [
            Finding.against(
                rule, V, f"{what} {value:g} {hi.unit} is above the maximum", path, value, hi
            )
        ]
    return []


def update_rate(phase: Phase, path: str, device: DeviceProfile) -> list[Finding]:
    interval_ms = device.min_update_interval_ms
    if interval_ms is None:
        return []
    mode = phase.mode
    needed: list[tuple[float, str]] = []
    if isinstance(mode, Alternating):
        needed = [
            (s.dwell_s * 1000.0, f"{path}.mode.steps[{i}].dwell_s")
            for i, s in enumerate(mode.steps)
        ]
    elif isinstance(mode, Modulated):
        # ten updates per modulation period at least, to follow its shape
        needed = [(mode.period_s * 1000.0 / 10.0, f"{path}.mode.period_s")]
    src = f"device profile {device.id} (min_update_interval_ms)"
    return [
        Finding(
            "envelope.update_rate",
            V,
            f"needs an update every {ms:g} ms; the device accepts one every {interval_ms:g} ms",
            where,
            ms,
            interval_ms,
            "ms",
            src,
        )
        for ms, where in needed
        if ms < interval_ms
    ]


_SWEPT = {"frequency_hz": "frequency", "pulse_width_us": "pulse_width", "amplitude": "amplitude"}


def live_changes(phase: Phase, path: str, device: DeviceProfile) -> list[Finding]:
    """Host-driven modulation changes a parameter while the output is on: the device must
    take that change live (a RehaStim2 re-initialises its channel list for a new frequency,
    a gap in stimulation every update)."""
    mode = phase.mode
    if not isinstance(mode, Modulated):
        return []
    live = {p.value for p in device.live_parameters}
    return [
        Finding(
            "envelope.live_update",
            V,
            f"{device.model} cannot change {_SWEPT[m.parameter]} while stimulating",
            f"{path}.mode.parameters[{i}].parameter",
            m.parameter,
            None,
            "",
            f"device profile {device.id} (live_parameters)",
        )
        for i, m in enumerate(mode.parameters)
        if _SWEPT[m.parameter] not in live
    ]
