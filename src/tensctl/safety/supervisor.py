"""The runtime supervisor: every set-point passes it before a driver sees it, and every
telemetry report is judged by it (``shared/reference/safety.md``, "Behaviour on the output
path"). Pure logic on numbers and a clock value; the engine does the I/O.

- :meth:`Supervisor.limit` turns a wanted amplitude into an allowed one: never above the
  channel's ceiling, increases at most one slew step per command and the slew rate over
  any 1 s window, decreases at once.
- :meth:`Supervisor.judge` reads one channel's telemetry: open circuit, over-current,
  compliance saturation, pulse parameter mismatch, and partial peel (halve at 1.5× the
  baseline impedance, trip at 2×).
- :func:`watchdog_expired` is the host watchdog: no supervisor tick for 250 ms trips.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from tensctl.model.device import DeviceProfile
from tensctl.safety.limits import limit

# The host counts increases over a slightly longer window than the device's 1 s, so that
# link latency can never make the device see the host's increases closer together.
HOST_SLEW_WINDOW_S = 1.1


class Action(StrEnum):
    ok = "ok"
    halve = "halve"  # partial peel: halve the output and alert
    trip = "trip"  # fault: every output to 0, latched


@dataclass(frozen=True)
class Verdict:
    action: Action
    rule: str = ""
    message: str = ""


OK = Verdict(Action.ok)


@dataclass(frozen=True)
class Reading:
    """One channel's telemetry, in the units the supervisor judges."""

    on: bool
    commanded_ma: float
    delivered_ma: float  # nan: the device does not measure its current
    impedance_ohm: float  # inf: open circuit; nan: not measured
    frequency_hz: float
    pulse_width_us: float


@dataclass
class ChannelGuard:
    ceiling_ma: float
    sent_ma: float = 0.0
    increases: deque[tuple[float, float]] = field(default_factory=deque)
    # impedance at the first report of each pulse width: a load's impedance depends on the
    # width it is measured at, so peel compares like with like (width modulation is legal)
    baseline_ohm: dict[int, float] = field(default_factory=dict)
    halved: bool = False

    def risen_within(self, now_s: float) -> float:
        while self.increases and now_s - self.increases[0][0] >= HOST_SLEW_WINDOW_S:
            self.increases.popleft()
        return sum(step for _, step in self.increases)


def _ceiling(ceiling_ma: float, device_max_ma: float) -> float:
    """The ceiling the guard holds: a ceiling that is not a finite number ≥ 0 (NaN compares
    false with everything, so ``min(nan, x)`` is nan and lets every level through) is 0."""
    if not (math.isfinite(ceiling_ma) and math.isfinite(device_max_ma)):
        return 0.0
    return max(0.0, min(ceiling_ma, device_max_ma, limit("amplitude_peak_max_ma").value))


class Supervisor:
    def __init__(self, device: DeviceProfile, ceilings_ma: dict[int, float]) -> None:
        self.step_ma = min(device.slew.max_step_ma, limit("slew_step_max_ma").value)
        self.rate_ma_per_s = min(
            device.slew.max_rate_ma_per_s, limit("slew_rate_max_ma_per_s").value
        )
        self.resolution_ma = device.amplitude.resolution_ua / 1000.0
        self.guards = {
            ch: ChannelGuard(_ceiling(ceiling, device.amplitude.max_ma))
            for ch, ceiling in ceilings_ma.items()
        }

    def ceiling_ma(self, channel: int) -> float:
        return self.guards[channel].ceiling_ma

    def lower_ceiling(self, channel: int, ceiling_ma: float) -> float:
        """Lower the channel's ceiling (a partial peel); it never rises this way, and a
        value that is not a number ≥ 0 lowers it to 0. Returns the ceiling now held."""
        guard = self.guards[channel]
        lowered = ceiling_ma if math.isfinite(ceiling_ma) and ceiling_ma >= 0 else 0.0
        guard.ceiling_ma = min(guard.ceiling_ma, lowered)
        return guard.ceiling_ma

    def limit(self, channel: int, wanted_ma: float, now_s: float) -> float:
        """The amplitude that may be sent now for ``wanted_ma`` (a multiple of the device's
        resolution, never above the ceiling, increases slew-limited)."""
        guard = self.guards[channel]
        wanted = min(max(0.0, wanted_ma), guard.ceiling_ma) if math.isfinite(wanted_ma) else 0.0
        if wanted <= guard.sent_ma:
            return self._quantize(wanted)
        budget = self.rate_ma_per_s - guard.risen_within(now_s)
        allowed = guard.sent_ma + max(0.0, min(self.step_ma, budget, wanted - guard.sent_ma))
        return self._quantize(allowed)

    def _quantize(self, amplitude_ma: float) -> float:
        steps = math.floor(amplitude_ma / self.resolution_ma + 1e-9)
        return round(steps * self.resolution_ma, 6)

    def sent(self, channel: int, amplitude_ma: float, now_s: float) -> None:
        """Record an amplitude the device accepted."""
        guard = self.guards[channel]
        if amplitude_ma > guard.sent_ma:
            guard.increases.append((now_s, amplitude_ma - guard.sent_ma))
        guard.sent_ma = amplitude_ma

    def zeroed(self, channel: int) -> None:
        """The channel's output went to 0 (stop, fault): forget its history."""
        guard = self.guards[channel]
        guard.sent_ma, guard.halved = 0.0, False
        guard.baseline_ohm.clear()
        guard.increases.clear()

    def judge(
        self,
        channel: int,
        r: Reading,
        expected_frequency_hz: float | None = None,
        expected_width_us: float | None = None,
    ) -> Verdict:
        """What one telemetry report calls for. Parameter expectations are given only where
        the device runs a fixed train (not alternation or modulation)."""
        guard = self.guards[channel]
        if not r.on or r.commanded_ma <= 0:
            return OK
        checks = (
            self._open_circuit(r),
            self._over_current(r),
            self._compliance(r),
            self._mismatch("frequency", r.frequency_hz, expected_frequency_hz),
            self._mismatch("pulse width", r.pulse_width_us, expected_width_us),
        )
        for verdict in checks:
            if verdict is not OK:
                return verdict
        return self._peel(guard, r.impedance_ohm, round(r.pulse_width_us))

    @staticmethod
    def _open_circuit(r: Reading) -> Verdict:
        limit_ohm = limit("open_circuit_ohm").value
        if math.isinf(r.impedance_ohm) or r.impedance_ohm > limit_ohm:
            return Verdict(Action.trip, "open_circuit", f"load above {limit_ohm:,.0f} Ω")
        if math.isnan(r.delivered_ma):
            return OK  # the device checks its electrodes itself and reports a fault
        if r.commanded_ma > limit("load_check_min_ma").value and r.delivered_ma <= 0:
            return Verdict(Action.trip, "open_circuit", "current commanded, none measured")
        return OK

    @staticmethod
    def _over_current(r: Reading) -> Verdict:
        if math.isnan(r.delivered_ma):
            return OK
        ceiling = r.commanded_ma * limit("over_current_factor").value
        ceiling += limit("over_current_margin_ma").value
        if r.delivered_ma > ceiling:
            message = f"measured {r.delivered_ma:g} mA for {r.commanded_ma:g} mA commanded"
            return Verdict(Action.trip, "over_current", message)
        return OK

    @staticmethod
    def _compliance(r: Reading) -> Verdict:
        measured = not math.isnan(r.delivered_ma)
        measurable = measured and r.commanded_ma > limit("load_check_min_ma").value
        if measurable and r.delivered_ma < r.commanded_ma * limit("compliance_fraction").value:
            message = f"delivered {r.delivered_ma:g} of {r.commanded_ma:g} mA (compliance)"
            return Verdict(Action.trip, "compliance", message)
        return OK

    @staticmethod
    def _mismatch(what: str, measured: float, expected: float | None) -> Verdict:
        if expected is None or expected <= 0:
            return OK
        if abs(measured - expected) / expected > limit("parameter_mismatch_fraction").value:
            return Verdict(Action.trip, "mismatch", f"{what} {measured:g}, expected {expected:g}")
        return OK

    @staticmethod
    def _peel(guard: ChannelGuard, impedance_ohm: float, width_us: int) -> Verdict:
        if math.isnan(impedance_ohm):
            return OK
        baseline_ohm = guard.baseline_ohm.setdefault(width_us, impedance_ohm)
        ratio = impedance_ohm / baseline_ohm
        if ratio >= limit("peel_trip_ratio").value:
            return Verdict(Action.trip, "peel", f"impedance {ratio:.2f}× its baseline")
        if ratio >= limit("peel_warn_ratio").value and not guard.halved:
            guard.halved = True
            return Verdict(Action.halve, "peel", f"impedance {ratio:.2f}× its baseline")
        return OK


def watchdog_expired(last_tick_s: float, now_s: float, speed: float = 1.0) -> bool:
    """The host watchdog: True when the supervisor has not ticked for too long, in real
    time. The times are on a clock running ``speed`` times real time (the simulator's
    ``--speed``): a host that stalls is as slow at every speed. Anything not provably
    within the limit (a NaN time or speed) has expired."""
    return not (now_s - last_tick_s) * 1000.0 / speed <= limit("host_watchdog_ms").value
