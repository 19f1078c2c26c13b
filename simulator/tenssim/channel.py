"""One output channel: its configuration, commanded amplitude, latched faults and the
analytic account of every pulse it delivers.

Pulses are counted by integrating the pulse rate over time (continuous: ``f``; burst:
pulses per train × train rate; alternating: each step's frequency for its dwell), so a
30-minute session advanced in one step costs the same as one advanced in 10 ms steps.
Units follow the wire: µA, µs, mHz; charge in pC (µA·µs).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tensctl.wire.codes import Fault, ModeCode, WaveformCode
from tensctl.wire.messages import Configure
from tenssim.load import Load

TRIP_WINDOW_S = 600.0  # 3 trips in 10 min lock the channel
TRIPS_TO_LOCK = 3
RESET_CLEAR_S = 3.0  # a fault's cause must be gone this long before a reset
DEVICE_FAULTS = (
    Fault.WATCHDOG | Fault.EMERGENCY_STOP | Fault.LINK | Fault.REBOOT | Fault.LOW_BATTERY
)


@dataclass(frozen=True)
class Segment:
    """The pulse train's parameters from one moment: what the channel is emitting."""

    frequency_mhz: int
    pulse_width_us: int
    rate_hz: float  # average pulses per second


def segments(config: Configure) -> list[tuple[float, Segment]]:
    """(dwell_s, segment) pairs that repeat; one pair with infinite dwell if not alternating."""
    if config.mode == ModeCode.ALTERNATING and config.steps:
        return [
            (s.dwell_ms / 1000, Segment(s.frequency_mhz, s.pulse_width_us, s.frequency_mhz / 1e3))
            for s in config.steps
        ]
    if config.mode == ModeCode.BURST:
        rate = config.pulses_per_train * config.train_rate_mhz / 1e3
    else:
        rate = config.frequency_mhz / 1e3
    return [(math.inf, Segment(config.frequency_mhz, config.pulse_width_us, rate))]


def phase_ratios(config: Configure) -> tuple[float, float]:
    """(secondary amplitude, secondary width) as fractions of the primary phase."""
    if config.waveform == WaveformCode.ASYMMETRIC_BIPHASIC:
        return config.secondary_amplitude_permille / 1000, config.secondary_width_permille / 1000
    return 1.0, 1.0


@dataclass
class Channel:
    number: int
    load: Load = field(default_factory=Load)
    config: Configure | None = None
    running: bool = False
    amplitude_ua: int = 0
    started_s: float = 0.0
    faults: Fault = Fault.NONE
    cause_seen_s: float = -math.inf
    trips: deque[float] = field(default_factory=deque)
    over_current: bool = False
    baseline_ohm: float | None = None  # load at START, measured at baseline_width_us
    baseline_width_us: int = 100
    increases: deque[tuple[float, int]] = field(default_factory=deque)
    rms_rises: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, µA r.m.s.) of each re-configuration while on that raised the r.m.s. current."""
    pulses: float = 0.0
    delivered_charge_pc: float = 0.0
    net_charge_pc: float = 0.0
    delivered_peak_ua: float = 0.0
    _plan: list[tuple[float, Segment]] = field(default_factory=list, repr=False)
    _plan_for: Configure | None = field(default=None, repr=False)

    @property
    def output_on(self) -> bool:
        return self.running and self.amplitude_ua > 0

    def plan(self) -> list[tuple[float, Segment]]:
        """The configuration's repeating segments (computed once per configuration)."""
        assert self.config is not None
        if self._plan_for is not self.config:
            self._plan, self._plan_for = segments(self.config), self.config
        return self._plan

    def segment(self, now_s: float) -> Segment | None:
        if self.config is None:
            return None
        plan = self.plan()
        if len(plan) == 1:
            return plan[0][1]
        cycle = sum(d for d, _ in plan)
        t = (now_s - self.started_s) % cycle if cycle > 0 else 0.0
        for dwell, seg in plan:
            if t < dwell:
                return seg
            t -= dwell
        return plan[-1][1]

    def time_in_steps(self, t0: float, t1: float) -> list[tuple[float, Segment]]:
        """How long [t0, t1) spends in each step of the plan (whole cycles in one sum)."""
        if self.config is None or t1 <= t0:
            return []
        plan = self.plan()
        if len(plan) == 1:
            return [(t1 - t0, plan[0][1])]
        cycle = sum(d for d, _ in plan)

        def upto(t: float, offset_s: float, dwell_s: float) -> float:  # in this step by t
            n, rem = divmod(max(0.0, t - self.started_s), cycle)
            return n * dwell_s + min(max(rem - offset_s, 0.0), dwell_s)

        spans, offset_s = [], 0.0
        for dwell_s, seg in plan:
            spans.append((upto(t1, offset_s, dwell_s) - upto(t0, offset_s, dwell_s), seg))
            offset_s += dwell_s
        return spans

    def pulses_between(self, t0: float, t1: float) -> float:
        """Pulses emitted in [t0, t1) at the current configuration (rate integrated)."""
        return sum(span_s * seg.rate_hz for span_s, seg in self.time_in_steps(t0, t1))

    def account(self, t0: float, t1: float, delivered_ua: Callable[[Segment], float]) -> None:
        """Add the pulses of [t0, t1) to the totals, each step's pulses at its own width and
        the current ``delivered_ua(step)`` that width lets through."""
        if not self.output_on or self.config is None:
            return
        amp_ratio, width_ratio = phase_ratios(self.config)
        for span_s, seg in self.time_in_steps(t0, t1):
            n = span_s * seg.rate_hz
            q1 = delivered_ua(seg) * seg.pulse_width_us
            q2 = q1 * amp_ratio * width_ratio
            self.pulses += n
            self.delivered_charge_pc += n * (q1 + q2)
            self.net_charge_pc += n * (q1 - q2)

    def rms_ua(self, now_s: float, delivered_ua: float) -> float:
        """r.m.s. current of the train now: I·sqrt(pw·(1 + a²·w)·rate)."""
        seg = self.segment(now_s)
        if seg is None or self.config is None or not self.output_on:
            return 0.0
        a, w = phase_ratios(self.config)
        return delivered_ua * math.sqrt(seg.pulse_width_us * 1e-6 * (1 + a * a * w) * seg.rate_hz)

    # ---- slew window -------------------------------------------------------------------

    def increase_in_window(self, now_s: float) -> int:
        while self.increases and now_s - self.increases[0][0] >= 1.0:
            self.increases.popleft()
        return sum(step for _, step in self.increases)

    def rms_risen_within(self, now_s: float) -> int:
        """µA r.m.s. that re-configurations while on raised in the last 1 s."""
        while self.rms_rises and now_s - self.rms_rises[0][0] >= 1.0:
            self.rms_rises.popleft()
        return sum(step for _, step in self.rms_rises)

    # ---- faults ------------------------------------------------------------------------

    def zero(self) -> bool:
        """Output to 0 and off; True if anything changed."""
        changed = self.running or self.amplitude_ua != 0
        self.running, self.amplitude_ua = False, 0
        self.increases.clear()
        self.rms_rises.clear()
        return changed

    def trip(self, flags: Fault, now_s: float, counts: bool = True) -> None:
        """Zero the output and latch ``flags``; the third counted trip within 10 min locks
        the channel (device-wide stops — watchdog, emergency stop — are not counted)."""
        self.zero()
        self.faults |= flags
        self.cause_seen_s = now_s
        if not counts:
            return
        self.trips.append(now_s)
        while self.trips and now_s - self.trips[0] > TRIP_WINDOW_S:
            self.trips.popleft()
        if len(self.trips) >= TRIPS_TO_LOCK:
            self.faults |= Fault.LOCKED
