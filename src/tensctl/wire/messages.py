"""Typed messages of the native protocol and their byte layouts (all little-endian).

Units travel as integers: amplitude in µA, frequency in mHz, pulse width in µs, charge in
nC (net charge in pC), impedance in Ω, time in ms. :func:`decode_message` turns a
:class:`~tensctl.wire.frame.Frame` into a message or a :class:`MessageError`; it never
raises and never returns a message built from bytes that do not fit its layout exactly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from tensctl.wire.codes import ErrorCode, MsgType


class Reader:
    """Reads fields off a body; raises :class:`ValueError` on any misfit."""

    def __init__(self, body: bytes) -> None:
        self._body, self._pos = body, 0

    def take(self, fmt: str) -> tuple[int, ...]:
        s = struct.Struct("<" + fmt)
        if self._pos + s.size > len(self._body):
            raise ValueError(f"body too short for {fmt!r} at offset {self._pos}")
        values = s.unpack_from(self._body, self._pos)
        self._pos += s.size
        return values

    def text(self) -> str:
        (n,) = self.take("B")
        if self._pos + n > len(self._body):
            raise ValueError("string runs past the end of the body")
        raw = self._body[self._pos : self._pos + n]
        self._pos += n
        return raw.decode("utf-8")  # UnicodeDecodeError is a ValueError

    def rest(self) -> bytes:
        out = self._body[self._pos :]
        self._pos = len(self._body)
        return out

    def end(self) -> None:
        if self._pos != len(self._body):
            raise ValueError(f"{len(self._body) - self._pos} unexpected trailing bytes")


def pack_text(value: str) -> bytes:
    raw = value.encode("utf-8")[:64]
    return struct.pack("<B", len(raw)) + raw


@dataclass(frozen=True)
class Message:
    TYPE: ClassVar[MsgType]

    def body(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, r: Reader) -> Message:
        return cls()


@dataclass(frozen=True)
class _Fixed(Message):
    """A message whose body is one struct of its fields, in order."""

    FMT: ClassVar[str]

    def body(self) -> bytes:
        return struct.pack("<" + self.FMT, *vars(self).values())

    @classmethod
    def parse(cls, r: Reader) -> Message:
        return cls(*r.take(cls.FMT))


# ---- host → device -----------------------------------------------------------------------


@dataclass(frozen=True)
class Identify(Message):
    TYPE = MsgType.IDENTIFY


@dataclass(frozen=True)
class AltStep:
    frequency_mhz: int
    pulse_width_us: int
    dwell_ms: int


@dataclass(frozen=True)
class Configure(Message):
    TYPE = MsgType.CONFIGURE
    FMT: ClassVar[str] = "BBBIHHHBI"
    channel: int
    waveform: int
    mode: int
    frequency_mhz: int
    pulse_width_us: int
    secondary_amplitude_permille: int = 1000
    secondary_width_permille: int = 1000
    pulses_per_train: int = 1
    train_rate_mhz: int = 0
    steps: tuple[AltStep, ...] = field(default=())

    def body(self) -> bytes:
        fixed = [v for k, v in vars(self).items() if k != "steps"]
        out = struct.pack("<" + self.FMT, *fixed) + struct.pack("<B", len(self.steps))
        for s in self.steps:
            out += struct.pack("<IHI", s.frequency_mhz, s.pulse_width_us, s.dwell_ms)
        return out

    @classmethod
    def parse(cls, r: Reader) -> Message:
        fixed = r.take(cls.FMT)
        (count,) = r.take("B")
        if count > 16:
            raise ValueError(f"{count} alternation steps, at most 16")
        steps = tuple(AltStep(*r.take("IHI")) for _ in range(count))
        ch, wave, mode, freq, width, amp_ratio, width_ratio, ppt, train = fixed
        return cls(ch, wave, mode, freq, width, amp_ratio, width_ratio, ppt, train, steps)


@dataclass(frozen=True)
class SetAmplitude(_Fixed):
    TYPE = MsgType.SET_AMPLITUDE
    FMT = "BI"
    channel: int
    amplitude_ua: int


@dataclass(frozen=True)
class Start(_Fixed):
    TYPE = MsgType.START
    FMT = "B"
    channel_mask: int


@dataclass(frozen=True)
class Stop(_Fixed):
    TYPE = MsgType.STOP
    FMT = "B"
    channel_mask: int


@dataclass(frozen=True)
class EmergencyStop(Message):
    TYPE = MsgType.EMERGENCY_STOP


@dataclass(frozen=True)
class Heartbeat(Message):
    TYPE = MsgType.HEARTBEAT


@dataclass(frozen=True)
class MeasureImpedance(_Fixed):
    TYPE = MsgType.MEASURE_IMPEDANCE
    FMT = "B"
    channel: int


@dataclass(frozen=True)
class ResetFault(_Fixed):
    TYPE = MsgType.RESET_FAULT
    FMT = "B"
    channel_mask: int


# ---- device → host -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ack(Message):
    """Accepts request ``req_seq``; ``payload`` is the reply body for that request type."""

    TYPE = MsgType.ACK
    req_seq: int
    req_type: int
    payload: bytes = b""

    def body(self) -> bytes:
        return struct.pack("<HB", self.req_seq, self.req_type) + self.payload

    @classmethod
    def parse(cls, r: Reader) -> Message:
        seq, req_type = r.take("HB")
        return cls(seq, req_type, r.rest())


@dataclass(frozen=True)
class Nack(_Fixed):
    TYPE = MsgType.NACK
    FMT = "HBB"
    req_seq: int
    req_type: int
    error: int

    @property
    def error_code(self) -> ErrorCode | None:
        try:
            return ErrorCode(self.error)
        except ValueError:
            return None


@dataclass(frozen=True)
class Telemetry(_Fixed):
    """One channel's state, pushed by the device (every 100 ms and on change)."""

    TYPE = MsgType.TELEMETRY
    FMT = "IBBIIHIIIQiH"
    time_ms: int
    channel: int
    state: int
    commanded_ua: int
    delivered_peak_ua: int
    pulse_width_us: int
    frequency_mhz: int
    impedance_ohm: int
    pulses: int
    delivered_charge_nc: int
    net_charge_pc: int
    fault_flags: int


@dataclass(frozen=True)
class Event(_Fixed):
    TYPE = MsgType.EVENT
    FMT = "IBBHi"
    time_ms: int
    channel: int  # 0xFF: the whole device
    code: int
    fault_flags: int
    detail: int = 0
