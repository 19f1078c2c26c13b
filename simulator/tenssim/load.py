"""The electrode–skin load: a series resistance and a parallel R‖C, and what goes wrong with it.

A constant-current pulse of width ``t`` charges the R‖C, so the peak voltage at the end of
the phase is ``I·(R_s + R_p·(1 − e^(−t/τ)))`` with ``τ = R_p·C_p``; the impedance a device
measures is that voltage over the current. Contact area scales the skin: a partly peeled
electrode of area fraction ``a`` has ``R_s/a``, ``R_p/a`` and ``C_p·a`` (``τ`` unchanged),
so its impedance is ``1/a`` times the attached one. Typical electrode–skin impedance is
1–8 kΩ (``../shared/reference/safety.md``); the defaults below give about 2.1 kΩ at 200 µs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OPEN_OHM = math.inf
SHORT_OHM = 10.0


@dataclass
class Peel:
    """The contact area falls linearly from ``start_fraction`` to ``end_fraction``."""

    t0_s: float
    duration_s: float
    start_fraction: float
    end_fraction: float

    def fraction(self, now_s: float) -> float:
        if self.duration_s <= 0 or now_s >= self.t0_s + self.duration_s:
            return self.end_fraction
        progress = max(0.0, (now_s - self.t0_s) / self.duration_s)
        return self.start_fraction + (self.end_fraction - self.start_fraction) * progress


@dataclass
class Load:
    series_ohm: float = 500.0
    parallel_ohm: float = 5000.0
    capacitance_nf: float = 100.0
    attached: bool = True
    shorted: bool = False
    peel: Peel | None = None

    def area_fraction(self, now_s: float) -> float:
        return 1.0 if self.peel is None else self.peel.fraction(now_s)

    def impedance_ohm(self, pulse_width_us: float, now_s: float) -> float:
        """Peak voltage over current at the end of a phase of ``pulse_width_us``."""
        if self.shorted:
            return SHORT_OHM
        area = self.area_fraction(now_s)
        if not self.attached or area <= 0.0:
            return OPEN_OHM
        tau_us = self.parallel_ohm * self.capacitance_nf * 1e-3  # Ω·nF = 1e-3 µs
        skin = self.parallel_ohm * (1.0 - math.exp(-pulse_width_us / tau_us))
        return (self.series_ohm + skin) / area

    def delivered_ua(
        self, commanded_ua: float, pulse_width_us: float, compliance_v: float, now_s: float
    ) -> float:
        """The current that flows: the commanded one unless the voltage needed exceeds
        the compliance voltage, when the output saturates at ``V_c / Z``."""
        z = self.impedance_ohm(pulse_width_us, now_s)
        if commanded_ua <= 0 or math.isinf(z):
            return 0.0
        return min(commanded_ua, compliance_v / z * 1e6)

    def set_resistance(self, series_ohm: float, parallel_ohm: float) -> None:
        self.series_ohm, self.parallel_ohm = series_ohm, parallel_ohm

    def reattach(self) -> None:
        self.attached, self.shorted, self.peel = True, False, None
