"""Limits that combine the table with a device profile, and checks of the profile itself."""

from __future__ import annotations

from typing import Literal

from tensctl.model.device import DeviceProfile, UseClass
from tensctl.safety.findings import Finding, Severity
from tensctl.safety.limits import Limit, limit


def envelope(
    device: DeviceProfile, what: Literal["frequency", "pulse_width"]
) -> tuple[Limit, Limit]:
    """The tighter of the global bounds and the device's range, as (low, high) limits."""
    src = f"device profile {device.id}"
    if what == "frequency":
        dev_range, unit = device.frequency_hz, "Hz"
        lo = limit("frequency_min_hz")
        home = device.use_class is UseClass.home
        hi = limit("frequency_max_hz" if home else "frequency_max_clinic_hz")
    else:
        dev_range, unit = device.pulse_width_us, "µs"
        lo, hi = limit("pulse_width_min_us"), limit("pulse_width_max_us")
    if dev_range.min > lo.value:
        lo = Limit(lo.key, dev_range.min, unit, src, "S")
    if dev_range.max < hi.value:
        hi = Limit(hi.key, dev_range.max, unit, src, "S")
    return lo, hi


def check_device_profile(device: DeviceProfile) -> list[Finding]:
    """The profile's own limits against the table.

    Above the standard's open-circuit voltage the device cannot vouch for the output
    (violation). A deadman or slew limit looser than the project's engineering defaults is a
    warning: the host's watchdog and slew limit still apply on top of the device's own.
    """
    v, w = Severity.violation, Severity.warning
    checks: tuple[tuple[str, Severity, float, str, str], ...] = (
        (
            "device.compliance_voltage",
            v,
            device.compliance_voltage_v,
            "open_circuit_voltage_v",
            "compliance_voltage_v",
        ),
        ("device.watchdog", w, device.watchdog_ms, "device_watchdog_max_ms", "watchdog_ms"),
        (
            "device.watchdog",
            v,
            device.watchdog_ms,
            "device_watchdog_abs_max_ms",
            "watchdog_ms",
        ),
        (
            "device.amplitude",
            v,
            device.amplitude.max_ma,
            "amplitude_peak_max_ma",
            "amplitude.max_ma",
        ),
        ("device.slew", w, device.slew.max_step_ma, "slew_step_max_ma", "slew.max_step_ma"),
        (
            "device.slew",
            w,
            device.slew.max_rate_ma_per_s,
            "slew_rate_max_ma_per_s",
            "slew.max_rate_ma_per_s",
        ),
    )
    out = []
    for rule, severity, value, key, path in checks:
        lim = limit(key)
        if not value <= lim.value:
            message = f"device profile {device.id}: {path} {value:g} {lim.unit} is above the limit"
            out.append(Finding.against(rule, severity, message, f"device.{path}", value, lim))
    return out
