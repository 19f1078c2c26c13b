"""What channel list mode can express, and the InitChannelListMode that expresses it.

In channel list mode every active channel shares one main interval t1 (0.5 ms steps,
8–1025 ms); low-frequency channels pulse once every ``factor + 1`` periods, with one factor
(1–7) for all of them. So a set of channels can run together if their frequencies take at
most two values, f and f/(k + 1). The interval is rounded up to its 0.5 ms grid (never more
pulses than asked): a channel runs at most 5 % below its frequency and never above it (one
grid step is at most 2.5 % at the device's 50 Hz). Telemetry reports the frequency produced.
Pulses are symmetric biphasic, one per period (the device's doublets and triplets are not
used: tensctl has no such mode), 20–500 µs in whole µs (rounded down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensctl.drivers.base import ChannelSettings
from tensctl.wire.sciencemode2 import InitChannelListMode

FREQUENCY_TOLERANCE = 0.05  # below the frequency asked; never above it
MIN_MAIN_MS, MAX_MAIN_MS = 8.0, 1025.0  # the document's minimum in current firmware; code 2048
MIN_WIDTH_US, MAX_WIDTH_US = 20, 500
INTER_PULSE_CODE = 13  # 8 ms, the minimum; unused with single pulses
EPSILON = 1e-9


class Inexpressible(ValueError):
    """Settings (or a set of channels) channel list mode cannot produce."""


@dataclass(frozen=True)
class ListTiming:
    main_interval_code: int
    low_frequency_factor: int = 0
    low_frequency_channels: int = 0  # mask, bit 0 = channel 1

    @property
    def main_interval_ms(self) -> float:
        return self.main_interval_code * 0.5 + 1.0

    def frequency_hz(self, channel: int) -> float:
        skip = (
            self.low_frequency_factor + 1 if self.low_frequency_channels >> (channel - 1) & 1 else 1
        )
        return 1000.0 / (self.main_interval_ms * skip)

    def init(self, packet_number: int, channels: list[int]) -> InitChannelListMode:
        return InitChannelListMode(
            packet_number,
            self.low_frequency_factor,
            mask(channels),
            self.low_frequency_channels & mask(channels),
            INTER_PULSE_CODE,
            self.main_interval_code,
            0,
        )


def mask(channels: list[int]) -> int:
    return sum(1 << (n - 1) for n in set(channels))


def width_us(settings: ChannelSettings) -> int:
    """The pulse width sent (whole µs, rounded down); refuses what the device cannot do."""
    problems = []
    if settings.waveform != "symmetric_biphasic":
        problems.append(
            f"waveform {settings.waveform!r}: the RehaStim2 makes symmetric biphasic pulses only"
        )
    if settings.mode != "continuous":
        problems.append(
            f"mode {settings.mode!r}: channel list mode runs continuous trains only "
            "(bursts and device-side alternation cannot be expressed)"
        )
    width = (
        math.floor(settings.pulse_width_us + EPSILON)
        if math.isfinite(settings.pulse_width_us)
        else -1
    )
    if not MIN_WIDTH_US <= width <= MAX_WIDTH_US:
        problems.append(f"pulse width {settings.pulse_width_us:g} µs outside 20–500 µs")
    if not math.isfinite(settings.frequency_hz) or settings.frequency_hz <= 0:
        problems.append(f"frequency {settings.frequency_hz!r} Hz")
    if problems:
        raise Inexpressible("; ".join(problems))
    return width


def _close(produced: float, wanted: float) -> bool:
    """Produced within the tolerance below ``wanted``, and never faster."""
    return wanted * (1 - FREQUENCY_TOLERANCE) <= produced <= wanted * (1 + EPSILON)


def timing(frequencies: dict[int, float]) -> ListTiming:
    """The list timing that gives every channel its frequency (raises :class:`Inexpressible`)."""
    if not frequencies:
        raise Inexpressible("no channels")
    top = max(frequencies.values())
    code = math.ceil((1000.0 / top - 1.0) / 0.5 - EPSILON)
    main_ms = code * 0.5 + 1.0
    if not MIN_MAIN_MS <= main_ms <= MAX_MAIN_MS + EPSILON:
        raise Inexpressible(
            f"{top:g} Hz needs a main interval of {1000 / top:g} ms, outside 8–1025 ms"
        )
    base_hz = 1000.0 / main_ms
    if not _close(base_hz, top):
        raise Inexpressible(f"{top:g} Hz is more than 5 % from the 0.5 ms main-interval grid")
    low = {ch: f for ch, f in frequencies.items() if not _close(base_hz, f)}
    if not low:
        return ListTiming(code)
    for factor in range(1, 8):
        if all(_close(base_hz / (factor + 1), f) for f in low.values()):
            return ListTiming(code, factor, mask(list(low)))
    listing = ", ".join(f"channel {ch}: {f:g} Hz" for ch, f in sorted(frequencies.items()))
    raise Inexpressible(
        f"channel list mode cannot run {listing} together: the frequencies must be "
        f"{base_hz:g} Hz or that divided by 2–8, one divisor for all"
    )
