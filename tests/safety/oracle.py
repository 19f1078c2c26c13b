"""An independent statement of the limits, written from safety.md, for the sweep tests.

It computes which rules a single-phase, single-channel protocol must break, from the
numbers in LIMITS and the device profile, with plain arithmetic. It shares no code with
tensctl.safety beyond the limits table itself (so no number is written twice).
"""

from __future__ import annotations

import math

from tensctl.model.device import DeviceProfile, UseClass
from tensctl.safety.limits import LIMITS

L = {key: item.value for key, item in LIMITS.items()}


def frequency_bounds(dev: DeviceProfile) -> tuple[float, float]:
    top = L["frequency_max_hz"] if dev.use_class is UseClass.home else L["frequency_max_clinic_hz"]
    return max(dev.frequency_hz.min, L["frequency_min_hz"]), min(dev.frequency_hz.max, top)


def width_bounds(dev: DeviceProfile) -> tuple[float, float]:
    return (
        max(dev.pulse_width_us.min, L["pulse_width_min_us"]),
        min(dev.pulse_width_us.max, L["pulse_width_max_us"]),
    )


def expected_violations(
    dev: DeviceProfile,
    amp_ma: float,
    freq_hz: float,
    width_us: float,
    area_cm2: float,
    rate_hz: float | None = None,
    amp_ratio: float = 1.0,
    width_ratio: float = 1.0,
    ceiling_ma: float | None = None,
) -> set[str]:
    rate = freq_hz if rate_hz is None else rate_hz
    out: set[str] = set()
    mag = abs(amp_ma)  # doses count the magnitude of the current
    if amp_ma < 0 or amp_ma > dev.amplitude.max_ma:
        out.add("envelope.amplitude")
    if dev.amplitude.max_ma > L["amplitude_peak_max_ma"]:  # a profile no session may use
        out.add("device.amplitude")
    if dev.watchdog_ms > L["device_watchdog_abs_max_ms"]:
        out.add("device.watchdog")
    if amp_ma > L["amplitude_peak_max_ma"]:
        out.add("amplitude.absolute_cap")
    if ceiling_ma is not None and amp_ma > ceiling_ma:
        out.add("intensity.ceiling")
    f_lo, f_hi = frequency_bounds(dev)
    if not f_lo <= freq_hz <= f_hi:
        out.add("envelope.frequency")
    # a pulse (both phases) ends at least the minimum gap before the next one starts
    busy_us = width_us * (1 + width_ratio) + L["interphase_gap_us"]
    if freq_hz > 0 and 1e6 / freq_hz - busy_us <= L["pulse_gap_min_us"]:
        out.add("envelope.pulse_train")
    w_lo, w_hi = width_bounds(dev)
    if not w_lo <= width_us <= w_hi:
        out.add("envelope.pulse_width")
    # both phases: primary (1) and secondary (amp_ratio² × width_ratio) of the pulse energy
    duty = (1 + amp_ratio**2 * width_ratio) * (width_us / 1e6) * rate
    rms = mag * math.sqrt(max(duty, 0.0))
    if rms > L["rms_current_ma"]:
        out.add("rms_current")
    charge = mag * width_us / 1000
    if charge > min(L["charge_per_phase_uc"], dev.max_charge_per_phase_uc):
        out.add("charge_per_phase")
    net = abs(charge - mag * amp_ratio * width_us * width_ratio / 1000)
    if net > max(L["net_charge_fraction"] * charge, L["net_charge_uc"]) + 1e-12:
        out.add("charge_balance")
    if rms / area_cm2 > L["current_density_ma_per_cm2"]:
        out.add("current_density")
    drivable = dev.compliance_voltage_v / (mag / 1000) if mag > 0 else math.inf
    z = max(L["impedance_floor_ohm"], min(dev.worst_case_impedance_ohm, drivable))
    if (rms / 1000) ** 2 * z / area_cm2 >= L["power_density_w_per_cm2"]:
        out.add("power_density")
    joules = (mag / 1000) ** 2 * L["impedance_floor_ohm"] * (width_us / 1e6)
    if joules * (1 + amp_ratio**2 * width_ratio) * 1000 > L["energy_per_pulse_mj"]:
        out.add("energy_per_pulse")
    return out


def sweep(maximum: float, boundaries: tuple[float, ...] = (), steps: int = 60) -> list[float]:
    """From below zero to 1.5 × maximum, with each boundary and its neighbours."""
    lo, hi = -0.1 * maximum, 1.5 * maximum
    values = {lo + (hi - lo) * i / steps for i in range(steps + 1)}
    for b in (0.0, maximum, *boundaries):
        values |= {b, b - 1e-6 * max(1.0, abs(b)), b + 1e-6 * max(1.0, abs(b))}
    return sorted(values)
