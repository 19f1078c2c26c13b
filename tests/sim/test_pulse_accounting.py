"""The analytic account of delivered pulses and charge, in every mode."""

from __future__ import annotations

import pytest
from harness import Bench, configure

from tensctl.wire.codes import ModeCode, WaveformCode
from tensctl.wire.messages import Configure, Identify, SetAmplitude, Start, Stop

AMP_UA = 1000


def on_at(config: Configure, amplitude_ua: int = AMP_UA) -> Bench:
    """Channel 1 configured with ``config``, started and at ``amplitude_ua`` from t = 0."""
    bench = Bench()
    bench.ok(Identify())
    bench.ok(config)
    bench.ok(Start(0b01))
    bench.ok(SetAmplitude(1, amplitude_ua))
    return bench


def counted(bench: Bench, until: float) -> dict[str, float]:
    bench.heartbeats(until)
    return bench.status(1)


def test_continuous_100_hz_for_10_s_is_1000_pulses_of_known_charge() -> None:
    status = counted(on_at(configure(1, 100, 200)), 10.0)
    assert status["pulses"] == pytest.approx(1000, abs=1)
    assert status["delivered_charge_pc"] == pytest.approx(status["pulses"] * 2 * AMP_UA * 200)
    assert status["net_charge_pc"] == 0


def test_telemetry_carries_the_same_count_and_charge() -> None:
    bench = on_at(configure(1, 100, 200))
    counted(bench, 10.0)
    last = bench.telemetry(1)[-1]
    assert last.pulses == pytest.approx(1000, abs=1)
    assert last.delivered_charge_nc == pytest.approx(400_000, abs=400)  # 1000 × 2 × 1 mA × 200 µs
    assert last.net_charge_pc == 0


def test_balanced_asymmetric_delivers_twice_the_primary_charge_with_no_net() -> None:
    asym = configure(1, 100, 200, waveform=WaveformCode.ASYMMETRIC_BIPHASIC, secondary=(250, 4000))
    status = counted(on_at(asym), 10.0)
    assert status["pulses"] == pytest.approx(1000, abs=1)
    assert status["delivered_charge_pc"] == pytest.approx(status["pulses"] * 2 * AMP_UA * 200)
    assert status["net_charge_pc"] == pytest.approx(0, abs=1e-6)


def test_an_imbalance_within_tolerance_shows_in_the_net_charge() -> None:
    asym = configure(1, 100, 200, waveform=WaveformCode.ASYMMETRIC_BIPHASIC, secondary=(500, 1990))
    status = counted(on_at(asym), 10.0)
    # each pulse leaves 1 mA × 200 µs × (1 − 0.5 × 1.99) = 1000 pC
    assert status["net_charge_pc"] == pytest.approx(status["pulses"] * 1000)


def test_nothing_is_counted_at_zero_amplitude_or_after_stop() -> None:
    bench = on_at(configure(1, 100, 200), amplitude_ua=0)
    assert counted(bench, 2.0)["pulses"] == 0
    bench.ok(SetAmplitude(1, AMP_UA))
    counted(bench, 3.0)
    bench.ok(Stop(0b01))
    bench.at(20.0)
    assert bench.status(1)["pulses"] == pytest.approx(100, abs=1)


def test_the_count_follows_the_amplitude_it_was_delivered_at() -> None:
    bench = on_at(configure(1, 100, 200))
    counted(bench, 1.0)
    bench.ok(SetAmplitude(1, 500))
    status = counted(bench, 2.0)
    assert status["delivered_charge_pc"] == pytest.approx(100 * 2 * 200 * (1000 + 500))


def test_a_frequency_change_while_on_changes_the_rate() -> None:
    bench = on_at(configure(1, 100, 200))
    counted(bench, 1.0)
    bench.ok(configure(1, 10, 200))
    assert counted(bench, 2.0)["pulses"] == pytest.approx(110, abs=1)


ALTERNATING = configure(1, mode=ModeCode.ALTERNATING, steps=((2, 200, 3000), (100, 200, 3000)))


@pytest.mark.parametrize(
    ("t", "pulses"),
    [(3.0, 6), (4.5, 156), (6.0, 306), (7.5, 309), (24.0, 4 * 306), (34.5, 5 * 306 + 156)],
)
def test_alternating_2_hz_and_100_hz_every_3_s(t: float, pulses: int) -> None:
    status = counted(on_at(ALTERNATING), t)
    assert status["pulses"] == pytest.approx(pulses, abs=1)
    assert status["delivered_charge_pc"] == pytest.approx(status["pulses"] * 2 * AMP_UA * 200)


def test_alternating_telemetry_reports_the_step_in_force() -> None:
    bench = on_at(ALTERNATING)
    bench.heartbeats(1.0)
    assert bench.telemetry(1)[-1].frequency_mhz == 2000
    bench.heartbeats(4.0)
    assert bench.telemetry(1)[-1].frequency_mhz == 100_000
    bench.heartbeats(6.5)
    assert bench.telemetry(1)[-1].frequency_mhz == 2000


def test_alternating_steps_of_different_widths_are_charged_at_their_own_width() -> None:
    steps = ((2, 400, 3000), (100, 50, 3000))
    status = counted(on_at(configure(1, mode=ModeCode.ALTERNATING, steps=steps)), 6.0)
    bench = on_at(configure(1, mode=ModeCode.ALTERNATING, steps=steps))
    bench.heartbeats(6.0, every=0.4)
    expected = 6 * 2 * AMP_UA * 400 + 300 * 2 * AMP_UA * 50
    assert status["delivered_charge_pc"] == pytest.approx(expected, rel=0.01)
    assert bench.status(1)["delivered_charge_pc"] == pytest.approx(expected, rel=0.01)


def test_burst_of_7_pulses_twice_a_second_is_14_pulses_per_second() -> None:
    burst = configure(1, 100, 200, mode=ModeCode.BURST, pulses_per_train=7, train_hz=2)
    status = counted(on_at(burst), 10.0)
    assert status["pulses"] == pytest.approx(140, abs=1)
    assert status["delivered_charge_pc"] == pytest.approx(status["pulses"] * 2 * AMP_UA * 200)
    assert status["net_charge_pc"] == 0


def test_the_count_does_not_depend_on_how_often_the_device_ticks() -> None:
    fine, coarse = on_at(configure(1, 100, 200)), on_at(configure(1, 100, 200))
    fine.heartbeats(10.0, every=0.01)
    coarse.heartbeats(10.0, every=0.45)
    assert fine.status(1)["pulses"] == pytest.approx(coarse.status(1)["pulses"], abs=1)
