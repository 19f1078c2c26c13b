"""The formulas of safety-check.md, each against a value worked out by hand."""

from __future__ import annotations

import math

import pytest

from tensctl.safety import formulas as fx


def test_phase_factor_counts_both_phases() -> None:
    assert fx.phase_factor() == 2.0  # symmetric biphasic: two equal phases
    assert fx.phase_factor(0.5) == 1.25  # half the amplitude for the same width
    # (relative amplitude)² × (relative width): 1 + 0.5² · 2 and 1 + 0.25² · 4
    assert fx.phase_factor(0.5, 2.0) == 1.5
    assert fx.phase_factor(0.25, 4.0) == 1.25


def test_rms_current_worked_example() -> None:
    # safety-check.md: 80 mA, 250 µs, 100 Hz → I_rms ≈ 17.9 mA (both phases by default)
    assert fx.rms_current_ma(80.0, 250.0, 100.0) == pytest.approx(80 * math.sqrt(0.05))
    assert fx.rms_current_ma(80.0, 250.0, 100.0, 1.5) == pytest.approx(80 * math.sqrt(0.0375))


def test_energy_per_pulse_counts_both_phases() -> None:
    # 1 A² · 500 Ω · 300 µs per phase, two phases: 0.3 J
    assert fx.energy_per_pulse_mj(1000.0, 300.0, 500.0) == pytest.approx(300.0)
    assert fx.energy_per_pulse_mj(1000.0, 300.0, 500.0, 1.5) == pytest.approx(225.0)


def test_power_density() -> None:
    # (10 mA)² · 2400 Ω / 0.5 cm² = 0.48 W/cm²
    assert fx.power_density_w_per_cm2(10.0, 2400.0, 0.5) == pytest.approx(0.48)


@pytest.mark.parametrize(
    ("worst_ohm", "compliance_v", "peak_ma", "expected_ohm"),
    [
        (10_000.0, 120.0, 50.0, 2400.0),  # saturates at V / I
        (10_000.0, 5.0, 0.8, 6250.0),  # below 1 mA too
        (2_000.0, 120.0, 50.0, 2000.0),  # the profile's open-circuit trip is lower
        (10_000.0, 1.0, 50.0, 500.0),  # never below the regulatory floor
        (10_000.0, 120.0, 0.0, 10_000.0),  # no current: the worst case
    ],
)
def test_effective_impedance(
    worst_ohm: float, compliance_v: float, peak_ma: float, expected_ohm: float
) -> None:
    got = fx.effective_impedance_ohm(worst_ohm, compliance_v, peak_ma, 500.0)
    assert got == pytest.approx(expected_ohm)


def test_shannon_k() -> None:
    assert fx.shannon_k(2.0, 25.0) == pytest.approx(math.log10(2.0 * 2.0 / 25.0))
    assert fx.shannon_k(0.5, 1.0) == pytest.approx(math.log10(0.25))  # below 1 µC
    assert math.isfinite(fx.shannon_k(0.0, 1.0))  # no charge: still a number
