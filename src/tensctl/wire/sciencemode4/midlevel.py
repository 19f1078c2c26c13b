"""Mid-level ScienceMode4 commands (IFU Tables 15 and 19-26): init, update, stop, current
data. Where the IFU lists fields without saying which bits of a byte hold them, the layout is
the one the science-mode-4 client (written against the device) builds and parses; each such
place says so."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tensctl.wire.sciencemode4.base import Message, _exact, _ResultOnly
from tensctl.wire.sciencemode4.codes import Command, Result

CHANNELS = 8
MAX_POINTS = 16
MAX_DURATION_US = 4095
MAX_CURRENT_MA = 150.0
CURRENT_OFFSET = 300  # current code = 2·I[mA] + 300, 0..600 (IFU Table 15)
MAX_PERIOD_CODE = 32767


@dataclass(frozen=True)
class MlInit(Message):
    """IFU Table 20: 0 = continue on error (the channel with the error stops), 1 = stop all."""

    COMMAND = Command.ML_INIT
    stop_on_all_errors: bool = False

    def data(self) -> bytes:
        return bytes((int(self.stop_on_all_errors),))

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 1)
        if data[0] > 1:
            raise ValueError(f"error mode {data[0]} (0 or 1)")
        return cls(data[0] == 1)


@dataclass(frozen=True)
class MlInitAck(_ResultOnly):
    COMMAND = Command.ML_INIT_ACK


@dataclass(frozen=True)
class Point:
    """One point of a pulse shape (IFU Table 15): uint32 big-endian, duration in the top 12
    bits, current code (2·I + 300) in the next 10, 10 reserved bits (0)."""

    duration_us: int
    current_ma: float

    def pack(self) -> bytes:
        code = 2 * self.current_ma + CURRENT_OFFSET
        if not 0 <= self.duration_us <= MAX_DURATION_US or code != int(code):
            raise ValueError(f"{self} is not a point (0-4095 µs, 0.5 mA steps)")
        if not 0 <= code <= 2 * CURRENT_OFFSET:
            raise ValueError(f"{self.current_ma} mA outside ±150 mA")
        return ((self.duration_us << 20) | (int(code) << 10)).to_bytes(4, "big")

    @classmethod
    def unpack(cls, raw: bytes) -> Point:
        value = int.from_bytes(raw, "big")
        code = (value >> 10) & 0x3FF
        if code > 2 * CURRENT_OFFSET:
            raise ValueError(f"current code {code} outside 0-600")
        return cls(value >> 20, (code - CURRENT_OFFSET) / 2)

    @property
    def charge_nc(self) -> float:
        return self.current_ma * self.duration_us / 1000


@dataclass(frozen=True)
class MlChannel:
    """One active channel in Ml_update (IFU Table 22). Byte 0: number of points − 1 in the
    high nibble, ramp (0-15) in the low nibble; then uint16 big-endian: period code (15 bits,
    1-32767) above a 1-bit scale flag (0: code = 2·period_ms, 1: code = 4·period_ms); then the
    points. Nibble order and flag position as the science-mode-4 client packs them."""

    points: tuple[Point, ...]
    period_ms: float
    ramp: int = 0
    quarter_ms: bool = False
    """Send the period in 0.25 ms units (scale flag 1) instead of 0.5 ms units."""

    @property
    def period_code(self) -> float:
        return self.period_ms * (4 if self.quarter_ms else 2)

    def pack(self) -> bytes:
        code = self.period_code
        if not 1 <= len(self.points) <= MAX_POINTS or not 0 <= self.ramp <= 15:
            raise ValueError(f"{len(self.points)} points or ramp {self.ramp} out of range")
        if code != int(code) or not 1 <= code <= MAX_PERIOD_CODE:
            raise ValueError(f"period {self.period_ms} ms cannot be sent")
        head = bytes(((len(self.points) - 1) << 4 | self.ramp,))
        period = ((int(code) << 1) | int(self.quarter_ms)).to_bytes(2, "big")
        return head + period + b"".join(p.pack() for p in self.points)

    @property
    def frequency_hz(self) -> float:
        return 1000.0 / self.period_ms if self.period_ms > 0 else math.inf


@dataclass(frozen=True)
class MlUpdate(Message):
    """Channel mask (bit 0 = channel 1, as the client sets it), then one block per active
    channel in channel order. A channel whose entry is ``None`` is not active."""

    COMMAND = Command.ML_UPDATE
    channels: tuple[MlChannel | None, ...] = field(default=(None,) * CHANNELS)

    def __post_init__(self) -> None:
        if len(self.channels) != CHANNELS:
            raise ValueError(f"{len(self.channels)} channel entries, expected {CHANNELS}")

    def data(self) -> bytes:
        mask = sum(1 << i for i, c in enumerate(self.channels) if c is not None)
        return bytes((mask,)) + b"".join(c.pack() for c in self.channels if c is not None)

    @classmethod
    def parse(cls, data: bytes) -> Message:
        if not data:
            raise ValueError("no channel mask")
        mask, pos = data[0], 1
        channels: list[MlChannel | None] = [None] * CHANNELS
        for i in range(CHANNELS):
            if not mask & (1 << i):
                continue
            if pos + 3 > len(data):
                raise ValueError(f"channel {i + 1}: block cut short")
            head, value = data[pos], int.from_bytes(data[pos + 1 : pos + 3], "big")
            count, pos = (head >> 4) + 1, pos + 3
            if pos + 4 * count > len(data):
                raise ValueError(f"channel {i + 1}: {count} points cut short")
            points = tuple(Point.unpack(data[pos + 4 * k : pos + 4 * k + 4]) for k in range(count))
            pos += 4 * count
            code, quarter = value >> 1, bool(value & 1)
            if code == 0:
                raise ValueError(f"channel {i + 1}: period code 0")
            channels[i] = MlChannel(points, code / (4 if quarter else 2), head & 0xF, quarter)
        if pos != len(data):
            raise ValueError(f"{len(data) - pos} unexpected trailing bytes")
        return cls(tuple(channels))


@dataclass(frozen=True)
class MlUpdateAck(_ResultOnly):
    COMMAND = Command.ML_UPDATE_ACK


@dataclass(frozen=True)
class MlStop(Message):
    COMMAND = Command.ML_STOP


@dataclass(frozen=True)
class MlStopAck(_ResultOnly):
    COMMAND = Command.ML_STOP_ACK


ALL_ERRORS = 4  # Ml_get_current_data selection: "returns all errors from all channels"


@dataclass(frozen=True)
class MlGetCurrentData(Message):
    COMMAND = Command.ML_GET_CURRENT_DATA
    selection: int = ALL_ERRORS

    def data(self) -> bytes:
        return bytes((self.selection,))

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 1)
        return cls(data[0])


@dataclass(frozen=True)
class MlGetCurrentDataAck(Message):
    """IFU Table 26: result, selection (4), one bit per active channel (bit 0 = channel 1),
    then 4 bytes of 4-bit errors (:class:`ChannelError`) — channel 1 in the low nibble of the
    first byte, channel 2 in its high nibble, and so on, as the client reads them."""

    COMMAND = Command.ML_GET_CURRENT_DATA_ACK
    result: int = Result.OK
    selection: int = ALL_ERRORS
    active: tuple[bool, ...] = (False,) * CHANNELS
    errors: tuple[int, ...] = (0,) * CHANNELS

    def data(self) -> bytes:
        bits = sum(1 << i for i, on in enumerate(self.active) if on)
        nibbles = bytes(
            (self.errors[2 * k] & 0xF) | (self.errors[2 * k + 1] & 0xF) << 4 for k in range(4)
        )
        return bytes((self.result, self.selection, bits)) + nibbles

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 7)
        active = tuple(bool(data[2] & (1 << i)) for i in range(CHANNELS))
        errors = tuple((data[3 + i // 2] >> (4 * (i % 2))) & 0xF for i in range(CHANNELS))
        return cls(data[0], data[1], active, errors)
