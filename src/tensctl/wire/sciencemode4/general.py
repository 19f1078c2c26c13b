"""General ScienceMode4 commands (IFU Tables 4-10): device id, stim status, version, errors.
Where the IFU lists fields without their encoding, the layout is the one the science-mode-4
client (written against the device) parses; each such place says so."""

from __future__ import annotations

from dataclasses import dataclass

from tensctl.wire.sciencemode4.base import Message, _exact, _ResultOnly
from tensctl.wire.sciencemode4.codes import Command, Result

DEVICE_ID_BYTES = 10


@dataclass(frozen=True)
class GetDeviceId(Message):
    COMMAND = Command.GET_DEVICE_ID


@dataclass(frozen=True)
class GetDeviceIdAck(Message):
    """Result, then the device id as 10 characters (IFU Table 5; NUL-padded here)."""

    COMMAND = Command.GET_DEVICE_ID_ACK
    result: int
    device_id: str

    def data(self) -> bytes:
        raw = self.device_id.encode("ascii", "replace")[:DEVICE_ID_BYTES]
        return bytes((self.result,)) + raw.ljust(DEVICE_ID_BYTES, b"\0")

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 1 + DEVICE_ID_BYTES)
        text = data[1:].decode("ascii")  # UnicodeDecodeError is a ValueError
        return cls(data[0], text.rstrip("\0 "))


@dataclass(frozen=True)
class GetStimStatus(Message):
    COMMAND = Command.GET_STIM_STATUS


@dataclass(frozen=True)
class GetStimStatusAck(Message):
    """Result, level (:class:`StimStatus`), high voltage (1 off, 6 = 150 V) (IFU Table 7)."""

    COMMAND = Command.GET_STIM_STATUS_ACK
    result: int
    status: int
    high_voltage: int

    def data(self) -> bytes:
        return bytes((self.result, self.status, self.high_voltage))

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 3)
        return cls(data[0], data[1], data[2])


@dataclass(frozen=True)
class GetExtendedVersion(Message):
    COMMAND = Command.GET_EXTENDED_VERSION


@dataclass(frozen=True)
class GetExtendedVersionAck(Message):
    """IFU Table 8: result, firmware major/minor/revision, ScienceMode major/minor/revision,
    a 4-byte firmware hash (big-endian, as the client reads it), hash type, hash valid."""

    COMMAND = Command.GET_EXTENDED_VERSION_ACK
    result: int
    firmware: tuple[int, int, int]
    science_mode: tuple[int, int, int]
    firmware_hash: int = 0
    hash_type: int = 1  # 1 git, 2 elf md5, 3 elf sha256
    hash_valid: bool = False

    def data(self) -> bytes:
        head = bytes((self.result, *self.firmware, *self.science_mode))
        tail = bytes((self.hash_type, int(self.hash_valid)))
        return head + self.firmware_hash.to_bytes(4, "big") + tail

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 13)
        fw, sm = (data[1], data[2], data[3]), (data[4], data[5], data[6])
        return cls(data[0], fw, sm, int.from_bytes(data[7:11], "big"), data[11], data[12] == 1)


@dataclass(frozen=True)
class GeneralError(_ResultOnly):
    COMMAND = Command.GENERAL_ERROR


@dataclass(frozen=True)
class UnknownCommand(_ResultOnly):
    COMMAND = Command.UNKNOWN_COMMAND
    result: int = Result.INVALID_COMMAND
