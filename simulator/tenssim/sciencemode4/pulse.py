"""A mid-level channel's pulse shape (up to 16 points) on the simulator's output stage.

The output stage models a pulse as a primary phase and a secondary one (ratios of the
primary). A P24 point list maps onto it as: the primary phase is the first point that
carries current (its duration is the pulse width, its |current| the amplitude); every other
point that carries current is folded into one equivalent secondary phase with the same total
duration and the same charge. Two equal and opposite points are a symmetric biphasic pulse.
Net charge is exact: it is computed from the points themselves.

Ramp (IFU Table 22): "number of linear increasing lower current pulse pattern until the full
current is reached; the ramp is executed when the channel is enabled". With ramp ``r`` the
pulses after enabling carry 1/(r+1), 2/(r+1), … r/(r+1) of the full current, then the full
current; the output stage's amplitude follows that pulse by pulse (as often as the simulator
ticks: every ~2 ms in real time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tensctl.wire.codes import ModeCode, WaveformCode
from tensctl.wire.messages import Configure
from tensctl.wire.sciencemode4 import MlChannel, Point

MIN_PERIOD_MS = 0.5  # IFU p. 29: "Impulse repetition period 0.5 - 16383 ms"


@dataclass(frozen=True)
class Pulse:
    """What one channel's points mean for the output stage."""

    pulse_width_us: int
    amplitude_ua: int
    secondary_amplitude_permille: int
    secondary_width_permille: int
    net_charge_nc: float
    symmetric: bool

    @property
    def balanced(self) -> bool:
        return self.net_charge_nc == 0


def _half_ma_us(p: Point) -> int:
    return round(2 * p.current_ma) * p.duration_us  # exact integer charge (0.5 mA·µs units)


def analyse(setting: MlChannel) -> Pulse:
    points = setting.points
    carrying = [p for p in points if p.current_ma != 0 and p.duration_us > 0]
    lasting = [p for p in points if p.duration_us > 0]
    first = carrying[0] if carrying else (lasting[0] if lasting else points[0])
    rest = carrying[1:] if carrying else []
    rest_us = sum(p.duration_us for p in rest)
    rest_charge = sum(_half_ma_us(p) for p in rest)  # 0.5 mA·µs
    amplitude_half_ma = abs(round(2 * first.current_ma))
    width = 0
    amp = 0
    if first.duration_us and amplitude_half_ma and rest_us:
        width = round(1000 * rest_us / first.duration_us)
        amp = round(1000 * abs(rest_charge) / rest_us / amplitude_half_ma)
    symmetric = (
        len(rest) == 1
        and rest[0].duration_us == first.duration_us
        and rest[0].current_ma == -first.current_ma
    )
    net = (_half_ma_us(first) if carrying else 0) + rest_charge
    return Pulse(
        first.duration_us,
        round(abs(first.current_ma) * 1000),
        amp,
        width,
        net / 2,  # 0.5 mA·µs → nC (mA·µs = nC)
        symmetric,
    )


def describe(setting: MlChannel) -> dict[str, Any]:
    """One channel of an Ml_update as the log records it."""
    shape = analyse(setting)
    out: dict[str, Any] = {
        "points": [[p.duration_us, p.current_ma] for p in setting.points],
        "period_ms": setting.period_ms,
        "ramp": setting.ramp,
        "frequency_hz": setting.frequency_hz,
        "pulse_width_us": shape.pulse_width_us,
        "amplitude_ma": shape.amplitude_ua / 1000,
        "net_charge_nc": shape.net_charge_nc,
    }
    if not shape.balanced:
        out["warning"] = f"pulse not charge balanced: {shape.net_charge_nc:g} nC per pulse"
    return out


def pulse_us(setting: MlChannel) -> int:
    return sum(p.duration_us for p in setting.points)


def configure(channel: int, setting: MlChannel, pulse: Pulse) -> Configure:
    waveform = (
        WaveformCode.SYMMETRIC_BIPHASIC if pulse.symmetric else WaveformCode.ASYMMETRIC_BIPHASIC
    )
    return Configure(
        channel,
        waveform,
        ModeCode.CONTINUOUS,
        round(1e6 / setting.period_ms),  # mHz
        pulse.pulse_width_us,
        pulse.secondary_amplitude_permille if not pulse.symmetric else 1000,
        pulse.secondary_width_permille if not pulse.symmetric else 1000,
    )


def problem(setting: MlChannel) -> str | None:
    """Why the device would answer a parameter error for this channel (None: it is fine).
    Currents (±150 mA), durations (0-4095 µs), points (1-16) and ramp (0-15) cannot be
    out of range once decoded; the period and the pulse's fit in it can."""
    if setting.period_ms < MIN_PERIOD_MS:
        return f"period {setting.period_ms} ms below {MIN_PERIOD_MS} ms"
    if pulse_us(setting) > setting.period_ms * 1000:
        return f"pulse of {pulse_us(setting)} µs longer than the period"
    return None


@dataclass
class Run:
    """One enabled channel: its setting and when it was enabled (the ramp starts then)."""

    setting: MlChannel
    pulse: Pulse
    enabled_s: float

    def amplitude_ua(self, now_s: float) -> int:
        full, ramp = self.pulse.amplitude_ua, self.setting.ramp
        if ramp == 0:
            return full
        emitted = math.floor((now_s - self.enabled_s) * 1000 / self.setting.period_ms + 1e-9)
        if emitted >= ramp:
            return full
        return full * (max(0, emitted) + 1) // (ramp + 1)

    def ramping(self, now_s: float) -> bool:
        return self.amplitude_ua(now_s) != self.pulse.amplitude_ua
