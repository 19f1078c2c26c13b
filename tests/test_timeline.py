from __future__ import annotations

import pytest

from tensctl.engine.timeline import Timeline, sample
from tensctl.model.loader import parse_protocol

HEAD = """format_version: 1
id: t
name: T
channels:
  - id: 1
    electrodes: [{site: forearm_left, area_cm2: 25}, {site: forearm_left, area_cm2: 25}]
  - id: 2
    electrodes: [{site: thigh_left, area_cm2: 25}, {site: thigh_left, area_cm2: 25}]
intensity: {target_ma: 20}
session: {max_duration_s: 3600}
phases:
"""


def timeline(phases: str, intensities: dict[int, float] | None = None) -> Timeline:
    protocol = parse_protocol(HEAD + phases)
    return Timeline(protocol, intensities or {1: 20.0, 2: 10.0})


def test_ramps_and_phase_boundaries() -> None:
    tl = timeline("""
  - {name: a, duration_s: 100, frequency_hz: 100, pulse_width_us: 200,
     ramp_up_s: 10, ramp_down_s: 5}
  - {name: b, duration_s: 50, frequency_hz: 4, pulse_width_us: 250}
""")
    assert tl.boundaries_s == [0.0, 100.0, 150.0]
    assert tl.setpoints(0.0)[1].amplitude_ma == 0.0
    assert tl.setpoints(5.0)[1].amplitude_ma == pytest.approx(10.0)
    assert tl.setpoints(5.0)[2].amplitude_ma == pytest.approx(5.0)
    assert tl.setpoints(50.0)[1].amplitude_ma == pytest.approx(20.0)
    assert tl.setpoints(97.5)[1].amplitude_ma == pytest.approx(10.0)
    b = tl.setpoints(100.0)[1]
    assert (b.phase_index, b.frequency_hz, b.pulse_width_us, b.amplitude_ma) == (1, 4, 250, 20)
    assert tl.setpoints(150.0) == {} and tl.setpoints(-0.1) == {}


def test_no_drift_far_into_a_long_protocol() -> None:
    phases = "".join(
        f"  - {{name: p{i}, duration_s: 0.1, frequency_hz: {10 + i}, pulse_width_us: 200}}\n"
        for i in range(200)
    )
    tl = timeline(phases)
    # boundary i sits at exactly i * 0.1 s as computed from the start, not by accumulation
    for i in (0, 57, 199):
        start = tl.boundaries_s[i]
        assert tl.setpoints(start + 1e-9)[1].phase_index == i
        assert tl.setpoints(start + 1e-9)[1].frequency_hz == 10 + i


def test_cycling_on_off_with_ramps() -> None:
    tl = timeline("""
  - name: c
    duration_s: 60
    frequency_hz: 50
    pulse_width_us: 200
    ramp_up_s: 2
    ramp_down_s: 2
    cycling: {on_s: 10, off_s: 5}
""")
    assert tl.setpoints(1.0)[1].amplitude_ma == pytest.approx(10.0)
    assert tl.setpoints(5.0)[1].amplitude_ma == pytest.approx(20.0)
    assert tl.setpoints(9.0)[1].amplitude_ma == pytest.approx(10.0)
    assert tl.setpoints(12.0)[1].amplitude_ma == 0.0
    assert tl.setpoints(20.0)[1].amplitude_ma == pytest.approx(20.0)


def test_alternating_steps_repeat() -> None:
    tl = timeline("""
  - name: dd
    duration_s: 60
    pulse_width_us: 200
    mode:
      type: alternating
      steps: [{frequency_hz: 2, dwell_s: 3}, {frequency_hz: 100, dwell_s: 3, pulse_width_us: 150}]
""")
    assert (tl.setpoints(1.0)[1].frequency_hz, tl.setpoints(1.0)[1].pulse_width_us) == (2, 200)
    assert (tl.setpoints(4.0)[1].frequency_hz, tl.setpoints(4.0)[1].pulse_width_us) == (100, 150)
    assert tl.setpoints(6.5)[1].frequency_hz == 2
    assert tl.setpoints(59.9)[1].frequency_hz == 100


@pytest.mark.parametrize(
    ("shape", "quarter"),
    [("triangle", 0.5), ("sine", 0.5), ("sawtooth", 0.75), ("square", 1.0)],
)
def test_modulation_shapes(shape: str, quarter: float) -> None:
    tl = timeline(f"""
  - name: m
    duration_s: 120
    pulse_width_us: 200
    mode:
      type: modulated
      period_s: 12
      shape: {shape}
      parameters:
        - {{parameter: frequency_hz, low: 2, high: 122}}
""")
    assert tl.setpoints(0.0)[1].frequency_hz == pytest.approx(122)
    assert tl.setpoints(3.0)[1].frequency_hz == pytest.approx(2 + 120 * quarter)
    if shape != "square":
        assert tl.setpoints(6.0)[1].frequency_hz == pytest.approx(
            2 + (60 if shape == "sawtooth" else 0)
        )
    assert tl.setpoints(12.0)[1].frequency_hz == pytest.approx(122)


def test_modulated_rate_and_width_inverted_and_amplitude_depth() -> None:
    tl = timeline("""
  - name: m
    duration_s: 120
    mode:
      type: modulated
      period_s: 12
      parameters:
        - {parameter: frequency_hz, low: 2, high: 120}
        - {parameter: pulse_width_us, low: 100, high: 200, inverted: true}
        - {parameter: amplitude, depth_percent: 50}
""")
    start, middle = tl.setpoints(0.0)[1], tl.setpoints(6.0)[1]
    assert (start.frequency_hz, start.pulse_width_us) == (120, 100)
    assert (middle.frequency_hz, middle.pulse_width_us) == (2, 200)
    assert start.amplitude_ma == pytest.approx(20.0)
    assert middle.amplitude_ma == pytest.approx(10.0)


def test_burst_parameters_and_sampling() -> None:
    tl = timeline("""
  - name: b
    duration_s: 10
    frequency_hz: 100
    pulse_width_us: 200
    mode: {type: burst, pulses_per_train: 7, train_rate_hz: 2}
""")
    sp = tl.setpoints(1.0)[1]
    assert (sp.frequency_hz, sp.pulses_per_train, sp.train_rate_hz) == (100, 7, 2)
    points = sample(tl, 0.5)
    assert len(points) == 20 and points[-1][0] == pytest.approx(9.5)
