"""Between the driver interface's pulse trains and ScienceMode4 mid-level channel blocks.

Mid level has one pulse shape and one period per channel, so only continuous trains can be
expressed (bursts and alternation are refused, not approximated). A symmetric biphasic pulse
is two points, ``(width, +I), (width, −I)``; an asymmetric one is ``(width, +I),
(width·w, −I·a)`` and is sent only if its two phases carry the same charge (within 1 %, the
0.5 mA current step permitting). Amplitudes are rounded *down* to the 0.5 mA step. The
period is sent in 0.25 ms units (IFU Table 22, scale flag 1) where it fits, else in 0.5 ms
units, and rounded *up*: the pulse rate is never above what was asked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tensctl.drivers.base import ChannelSettings
from tensctl.drivers.errors import CommandRefused
from tensctl.errors import InputError, Problem
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode4 import MlChannel, Point
from tensctl.wire.sciencemode4.midlevel import (
    CHANNELS,
    MAX_CURRENT_MA,
    MAX_DURATION_US,
    MAX_PERIOD_CODE,
)

BALANCE_TOLERANCE = 0.01
MIN_PERIOD_MS = 0.5  # IFU p. 29


@dataclass(frozen=True)
class Shape:
    """A configured channel: what the device will be sent, amplitude aside."""

    settings: ChannelSettings
    period_ms: float
    quarter_ms: bool
    width_us: int
    secondary_width_us: int
    secondary_ratio: float  # secondary current / primary current

    @property
    def frequency_hz(self) -> float:
        return 1000.0 / self.period_ms

    def points(self, amplitude_ma: float) -> tuple[Point, Point]:
        """The two points at ``amplitude_ma`` (a multiple of 0.5 mA); raises ValueError if
        the asymmetric phases cannot be balanced at it."""
        secondary = math.floor(amplitude_ma * self.secondary_ratio * 2 + 0.5) / 2
        q1, q2 = amplitude_ma * self.width_us, secondary * self.secondary_width_us
        if abs(q1 - q2) > BALANCE_TOLERANCE * q1:
            raise ValueError(f"phases of {q1:g} and {q2:g} nC cannot be balanced")
        return Point(self.width_us, amplitude_ma), Point(self.secondary_width_us, -secondary)

    def balanced_down(self, amplitude_ma: float) -> float:
        """A decrease the phases cannot be balanced at goes further down, to 0."""
        try:
            self.points(amplitude_ma)
        except ValueError:
            return 0.0
        return amplitude_ma

    def block(self, amplitude_ma: float) -> MlChannel:
        return MlChannel(self.points(amplitude_ma), self.period_ms, 0, self.quarter_ms)

    def charge_per_pulse_nc(self, amplitude_ma: float) -> tuple[float, float]:
        """(absolute charge of both phases, net charge) of one pulse, in nC."""
        first, second = self.points(amplitude_ma)
        q1 = first.current_ma * first.duration_us / 1000
        q2 = second.current_ma * second.duration_us / 1000
        return abs(q1) + abs(q2), q1 + q2


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
    width = round(s.pulse_width_us)
    ratio, second = 1.0, width
    if s.waveform == "asymmetric_biphasic":
        ratio, w = s.secondary_amplitude_ratio, s.secondary_width_ratio
        second = round(width * w) if math.isfinite(w) else 0
        if not (math.isfinite(ratio) and ratio > 0 and 1 <= second <= MAX_DURATION_US):
            raise refuse("UNSUPPORTED", "the secondary phase cannot be sent as one point")
        if abs(ratio * second / width - 1) > BALANCE_TOLERANCE:
            raise refuse("UNSUPPORTED", "the phases are not charge balanced")
    period_ms, quarter = period(s.frequency_hz)
    if period_ms < MIN_PERIOD_MS or (width + second) > period_ms * 1000:
        raise refuse("OUT_OF_RANGE", "the pulse does not fit in its period")
    return Shape(s, period_ms, quarter, width, second, ratio)


def check_amplitude(
    channel: int, amplitude_ma: float, sh: Shape | None, profile: DeviceProfile
) -> None:
    """Refuse an amplitude above the profile, the wire (±150 mA) or the charge limit."""
    what = f"{amplitude_ma:g} mA on channel {channel}"
    top = min(profile.amplitude.max_ma, MAX_CURRENT_MA)
    if amplitude_ma > top:
        raise CommandRefused(what, "OUT_OF_RANGE", f"above the device's {top:g} mA")
    if sh is not None:
        biggest = max(
            amplitude_ma * sh.width_us, amplitude_ma * sh.secondary_ratio * sh.secondary_width_us
        )
        if biggest / 1000 > profile.max_charge_per_phase_uc:
            raise CommandRefused(what, "OUT_OF_RANGE", "above the charge per phase limit")
        if amplitude_ma * sh.secondary_ratio > MAX_CURRENT_MA:
            raise CommandRefused(what, "OUT_OF_RANGE", "secondary phase above 150 mA")


def channels(profile: DeviceProfile, chosen: Iterable[int]) -> list[int]:
    """The channels as a list, or :class:`InputError` if any is not the device's."""
    out = list(chosen)
    top = min(profile.channels, CHANNELS)
    bad = [ch for ch in out if not isinstance(ch, int) or not 1 <= ch <= top]
    if bad or not out:
        raise InputError([Problem(f"{bad or 'no'} channel(s): the P24 has 1-{top}", "<api>")])
    return out
