"""The one table of safety limits. Every number the safety code compares against is here.

Tags: ``S`` read in a primary source; ``Q`` a manual or article quoting a standard; ``E`` an
engineering default chosen by this project (configurable per device profile, where the
profile has a field for it). See ``docs/safety.md`` and ``shared/reference/safety.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Limit:
    key: str
    value: float
    unit: str
    source: str
    tag: Literal["S", "Q", "E"]

    def cite(self) -> str:
        return f"{self.source} [{self.tag}]"


_IEC = "IEC 60601-2-10"
_FDA = "FDA 1999 powered muscle stimulator guidance"

_TABLE = (
    Limit("rms_current_ma", 50.0, "mA r.m.s.", f"{_IEC} as quoted in device manuals", "Q"),
    Limit("current_density_ma_per_cm2", 2.0, "mA r.m.s./cm²", f"{_IEC} IFU clause", "S"),
    Limit("power_density_w_per_cm2", 0.25, "W/cm²", f"{_FDA} (average over 1 s)", "S"),
    Limit("impedance_floor_ohm", 500.0, "Ω", f"{_FDA} (load floor)", "S"),
    Limit("energy_per_pulse_mj", 300.0, "mJ into 500 Ω", f"{_IEC} (1987 ed.) as quoted", "Q"),
    Limit("open_circuit_voltage_v", 500.0, "V", f"{_IEC} (1987 ed.) as quoted", "Q"),
    Limit("charge_per_phase_uc", 40.0, "µC", "engineering default (100 mA × 400 µs)", "E"),
    Limit("net_charge_fraction", 0.01, "of Q_phase", "FDA asks for net charge per pulse", "E"),
    Limit("net_charge_uc", 0.1, "µC", "FDA asks for net charge per pulse", "E"),
    # absolute caps no device profile can raise: a profile beyond them is refused
    Limit(
        "amplitude_peak_max_ma",
        130.0,
        "mA peak",
        "highest peak of a supported stimulator (Hasomed RehaStim2/P24 0–130 mA)",
        "E",
    ),
    Limit(
        "device_watchdog_abs_max_ms",
        2000.0,
        "ms",
        "longest device deadman of a supported stimulator (P24 2 s)",
        "E",
    ),
    Limit(
        "pulse_gap_min_us",
        100.0,
        "µs",
        "engineering default: the output stage settles between one pulse and the next",
        "E",
    ),
    Limit(
        "interphase_gap_us",
        20.0,
        "µs",
        "the native wire protocol's fixed gap between a pulse's two phases (wire-protocol.md)",
        "E",
    ),
    Limit("frequency_min_hz", 1.0, "Hz", "typical device specs", "Q"),
    Limit("frequency_max_hz", 150.0, "Hz", "typical device specs", "Q"),
    Limit("frequency_max_clinic_hz", 200.0, "Hz", "typical clinic device specs", "Q"),
    Limit("pulse_width_min_us", 50.0, "µs", "typical device specs, bounds chosen here", "E"),
    Limit("pulse_width_max_us", 400.0, "µs", "typical device specs, bounds chosen here", "E"),
    Limit("session_max_s", 3600.0, "s", "session timer, home use (10–60 min)", "E"),
    Limit("session_max_clinic_s", 7200.0, "s", "session timer, clinic use (up to 120 min)", "E"),
    Limit("device_watchdog_max_ms", 500.0, "ms", "device deadman after silence", "E"),
    Limit("slew_step_max_ma", 1.0, "mA per command", "slew limit on increases", "E"),
    Limit("slew_rate_max_ma_per_s", 4.0, "mA/s", "slew limit on increases, 1 s window", "E"),
    Limit("shannon_k", 1.85, "", "Shannon 1992, cortical electrodes (diagnostic only)", "E"),
    # runtime supervision (safety.md, "Behaviour on the output path")
    Limit("host_tick_ms", 100.0, "ms", "host supervisor tick period (at most)", "E"),
    Limit("host_watchdog_ms", 250.0, "ms", "host supervisor trips without a tick", "E"),
    Limit("open_circuit_ohm", 10_000.0, "Ω", "electrode off: load above this trips", "E"),
    Limit("load_check_min_ma", 1.0, "mA", "commanded above this with none measured: open", "E"),
    Limit("compliance_fraction", 0.8, "of commanded", "delivered below this: saturation", "E"),
    Limit("over_current_factor", 1.1, "× commanded", "measured peak above this (+ margin)", "E"),
    Limit("over_current_margin_ma", 1.0, "mA", "added to the over-current factor", "E"),
    Limit("parameter_mismatch_fraction", 0.2, "", "pulse width or frequency off by more", "E"),
    Limit("peel_warn_ratio", 1.5, "× baseline impedance", "partial peel: halve and alert", "E"),
    Limit("peel_trip_ratio", 2.0, "× baseline impedance", "partial peel: trip", "E"),
)

LIMITS: dict[str, Limit] = {limit.key: limit for limit in _TABLE}


def limit(key: str) -> Limit:
    return LIMITS[key]
