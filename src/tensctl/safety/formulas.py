"""The formulas of safety.md, as pure functions. Units are in the names.

Symmetric biphasic pulses count both phases. An asymmetric pulse has a secondary phase of
``amplitude_ratio`` × the primary amplitude lasting ``width_ratio`` × the primary width.
"""

from __future__ import annotations

import math


def phase_factor(amplitude_ratio: float = 1.0, width_ratio: float = 1.0) -> float:
    """Sum over both phases of (relative amplitude)² × (relative width)."""
    return 1.0 + amplitude_ratio**2 * width_ratio


def rms_current_ma(
    peak_ma: float, pulse_width_us: float, pulse_rate_hz: float, factor: float = 2.0
) -> float:
    """I_rms = I_peak · sqrt(phases · pw_s · f_hz) (``factor`` generalises 'phases')."""
    return peak_ma * math.sqrt(max(0.0, factor * pulse_width_us * 1e-6 * pulse_rate_hz))


def charge_per_phase_uc(peak_ma: float, pulse_width_us: float) -> float:
    """Q_phase = I_peak · pw (mA × µs = nC; / 1000 → µC)."""
    return peak_ma * pulse_width_us / 1000.0


def net_charge_uc(q_phase_uc: float, amplitude_ratio: float, width_ratio: float) -> float:
    """Charge left after the secondary phase: Q · (1 − a·w)."""
    return q_phase_uc * (1.0 - amplitude_ratio * width_ratio)


def current_density_ma_per_cm2(rms_ma: float, area_cm2: float) -> float:
    return rms_ma / area_cm2


def power_density_w_per_cm2(rms_ma: float, impedance_ohm: float, area_cm2: float) -> float:
    """P/A = I_rms² · Z / A."""
    return (rms_ma / 1000.0) ** 2 * impedance_ohm / area_cm2


def energy_per_pulse_mj(
    peak_ma: float, pulse_width_us: float, load_ohm: float, factor: float = 2.0
) -> float:
    """E = I² · R · t over both phases, in mJ."""
    return (peak_ma / 1000.0) ** 2 * load_ohm * pulse_width_us * 1e-6 * factor * 1000.0


def shannon_k(q_phase_uc: float, area_cm2: float) -> float:
    """k = log10(Q · D), D = Q / A in µC/cm² (diagnostic only; cortical electrodes)."""
    q = max(q_phase_uc, 1e-12)
    return math.log10(q * q / area_cm2)


def effective_impedance_ohm(
    worst_case_ohm: float, compliance_v: float, peak_ma: float, floor_ohm: float
) -> float:
    """The highest load the output can drive at ``peak_ma`` (the stage saturates above
    V/I), never below the regulatory floor."""
    # V · 1000 / mA, not V / (mA / 1000): a subnormal peak would round to 0 A and divide by 0
    drivable = compliance_v * 1000.0 / peak_ma if peak_ma > 0 else worst_case_ohm
    return max(floor_ohm, min(worst_case_ohm, drivable))
