"""Typed ScienceMode2 messages: the base, connection and mode commands (stimulation commands
in :mod:`~tensctl.wire.sciencemode2.stimulation`).

Field layouts follow ScienceMode2 Description and Protocol v1.24, section 4: one byte per
field, multi-byte fields MSB first (the field tables list "MSB" before "LSB"; section 2.2's
remark about little endian does not match them, nor the public clients). Results and
errors are signed bytes. ``decode`` (:mod:`~tensctl.wire.sciencemode2.decoding`) never
raises: a packet becomes a message, an :class:`OtherCommand` (a command number not modelled
here, e.g. MOTOmed), or a :class:`DecodeError` (a modelled command with too many or too few
data bytes). Decoding
keeps out-of-range values (the device answers them with a parameter error, see
:meth:`Message.problems`); :meth:`Message.encode` refuses them with :class:`RangeError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tensctl.wire.sciencemode2.codes import (
    PROTOCOL_VERSION,
    Command,
    RangeError,
    Result,
    StimulationMode,
)
from tensctl.wire.sciencemode2.codes import check as _check
from tensctl.wire.sciencemode2.codes import signed as _signed
from tensctl.wire.sciencemode2.framing import build_frame


@dataclass(frozen=True)
class Message:
    COMMAND: ClassVar[Command]
    SIZE: ClassVar[int | None] = 0
    """Bytes of command data (None: checked by ``parse``)."""
    packet_number: int

    def data(self) -> bytes:
        return b""

    def problems(self) -> list[str]:
        """Fields outside the document's ranges (empty: the message is valid)."""
        out: list[str] = []
        _check(out, "packet number", self.packet_number, 0, 255)
        return out

    def encode(self) -> bytes:
        problems = self.problems()
        if problems:
            raise RangeError(type(self).__name__, problems)
        return build_frame(self.packet_number, self.COMMAND, self.data())

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number)


@dataclass(frozen=True)
class _Result(Message):
    """A response whose only field is a signed result."""

    SIZE = 1
    result: int = Result.OK

    def data(self) -> bytes:
        return bytes((self.result & 0xFF,))

    def problems(self) -> list[str]:
        out = super().problems()
        _check(out, "result", self.result, -128, 127)
        return out

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number, _signed(data[0]))


@dataclass(frozen=True)
class Init(Message):
    COMMAND = Command.INIT
    SIZE = 1
    version: int = PROTOCOL_VERSION

    def data(self) -> bytes:
        return bytes((self.version & 0xFF,))

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number, data[0])


@dataclass(frozen=True)
class InitAck(_Result):
    COMMAND = Command.INIT_ACK


@dataclass(frozen=True)
class UnknownCommand(Message):
    COMMAND = Command.UNKNOWN_COMMAND
    SIZE = 1
    command: int = 0

    def data(self) -> bytes:
        return bytes((self.command & 0xFF,))

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        return cls(packet_number, data[0])


@dataclass(frozen=True)
class Watchdog(Message):
    COMMAND = Command.WATCHDOG


@dataclass(frozen=True)
class GetStimulationMode(Message):
    COMMAND = Command.GET_STIMULATION_MODE


@dataclass(frozen=True)
class GetStimulationModeAck(Message):
    """Result 0 carries the mode; any other result ends the packet (section 4.2)."""

    COMMAND = Command.GET_STIMULATION_MODE_ACK
    SIZE = None
    result: int = Result.OK
    mode: int | None = StimulationMode.START

    def data(self) -> bytes:
        if self.result != Result.OK:
            return bytes((self.result & 0xFF,))
        return bytes((0, (self.mode or 0) & 0xFF))

    def problems(self) -> list[str]:
        out = super().problems()
        if self.result == Result.OK:
            _check(out, "stimulation mode", -1 if self.mode is None else self.mode, 0, 2)
        return out

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        result = _signed(data[0]) if data else 0
        if len(data) != (2 if result == Result.OK else 1):
            raise ValueError(f"{len(data)} data bytes for result {result}")
        return cls(packet_number, result, data[1] if result == Result.OK else None)


@dataclass(frozen=True)
class SimIdentify(Message):
    """Not ScienceMode2: the tensctl simulator's identity query (command 0xE0). ScienceMode2
    has no identification command, so the simulator answers this one with
    :class:`SimIdentifyAck`; a RehaStim2 answers it with :class:`UnknownCommand` as it answers
    every command number it does not know (section 3), and nothing else happens."""

    COMMAND = Command.SIM_IDENTIFY


@dataclass(frozen=True)
class SimIdentifyAck(Message):
    """Not ScienceMode2: the simulator's answer to :class:`SimIdentify`, result 0 and then
    its serial number in ASCII (``SIM-…``, at most 32 bytes)."""

    COMMAND = Command.SIM_IDENTIFY_ACK
    SIZE = None
    serial: str = ""

    def data(self) -> bytes:
        return b"\x00" + self.serial.encode("ascii", "replace")[:SIM_SERIAL_BYTES]

    @classmethod
    def parse(cls, packet_number: int, data: bytes) -> Message:
        if not data or data[0] != Result.OK or len(data) > 1 + SIM_SERIAL_BYTES:
            raise ValueError(f"{len(data)} data bytes, result {data[:1].hex() or 'none'}")
        return cls(packet_number, data[1:].decode("ascii"))


SIM_SERIAL_BYTES = 32


@dataclass(frozen=True)
class OtherCommand:
    """A valid packet with a command number not modelled here (MOTOmed, or unknown)."""

    packet_number: int
    command: int
    data: bytes


@dataclass(frozen=True)
class DecodeError:
    """A modelled command with too many or too few data bytes."""

    packet_number: int
    command: int
    detail: str
