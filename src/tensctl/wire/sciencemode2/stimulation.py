"""The stimulation commands of ScienceMode2 (section 4.3): channel list mode, single pulse,
stimulation error. Layouts MSB first; see :mod:`~tensctl.wire.sciencemode2.messages`."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from tensctl.wire.sciencemode2.codes import (
    CHANNELS,
    MAX_CURRENT_MA,
    MAX_MAIN_INTERVAL_CODE,
    MAX_PULSE_WIDTH_US,
    MIN_PULSE_WIDTH_US,
    Command,
    StimulationErrorCode,
)
from tensctl.wire.sciencemode2.codes import check as _check
from tensctl.wire.sciencemode2.codes import signed as _signed
from tensctl.wire.sciencemode2.messages import Message, _Result


@dataclass(frozen=True)
class InitChannelListMode(Message):
    """Intervals travel coded: inter pulse = code·0.5 + 1.5 ms, main = code·0.5 + 1 ms
    (code 0: one-shot channel list mode). Channel masks: bit 0 is channel 1."""

    COMMAND = Command.INIT_CHANNEL_LIST_MODE
    SIZE = 7
    FMT: ClassVar[str] = ">BBBBHB"
    low_frequency_factor: int = 0
    active_channels: int = 0
    low_frequency_channels: int = 0
    inter_pulse_code: int = 13
    main_interval_code: int = 0
    execution: int = 0

    @property
    def inter_pulse_interval_ms(self) -> float:
        return self.inter_pulse_code * 0.5 + 1.5

    @property
    def main_interval_ms(self) -> float | None:
        """None: one-shot channel list mode."""
        return self.main_interval_code * 0.5 + 1.0 if self.main_interval_code else None

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(n for n in range(1, CHANNELS + 1) if self.active_channels >> (n - 1) & 1)

    def data(self) -> bytes:
        return struct.pack(
            self.FMT,
            self.low_frequency_factor & 0xFF,
            self.active_channels & 0xFF,
            self.low_frequency_channels & 0xFF,
            self.inter_pulse_code & 0xFF,
            self.main_interval_code & 0xFFFF,
            self.execution & 0xFF,
        )

    def problems(self) -> list[str]:
        out = super().problems()
        _check(out, "low frequency factor", self.low_frequency_factor, 0, 7)
        _check(out, "active channels", self.active_channels, 0, 255)
        _check(out, "low frequency channels", self.low_frequency_channels, 0, 255)
        _check(out, "inter pulse interval code", self.inter_pulse_code, 0, 255)
        _check(out, "main interval code", self.main_interval_code, 0, MAX_MAIN_INTERVAL_CODE)
        _check(out, "channel execution", self.execution, 0, 1)
        return out

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number, *struct.unpack(cls.FMT, data))


@dataclass(frozen=True)
class InitChannelListModeAck(_Result):
    COMMAND = Command.INIT_CHANNEL_LIST_MODE_ACK


@dataclass(frozen=True)
class ChannelEntry:
    """One active channel's pulses in StartChannelListMode: 4 bytes, mode / pulse width
    MSB / pulse width LSB / current."""

    mode: int
    pulse_width_us: int
    current_ma: int

    def problems(self, where: str) -> list[str]:
        out: list[str] = []
        _check(out, f"{where} mode", self.mode, 0, 2)
        _check(out, f"{where} pulse width", self.pulse_width_us, 0, MAX_PULSE_WIDTH_US)
        _check(out, f"{where} current", self.current_ma, 0, MAX_CURRENT_MA)
        return out


@dataclass(frozen=True)
class StartChannelListMode(Message):
    """Start or update: one entry per active channel, in increasing channel order."""

    COMMAND = Command.START_CHANNEL_LIST_MODE
    SIZE = None
    entries: tuple[ChannelEntry, ...] = ()

    def data(self) -> bytes:
        return b"".join(
            struct.pack(">BHB", e.mode & 0xFF, e.pulse_width_us & 0xFFFF, e.current_ma & 0xFF)
            for e in self.entries
        )

    def problems(self) -> list[str]:
        out = super().problems()
        _check(out, "channel entries", len(self.entries), 0, CHANNELS)
        for i, entry in enumerate(self.entries):
            out += entry.problems(f"entry {i + 1}")
        return out

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        if len(data) % 4 or len(data) > 4 * CHANNELS:
            raise ValueError(f"{len(data)} data bytes: not 4 per channel")
        entries = [
            ChannelEntry(*struct.unpack_from(">BHB", data, i)) for i in range(0, len(data), 4)
        ]
        return cls(packet_number, tuple(entries))


@dataclass(frozen=True)
class StartChannelListModeAck(_Result):
    COMMAND = Command.START_CHANNEL_LIST_MODE_ACK


@dataclass(frozen=True)
class StopChannelListMode(Message):
    COMMAND = Command.STOP_CHANNEL_LIST_MODE


@dataclass(frozen=True)
class StopChannelListModeAck(_Result):
    COMMAND = Command.STOP_CHANNEL_LIST_MODE_ACK


@dataclass(frozen=True)
class SinglePulse(Message):
    """One pulse now; ``channel`` is 0–7 on the wire (channel 1 is 0)."""

    COMMAND = Command.SINGLE_PULSE
    SIZE = 4
    channel: int = 0
    pulse_width_us: int = MIN_PULSE_WIDTH_US
    current_ma: int = 0

    def data(self) -> bytes:
        return struct.pack(
            ">BHB", self.channel & 0xFF, self.pulse_width_us & 0xFFFF, self.current_ma & 0xFF
        )

    def problems(self) -> list[str]:
        out = super().problems()
        _check(out, "channel", self.channel, 0, CHANNELS - 1)
        _check(out, "pulse width", self.pulse_width_us, 0, MAX_PULSE_WIDTH_US)
        _check(out, "current", self.current_ma, 0, MAX_CURRENT_MA)
        return out

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number, *struct.unpack(">BHB", data))


@dataclass(frozen=True)
class SinglePulseAck(_Result):
    COMMAND = Command.SINGLE_PULSE_ACK


@dataclass(frozen=True)
class StimulationError(Message):
    """Pushed by the device: stimulation stopped (emergency switch, electrode, module)."""

    COMMAND = Command.STIMULATION_ERROR
    SIZE = 1
    error: int = StimulationErrorCode.ELECTRODE

    def data(self) -> bytes:
        return bytes((self.error & 0xFF,))

    def problems(self) -> list[str]:
        out = super().problems()
        _check(out, "error", self.error, -3, -1)
        return out

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number, _signed(data[0]))
