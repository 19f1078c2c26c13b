"""ScienceMode2 framing (RehaStim2): CRC-8, byte stuffing, frames and a streaming deframer.

```
F0 | 81 CRC^55 | 81 LEN^55 | stuffed(packet number, command, data) | 0F
```
Inside the payload the start (F0), stop (0F) and stuffing (81) bytes go out as
``81, b ^ 55``. The checksum and the length are always sent stuffed, so they are two bytes
each; both are computed over the *stuffed* payload (ScienceMode2 Description and Protocol
v1.24, section 2.2). The CRC is CRC-8 with polynomial 0x07, init 0, no reflection, no final
xor (CRC-8/SMBUS, check value 0xF4).

The escaped-checksum trap: a checksum of 0xA5 or 0x5A goes out as ``81 F0`` or ``81 0F``.
:class:`Deframer` therefore takes the byte after each header ``81`` literally. It never
raises: every chunk of input ends up as a :class:`Packet` or a typed :class:`FrameError`,
and a frame that fails its length or checksum never becomes a packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

START, STOP, STUFF, STUFF_KEY = 0xF0, 0x0F, 0x81, 0x55
SPECIAL = frozenset({START, STOP, STUFF})
MAX_STUFFED = 255  # the length field is one byte
MAX_DATA = 60  # command data is "< 61 bytes" (Table 5)
CRC_NAME = "CRC-8/SMBUS"
CHECK_VALUE = 0xF4


def _table() -> tuple[int, ...]:
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        out.append(crc)
    return tuple(out)


_CRC_TABLE = _table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: poly 0x07, init 0, no reflection, xorout 0."""
    crc = 0
    for byte in data:
        crc = _CRC_TABLE[crc ^ byte]
    return crc


def stuff(raw: bytes) -> bytes:
    """Escape F0, 0F and 81 as ``81, b ^ 55``."""
    out = bytearray()
    for byte in raw:
        if byte in SPECIAL:
            out += bytes((STUFF, byte ^ STUFF_KEY))
        else:
            out.append(byte)
    return bytes(out)


def unstuff(stuffed: bytes) -> bytes | None:
    """The raw bytes; ``None`` if a stuffing byte has nothing after it."""
    out = bytearray()
    escaped = False
    for byte in stuffed:
        if escaped:
            out.append(byte ^ STUFF_KEY)
            escaped = False
        elif byte == STUFF:
            escaped = True
        else:
            out.append(byte)
    return None if escaped else bytes(out)


@dataclass(frozen=True)
class Packet:
    """One frame's content: packet number, command number and command data (unstuffed)."""

    packet_number: int
    command: int
    data: bytes = b""


def build_frame(packet_number: int, command: int, data: bytes = b"") -> bytes:
    """The bytes on the wire for one packet."""
    if not 0 <= packet_number <= 0xFF or not 0 <= command <= 0xFF:
        raise ValueError(f"packet number {packet_number} / command {command} not a byte")
    if len(data) > MAX_DATA:
        raise ValueError(f"{len(data)} bytes of command data, at most {MAX_DATA}")
    payload = stuff(bytes((packet_number, command)) + data)
    crc, length = crc8(payload), len(payload)
    header = bytes((START, STUFF, crc ^ STUFF_KEY, STUFF, length ^ STUFF_KEY))
    return header + payload + bytes((STOP,))


def encode_packet(packet: Packet) -> bytes:
    return build_frame(packet.packet_number, packet.command, packet.data)


class FrameErrorKind(StrEnum):
    junk = "junk"  # bytes outside any frame
    header = "header"  # the checksum or length was not sent stuffed
    truncated = "truncated"  # a start byte inside a frame: the frame before it is cut short
    oversize = "oversize"  # longer than the length field can describe
    length = "length"  # the length field does not match the payload
    crc = "crc"  # checksum mismatch
    stuffing = "stuffing"  # a stuffing byte with nothing after it
    short = "short"  # no packet number and command


TRANSFER_ERRORS = frozenset({FrameErrorKind.length, FrameErrorKind.crc})
"""Errors the device answers with the command's Ack and the transfer error (section 5.2)."""


@dataclass(frozen=True)
class FrameError:
    kind: FrameErrorKind
    detail: str
    packet_number: int | None = None
    """What the damaged frame's packet number and command *seem* to be (unchecked: for a
    transfer-error reply only, never to act on)."""
    command: int | None = None


class Deframer:
    """Splits a byte stream into packets and frame errors; keeps partial frames."""

    def __init__(self) -> None:
        self._state = "hunt"  # hunt | header | payload | discard
        self._junk = 0
        self._header: list[int] = []
        self._payload = bytearray()

    def feed(self, data: bytes) -> list[Packet | FrameError]:
        out: list[Packet | FrameError] = []
        for byte in data:
            self._byte(byte, out)
        return out

    def _begin(self) -> None:
        self._state, self._header, self._payload = "header", [], bytearray()

    def _byte(self, byte: int, out: list[Packet | FrameError]) -> None:
        state = self._state
        if state in ("hunt", "discard"):
            if byte == START:
                if self._junk:
                    out.append(FrameError(FrameErrorKind.junk, f"{self._junk} bytes"))
                self._junk = 0
                self._begin()
            elif state == "hunt":
                self._junk += 1
        elif state == "header":
            position = len(self._header)
            if position in (1, 3):  # the byte after 81 is data, whatever its value
                self._header.append(byte)
                if position == 3:
                    self._state = "payload"
            elif byte == STUFF:
                self._header.append(byte)
            elif byte == START:
                out.append(FrameError(FrameErrorKind.truncated, "start byte in the header"))
                self._begin()
            else:
                out.append(FrameError(FrameErrorKind.header, f"byte {byte:#04x} at {position}"))
                self._state = "hunt" if byte == STOP else "discard"
        elif byte == START:
            out.append(self._failed(FrameErrorKind.truncated, "start byte in the payload"))
            self._begin()
        elif byte == STOP:
            out.append(self._finish())
            self._state = "hunt"
        elif len(self._payload) >= MAX_STUFFED:
            out.append(self._failed(FrameErrorKind.oversize, f"over {MAX_STUFFED} bytes"))
            self._state = "discard"
        else:
            self._payload.append(byte)

    def _failed(self, kind: FrameErrorKind, detail: str) -> FrameError:
        raw = unstuff(bytes(self._payload)) or b""
        number = raw[0] if len(raw) >= 1 else None
        command = raw[1] if len(raw) >= 2 else None
        return FrameError(kind, detail, number, command)

    def _finish(self) -> Packet | FrameError:
        payload = bytes(self._payload)
        crc, length = self._header[1] ^ STUFF_KEY, self._header[3] ^ STUFF_KEY
        if length != len(payload):
            return self._failed(FrameErrorKind.length, f"says {length}, got {len(payload)}")
        if crc8(payload) != crc:
            return self._failed(
                FrameErrorKind.crc, f"says {crc:#04x}, computed {crc8(payload):#04x}"
            )
        raw = unstuff(payload)
        if raw is None:
            return self._failed(FrameErrorKind.stuffing, "stuffing byte at the end")
        if len(raw) < 2:
            return self._failed(FrameErrorKind.short, f"{len(raw)} bytes")
        return Packet(raw[0], raw[1], raw[2:])
