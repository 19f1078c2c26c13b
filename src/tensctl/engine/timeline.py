"""The protocol timeline: a pure function of (protocol, intensities, elapsed time) → set-points.

Phase boundaries come from cumulative phase durations measured from the session start, so
evaluating at any elapsed time gives the same answer however often it is sampled: there is
no accumulated drift. Ramps and on/off cycling shape the amplitude; alternation and
modulation move frequency and pulse width; bursts are described by their train parameters.

A timeline may end before its protocol does (``end_s``: the daily cap): the output then
ramps to 0 over :attr:`Timeline.end_ramp_s` before it, and nothing is delivered after it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import accumulate

from tensctl.model.modes import Alternating, Burst, Modulated, Shape
from tensctl.model.protocol import Phase, Protocol

MIN_END_RAMP_S = 3.0
"""A timeline cut short ramps down over its protocol's last ramp down, and at least this."""


@dataclass(frozen=True)
class Setpoint:
    """What one channel should deliver at one instant."""

    amplitude_ma: float
    frequency_hz: float
    pulse_width_us: float
    phase_index: int
    pulses_per_train: int = 1  # > 1 in burst mode; frequency_hz is then the intra-train rate
    train_rate_hz: float = 0.0


@dataclass(frozen=True)
class Timeline:
    protocol: Protocol
    intensities_ma: Mapping[int, float]
    end_s: float | None = None
    """Where the timeline ends when it ends before its protocol (``None``: with it)."""

    @cached_property
    def boundaries_s(self) -> list[float]:
        """Start time of every phase, then the end of the last one."""
        return [0.0, *accumulate(p.duration_s for p in self.protocol.phases)]

    @property
    def duration_s(self) -> float:
        full = self.boundaries_s[-1]
        return full if self.end_s is None else max(0.0, min(full, self.end_s))

    @property
    def cut(self) -> bool:
        """The timeline ends before its protocol does."""
        return self.duration_s < self.boundaries_s[-1]

    @property
    def end_ramp_s(self) -> float:
        """How long a cut timeline ramps down before its end (0 when it is not cut)."""
        if not self.cut:
            return 0.0
        ramp = max(self.protocol.phases[-1].ramp_down_s, MIN_END_RAMP_S)
        return min(ramp, self.duration_s / 2)

    @property
    def steady_until_s(self) -> float:
        """Where the ramp down of a cut timeline begins (its end when it is not cut)."""
        return self.duration_s - self.end_ramp_s

    def with_intensities(self, intensities_ma: Mapping[int, float]) -> Timeline:
        """The same timeline (and end) at other intensities."""
        return replace(self, intensities_ma=intensities_ma)

    def end_factor(self, elapsed_s: float) -> float:
        """0..1: the ramp down of a cut timeline at ``elapsed_s`` (1 when it is not cut)."""
        ramp = self.end_ramp_s
        if ramp <= 0:
            return 1.0
        return max(0.0, min(1.0, (self.duration_s - elapsed_s) / ramp))

    def phase_at(self, elapsed_s: float) -> tuple[int, float] | None:
        """(phase index, time into that phase), or None outside the protocol."""
        bounds = self.boundaries_s
        if elapsed_s < 0 or elapsed_s >= self.duration_s:
            return None
        index = bisect_right(bounds, elapsed_s) - 1
        return index, elapsed_s - bounds[index]

    def setpoints(self, elapsed_s: float) -> dict[int, Setpoint]:
        located = self.phase_at(elapsed_s)
        if located is None:
            return {}
        index, t = located
        phase = self.protocol.phases[index]
        envelope = amplitude_envelope(phase, t) * self.end_factor(elapsed_s)
        frequency, width = pulse_parameters(phase, t)
        mode = phase.mode
        depth = mode.amplitude_depth() if isinstance(mode, Modulated) else None
        if depth is not None and isinstance(mode, Modulated):
            level = _shape(mode.shape, t / mode.period_s, depth.inverted)
            envelope *= 1.0 - depth.depth_percent / 100.0 * (1.0 - level)
        ppt, train = (
            (mode.pulses_per_train, mode.train_rate_hz) if isinstance(mode, Burst) else (1, 0.0)
        )
        return {
            ch: Setpoint(amp * envelope, frequency, width, index, ppt, train)
            for ch, amp in self.intensities_ma.items()
        }


def amplitude_envelope(phase: Phase, t: float) -> float:
    """0..1: the ramp and on/off factor at time ``t`` into the phase."""
    if phase.cycling is not None:
        period = phase.cycling.on_s + phase.cycling.off_s
        t = t % period
        if t >= phase.cycling.on_s:
            return 0.0
        span = phase.cycling.on_s
    else:
        span = phase.duration_s
    factor = 1.0
    if phase.ramp_up_s > 0 and t < phase.ramp_up_s:
        factor = min(factor, t / phase.ramp_up_s)
    remaining = span - t
    if phase.ramp_down_s > 0 and remaining < phase.ramp_down_s:
        factor = min(factor, remaining / phase.ramp_down_s)
    return max(0.0, min(1.0, factor))


def pulse_parameters(phase: Phase, t: float) -> tuple[float, float]:
    """(frequency_hz, pulse_width_us) at time ``t`` into the phase."""
    mode = phase.mode
    if isinstance(mode, Alternating):
        cycle = sum(s.dwell_s for s in mode.steps)
        t = t % cycle
        for step in mode.steps:
            if t < step.dwell_s:
                break
            t -= step.dwell_s
        width = step.pulse_width_us or phase.pulse_width_us
        assert width is not None
        return step.frequency_hz, width
    values = {"frequency_hz": phase.frequency_hz, "pulse_width_us": phase.pulse_width_us}
    if isinstance(mode, Modulated):
        for name in values:
            sweep = mode.sweep(name)
            if sweep is not None:
                level = _shape(mode.shape, t / mode.period_s, sweep.inverted)
                values[name] = sweep.low + (sweep.high - sweep.low) * level
    frequency, width = values["frequency_hz"], values["pulse_width_us"]
    assert frequency is not None and width is not None
    return frequency, width


def _shape(shape: Shape, cycles: float, inverted: bool) -> float:
    """0..1 level; 1 at the start of each period (0 if inverted), 0 at mid-period."""
    x = cycles % 1.0
    if shape is Shape.sine:
        level = 0.5 + 0.5 * math.cos(2 * math.pi * x)
    elif shape is Shape.triangle:
        level = abs(1.0 - 2.0 * x)
    elif shape is Shape.sawtooth:
        level = 1.0 - x
    else:
        level = 1.0 if x < 0.5 else 0.0
    return 1.0 - level if inverted else level


def sample(timeline: Timeline, step_s: float) -> list[tuple[float, dict[int, Setpoint]]]:
    """Set-points every ``step_s`` seconds over the whole protocol, for plots and summaries."""
    count = max(1, math.ceil(timeline.duration_s / step_s))
    return [(i * step_s, timeline.setpoints(i * step_s)) for i in range(count)]
