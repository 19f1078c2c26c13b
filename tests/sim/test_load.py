"""The electrode–skin load model (tenssim.load), alone and as the device measures it."""

from __future__ import annotations

import math

import pytest
from harness import Bench, configure, scenario
from tenssim.load import SHORT_OHM, Load, Peel

from tensctl.wire.codes import Fault
from tensctl.wire.messages import MeasureImpedance
from tensctl.wire.replies import OPEN_CIRCUIT_OHM, Impedance

COMPLIANCE_V = 120.0


def test_default_load_is_about_2148_ohm_at_200_us() -> None:
    # 500 Ω + 5 kΩ·(1 − e^(−200/500)) with τ = 5 kΩ · 100 nF = 500 µs
    assert Load().impedance_ohm(200, 0.0) == pytest.approx(2148.4, abs=0.1)


def test_impedance_rises_with_pulse_width_towards_series_plus_parallel() -> None:
    load = Load()
    widths = [50, 100, 200, 400, 5000]
    values = [load.impedance_ohm(w, 0.0) for w in widths]
    assert values == sorted(values)
    assert load.impedance_ohm(0, 0.0) == pytest.approx(500.0)
    assert load.impedance_ohm(50_000, 0.0) == pytest.approx(5500.0)


def test_device_reports_the_model_impedance_for_the_configured_width() -> None:
    bench = Bench()
    bench.ok(configure(1, pw=200))
    reply = bench.ok(MeasureImpedance(1))
    assert Impedance.unpack(reply.payload) == Impedance(1, 2148)
    assert bench.status(1)["impedance_ohm"] == pytest.approx(2148.4, abs=0.1)


def test_unconfigured_channel_is_probed_at_100_us() -> None:
    reply = Bench().ok(MeasureImpedance(2))
    assert Impedance.unpack(reply.payload).impedance_ohm == round(Load().impedance_ohm(100, 0))


@pytest.mark.parametrize("area", [0.8, 0.5, 0.4, 0.25])
def test_peel_raises_impedance_as_one_over_area(area: float) -> None:
    attached = Load().impedance_ohm(200, 0.0)
    peeled = Load(peel=Peel(0.0, 1.0, 1.0, area))
    assert peeled.impedance_ohm(200, 2.0) == pytest.approx(attached / area)


def test_peel_shrinks_the_area_linearly_over_its_duration() -> None:
    peel = Peel(t0_s=10.0, duration_s=4.0, start_fraction=1.0, end_fraction=0.2)
    assert peel.fraction(9.0) == 1.0
    assert peel.fraction(11.0) == pytest.approx(0.8)
    assert peel.fraction(14.0) == pytest.approx(0.2)
    assert peel.fraction(100.0) == pytest.approx(0.2)


def test_electrode_off_is_an_open_circuit() -> None:
    load = Load(attached=False)
    assert math.isinf(load.impedance_ohm(200, 0.0))
    assert load.delivered_ua(5000, 200, COMPLIANCE_V, 0.0) == 0.0


def test_peel_to_no_area_is_an_open_circuit() -> None:
    load = Load(peel=Peel(0.0, 1.0, 1.0, 0.0))
    assert math.isinf(load.impedance_ohm(200, 1.0))


def test_device_reports_open_circuit_as_all_ones() -> None:
    bench = Bench()
    bench.inject("electrode_off", channel=1)
    reply = bench.ok(MeasureImpedance(1))
    assert Impedance.unpack(reply.payload).impedance_ohm == OPEN_CIRCUIT_OHM
    assert math.isinf(bench.status(1)["impedance_ohm"])


def test_short_is_a_few_ohms_whatever_the_width() -> None:
    load = Load(shorted=True)
    assert load.impedance_ohm(50, 0.0) == load.impedance_ohm(400, 0.0) == SHORT_OHM


def test_reattach_clears_off_short_and_peel() -> None:
    load = Load(attached=False, shorted=True, peel=Peel(0.0, 1.0, 1.0, 0.3))
    load.reattach()
    assert load.impedance_ohm(200, 5.0) == pytest.approx(Load().impedance_ohm(200, 5.0))


def test_current_below_compliance_is_delivered_in_full() -> None:
    # 50 mA · 2148 Ω ≈ 107 V < 120 V
    assert Load().delivered_ua(50_000, 200, COMPLIANCE_V, 0.0) == 50_000


def test_current_above_compliance_saturates_at_v_over_z() -> None:
    # 60 mA · 2148 Ω ≈ 129 V > 120 V: only 120 V / 2148 Ω ≈ 55.86 mA flows
    load = Load()
    delivered = load.delivered_ua(60_000, 200, COMPLIANCE_V, 0.0)
    assert delivered < 60_000
    assert delivered == pytest.approx(COMPLIANCE_V / load.impedance_ohm(200, 0.0) * 1e6)
    assert delivered == pytest.approx(55_856, abs=1)


def test_device_telemetry_shows_a_saturated_peak_below_the_commanded_current() -> None:
    # 8 kΩ series: Z ≈ 9648 Ω, so 120 V drives at most ≈ 12.44 mA; 13 mA is commanded
    # (above saturation, but within the 80 % that would trip COMPLIANCE)
    bench = Bench(scenario=scenario(loads={1: {"series_ohm": 8000}}))
    bench.running(1, 13_000).heartbeats(bench.t + 0.2)
    assert bench.faults(1) == Fault.NONE
    last = bench.telemetry(1)[-1]
    assert last.commanded_ua == 13_000
    assert last.delivered_peak_ua == pytest.approx(12_438, abs=1)
