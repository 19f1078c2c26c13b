"""The numbers the driver sends for a current and a single pulse: whole mA and whole µs,
rounded down (never more than asked), checked against the device profile."""

from __future__ import annotations

import math

from tensctl.drivers.sciencemode2 import plan
from tensctl.drivers.sciencemode2.listing import refused
from tensctl.model.device import DeviceProfile

EPSILON = 1e-9  # float noise only: 9.9999999999 mA is 10 mA, 9.99 mA is 9 mA


def whole_ma(profile: DeviceProfile, what: str, amplitude_ma: float) -> int:
    """The current sent, in whole mA rounded down; refuses what is not a current within
    the device's range (``OUT_OF_RANGE``)."""
    if not math.isfinite(amplitude_ma) or amplitude_ma < 0:
        raise refused(what, "OUT_OF_RANGE", "not a current")
    current = math.floor(amplitude_ma + EPSILON)
    if current > profile.amplitude.max_ma:
        raise refused(what, "OUT_OF_RANGE", "above the device's maximum")
    return current


def single_pulse(
    profile: DeviceProfile, what: str, amplitude_ma: float, pulse_width_us: float
) -> tuple[int, int]:
    """(current in whole mA, width in whole µs) for a single pulse, both rounded down;
    ``OUT_OF_RANGE`` outside 0–max mA, 20–500 µs or the profile's charge per phase."""
    current = whole_ma(profile, what, amplitude_ma)
    width = math.floor(pulse_width_us + EPSILON) if math.isfinite(pulse_width_us) else -1
    low = max(plan.MIN_WIDTH_US, profile.pulse_width_us.min)
    high = min(plan.MAX_WIDTH_US, profile.pulse_width_us.max)
    if not low <= width <= high:
        raise refused(what, "OUT_OF_RANGE", f"pulse width outside {low:g}–{high:g} µs")
    if current * width / 1000 > profile.max_charge_per_phase_uc + EPSILON:
        raise refused(what, "OUT_OF_RANGE", "above the device's charge per phase")
    return current, width
