"""Between the driver interface's pulse trains and ScienceMode4 mid-level channel blocks.

Mid level has one pulse shape and one period per channel, so only continuous trains can be
expressed (bursts and alternation are refused, not approximated). A symmetric biphasic pulse
is two points, ``(width, +I), (width, −I)``. An asymmetric one, configured with a secondary
current ratio ``a`` and width ratio ``w`` whose product is 1 (within 1 %), is ``(width, +I),
(d, −I₂)``: ``I₂`` is ``I·a`` rounded *down* to the 0.5 mA step (one step, 0.5 mA, where that
would be 0 — never more than ``I``), and the charge is balanced through the secondary
duration ``d = I·width / I₂`` rounded to the nearest microsecond (so the phases differ by at
most half a microsecond of ``I₂``; an amplitude where that is more than 1 % of the phase
charge, or where ``d`` exceeds 4095 µs or the pulse its period, cannot be sent). Amplitudes
are rounded *down* to the 0.5 mA step, widths *down* to the microsecond. The period is sent
in 0.25 ms units (IFU Table 22, scale flag 1) where it fits, else in 0.5 ms units, and
rounded *up*: the pulse rate is never above what was asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensctl.drivers.base import ChannelSettings
from tensctl.drivers.errors import CommandRefused
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode4 import MlChannel, Point
from tensctl.wire.sciencemode4.midlevel import (
    MAX_CURRENT_MA,
    MAX_DURATION_US,
    MAX_PERIOD_CODE,
)

BALANCE_TOLERANCE = 0.01  # of the primary phase's charge
MIN_PERIOD_MS = 0.5  # IFU p. 29
STEP_MA = 0.5


@dataclass(frozen=True)
class Shape:
    """A configured channel: what the device will be sent, amplitude aside."""

    settings: ChannelSettings
    period_ms: float
    quarter_ms: bool
    width_us: int
    secondary_width_us: int  # at the configured ratios; the sent one balances the charge
    secondary_ratio: float  # secondary current / primary current

    @property
    def frequency_hz(self) -> float:
        return 1000.0 / self.period_ms

    @property
    def symmetric(self) -> bool:
        return self.settings.waveform == "symmetric_biphasic"

    def points(self, amplitude_ma: float) -> tuple[Point, Point]:
        """The two points at ``amplitude_ma`` (a multiple of 0.5 mA); raises ValueError
        saying why an asymmetric pulse cannot be balanced at it."""
        if self.symmetric or amplitude_ma == 0:
            second = self.width_us if self.symmetric else self.secondary_width_us
            return Point(self.width_us, amplitude_ma), Point(second, -amplitude_ma)
        secondary = secondary_ma(amplitude_ma, self.secondary_ratio)
        q1 = amplitude_ma * self.width_us
        duration = max(1, round(q1 / secondary))
        at = f"at {amplitude_ma:g} mA"
        if duration > MAX_DURATION_US:
            raise ValueError(
                f"{at} the {secondary:g} mA secondary phase needs {duration} µs to balance"
                f" the charge (at most {MAX_DURATION_US} µs)"
            )
        if self.width_us + duration > self.period_ms * 1000:
            raise ValueError(f"{at} the balanced pulse ({duration} µs) outlasts its period")
        if abs(q1 - secondary * duration) > BALANCE_TOLERANCE * q1:
            raise ValueError(f"{at} the phases cannot be balanced within 1 % in 1 µs steps")
        return Point(self.width_us, amplitude_ma), Point(duration, -secondary)

    def balanced_down(self, amplitude_ma: float) -> float:
        """For a decrease: ``amplitude_ma`` if the pulse can be sent at it, else the nearest
        lower 0.5 mA level where it can (0 mA, where no level can)."""
        level = quantize_ma(amplitude_ma)
        while level > 0:
            try:
                self.points(level)
            except ValueError:
                level -= STEP_MA
                continue
            return level
        return 0.0

    def block(self, amplitude_ma: float) -> MlChannel:
        return MlChannel(self.points(amplitude_ma), self.period_ms, 0, self.quarter_ms)

    def charge_per_pulse_nc(self, amplitude_ma: float) -> tuple[float, float]:
        """(absolute charge of both phases, net charge) of one pulse, in nC (mA × µs)."""
        first, second = self.points(amplitude_ma)
        q1 = first.current_ma * first.duration_us
        q2 = second.current_ma * second.duration_us
        return abs(q1) + abs(q2), q1 + q2


def secondary_ma(amplitude_ma: float, ratio: float) -> float:
    """The secondary current: ``amplitude_ma · ratio`` down to the 0.5 mA step, but one
    step where that would be 0 (a smaller pulse could not be balanced at all)."""
    floored = math.floor(amplitude_ma * ratio * 2 + 1e-9) / 2
    return max(floored, min(STEP_MA, amplitude_ma))


def quantize_ma(amplitude_ma: float) -> float:
    """Down to the device's 0.5 mA step, never up."""
    return math.floor(amplitude_ma * 2 + 1e-9) / 2


def period(frequency_hz: float) -> tuple[float, bool]:
    """(period in ms, in 0.25 ms units?) for ``frequency_hz``, the period rounded up."""
    wanted_ms = 1000.0 / frequency_hz
    quarters = math.ceil(wanted_ms * 4 - 1e-9)
    if quarters <= MAX_PERIOD_CODE:
        return quarters / 4, True
    return math.ceil(wanted_ms * 2 - 1e-9) / 2, False


def shape(channel: int, s: ChannelSettings, profile: DeviceProfile) -> Shape:
    """The channel block for ``s``, or :class:`CommandRefused` saying why mid level
    cannot express it (or the profile does not allow it)."""
    what = f"CONFIGURE on channel {channel}"

    def refuse(code: str, reason: str) -> CommandRefused:
        return CommandRefused(what, code, reason)

    if s.mode != "continuous":
        raise refuse("UNSUPPORTED", "mid level runs one period per channel: continuous only")
    if s.waveform not in ("symmetric_biphasic", "asymmetric_biphasic"):
        raise refuse("UNSUPPORTED", f"unknown waveform {s.waveform!r}")
    fmin, fmax = profile.frequency_hz.min, profile.frequency_hz.max
    if not (math.isfinite(s.frequency_hz) and fmin <= s.frequency_hz <= fmax):
        raise refuse("OUT_OF_RANGE", f"frequency {s.frequency_hz:g} Hz outside {fmin:g}-{fmax:g}")
    wmin, wmax = profile.pulse_width_us.min, min(profile.pulse_width_us.max, MAX_DURATION_US)
    if not (math.isfinite(s.pulse_width_us) and wmin <= s.pulse_width_us <= wmax):
        raise refuse(
            "OUT_OF_RANGE", f"pulse width {s.pulse_width_us:g} µs outside {wmin:g}-{wmax:g}"
        )
    width = math.floor(s.pulse_width_us)
    ratio, second = 1.0, width
    if s.waveform == "asymmetric_biphasic":
        ratio, w = s.secondary_amplitude_ratio, s.secondary_width_ratio
        second = math.floor(width * w) if math.isfinite(w) and w > 0 else 0
        if not (math.isfinite(ratio) and ratio > 0 and 1 <= second <= MAX_DURATION_US):
            raise refuse("UNSUPPORTED", "the secondary phase cannot be sent as one point")
        if abs(ratio * w - 1) > BALANCE_TOLERANCE:
            raise refuse("UNSUPPORTED", "the phases are not charge balanced (ratios' product 1)")
    period_ms, quarter = period(s.frequency_hz)
    if period_ms < MIN_PERIOD_MS or (width + second) > period_ms * 1000:
        raise refuse("OUT_OF_RANGE", "the pulse does not fit in its period")
    return Shape(s, period_ms, quarter, width, second, ratio)


def check_amplitude(
    channel: int, amplitude_ma: float, sh: Shape | None, profile: DeviceProfile
) -> None:
    """Refuse an amplitude above the profile or the wire (±150 mA) in either phase, above
    the charge limit, or one the pulse cannot be balanced at."""
    what = f"{amplitude_ma:g} mA on channel {channel}"
    top = min(profile.amplitude.max_ma, MAX_CURRENT_MA)
    if amplitude_ma > top:
        raise CommandRefused(what, "OUT_OF_RANGE", f"above the device's {top:g} mA")
    if sh is None:
        return
    try:
        first, second = sh.points(amplitude_ma)
    except ValueError as exc:
        raise CommandRefused(what, "UNSUPPORTED", str(exc)) from None
    if abs(second.current_ma) > top:
        raise CommandRefused(what, "OUT_OF_RANGE", f"secondary phase above {top:g} mA")
    biggest_nc = max(abs(p.current_ma) * p.duration_us for p in (first, second))
    if biggest_nc / 1000 > profile.max_charge_per_phase_uc:
        raise CommandRefused(what, "OUT_OF_RANGE", "above the charge per phase limit")
