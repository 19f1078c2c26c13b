"""ScienceMode4 framing (IFU pp. 16-17, "Packet Structure"): byte stuffing, CRC-16, length.

```
F0 | 81 LENhi^55 | 81 LENlo^55 | 81 CRChi^55 | 81 CRClo^55 | stuffed(prefix, data) | 0F
prefix = uint16 big-endian (packet_number << 10 | command)
```
LEN is the whole frame, start and stop bytes included (12-1200). The CRC is CRC-16/XMODEM
("CRC-CCITT", poly 0x1021, init 0, no reflection) over the *stuffed* payload. In the payload
F0, 0F and 81 are sent as ``81, b ^ 55``; the four header bytes are always sent that way.

The trap: an escaped header byte can itself be F0 or 0F (a length or CRC byte of A5 or 5A),
so the :class:`Deframer` takes the byte after 81 literally wherever it occurs, and uses LEN
to know where the frame ends. It never raises: every chunk of input ends as a :class:`Packet`
or a typed :class:`FrameError`, so a corrupted frame can never become a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

START, STOP, STUFF, KEY = 0xF0, 0x0F, 0x81, 0x55
MIN_LENGTH, MAX_LENGTH = 12, 1200
HEADER_BYTES = 8  # four stuffed bytes: LENhi, LENlo, CRChi, CRClo
MAX_NUMBER, MAX_COMMAND = 63, 1023
CRC_NAME = "CRC-16/XMODEM"
CHECK_VALUE = 0x31C3  # crc16_xmodem(b"123456789")


def _table() -> list[int]:
    out = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        out.append(crc & 0xFFFF)
    return out


_TABLE = _table()


def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFF00) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def stuff(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (START, STOP, STUFF):
            out += bytes((STUFF, b ^ KEY))
        else:
            out.append(b)
    return bytes(out)


def unstuff(data: bytes) -> bytes:
    """Inverse of :func:`stuff`; the byte after 81 is taken literally. Raises
    :class:`ValueError` on a trailing 81."""
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == STUFF:
            if i + 1 >= len(data):
                raise ValueError("stuffing byte at the end of the payload")
            out.append(data[i + 1] ^ KEY)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


@dataclass(frozen=True)
class Packet:
    """One valid frame: packet number (0-63), command (0-1023) and its unstuffed data."""

    number: int
    command: int
    data: bytes = b""


class FrameErrorKind(StrEnum):
    junk = "junk"  # bytes outside any frame
    header = "header"  # a header byte was not sent escaped
    length = "length"  # LEN out of 12-1200, or the stop byte not where LEN says
    truncated = "truncated"  # a new start byte inside a frame
    crc = "crc"  # checksum mismatch
    short = "short"  # no room for the command prefix


@dataclass(frozen=True)
class FrameError:
    kind: FrameErrorKind
    detail: str


def encode_frame(number: int, command: int, data: bytes = b"") -> bytes:
    """The bytes on the wire for one packet."""
    if not 0 <= number <= MAX_NUMBER or not 0 <= command <= MAX_COMMAND:
        raise ValueError(f"packet number {number} or command {command} out of range")
    payload = stuff(((number << 10) | command).to_bytes(2, "big") + data)
    length = len(payload) + 10
    if length > MAX_LENGTH:
        raise ValueError(f"frame of {length} bytes exceeds {MAX_LENGTH}")
    crc = crc16_xmodem(payload)
    header = bytearray()
    for value in (length >> 8, length & 0xFF, crc >> 8, crc & 0xFF):
        header += bytes((STUFF, value ^ KEY))
    return bytes((START,)) + bytes(header) + payload + bytes((STOP,))


def decode_body(header: bytes, body: bytes) -> Packet | FrameError:
    """A complete frame's 8 header bytes and its stuffed payload (between header and stop)."""
    crc = ((header[5] ^ KEY) << 8) | (header[7] ^ KEY)
    computed = crc16_xmodem(body)
    if crc != computed:
        return FrameError(FrameErrorKind.crc, f"got {crc:04x}, computed {computed:04x}")
    try:
        payload = unstuff(body)
    except ValueError as exc:  # unreachable after the length check; kept typed anyway
        return FrameError(FrameErrorKind.length, str(exc))
    if len(payload) < 2:
        return FrameError(FrameErrorKind.short, f"{len(payload)} payload bytes")
    prefix = int.from_bytes(payload[:2], "big")
    return Packet(prefix >> 10, prefix & 0x3FF, payload[2:])


class _State(Enum):
    IDLE = 0  # between frames
    HEADER = 1
    BODY = 2
    DISCARD = 3  # after an error: skip to the next start byte


class Deframer:
    """Accumulates bytes; returns complete packets (or frame errors) as they arrive."""

    def __init__(self) -> None:
        self._state = _State.IDLE
        self._header = bytearray()
        self._body = bytearray()
        self._need = 0  # payload bytes LEN announces
        self._escaped = False
        self._junk = False

    def _start(self) -> None:
        self._state, self._escaped = _State.HEADER, False
        self._header.clear()
        self._body.clear()

    def feed(self, data: bytes) -> list[Packet | FrameError]:
        out: list[Packet | FrameError] = []
        for b in data:
            item = self._byte(b)
            if item is not None:
                out.append(item)
        return out

    def _fail(self, kind: FrameErrorKind, detail: str, b: int) -> FrameError:
        if b == START:
            self._start()
        else:
            self._state = _State.DISCARD
        return FrameError(kind, detail)

    def _byte(self, b: int) -> Packet | FrameError | None:
        state = self._state
        if state in (_State.IDLE, _State.DISCARD):
            if b == START:
                self._start()
                return None
            if state is _State.IDLE and not self._junk:
                self._junk = True
                return FrameError(FrameErrorKind.junk, f"byte {b:02x} outside a frame")
            return None
        if state is _State.HEADER:
            return self._header_byte(b)
        return self._body_byte(b)

    def _header_byte(self, b: int) -> FrameError | None:
        at = len(self._header)
        if at % 2 == 0 and b != STUFF:
            return self._fail(FrameErrorKind.header, f"header byte {at} is {b:02x}, not 81", b)
        self._header.append(b)  # the byte after 81 is literal, even F0 or 0F
        if len(self._header) < HEADER_BYTES:
            return None
        length = ((self._header[1] ^ KEY) << 8) | (self._header[3] ^ KEY)
        if not MIN_LENGTH <= length <= MAX_LENGTH:
            self._state = _State.DISCARD
            return FrameError(FrameErrorKind.length, f"LEN {length} outside 12-1200")
        self._need = length - 1 - HEADER_BYTES - 1
        self._state = _State.BODY
        return None

    def _body_byte(self, b: int) -> Packet | FrameError | None:
        if self._escaped:
            self._escaped = False
        elif b == START:
            return self._fail(FrameErrorKind.truncated, "start byte inside a frame", b)
        elif b == STOP:
            self._state, self._junk = _State.IDLE, False
            if len(self._body) != self._need:
                got = len(self._body) + 10
                return FrameError(
                    FrameErrorKind.length, f"frame of {got} bytes, LEN {self._need + 10}"
                )
            return decode_body(bytes(self._header), bytes(self._body))
        elif b == STUFF:
            self._escaped = True
        self._body.append(b)
        if len(self._body) > self._need:
            self._state = _State.DISCARD
            return FrameError(FrameErrorKind.length, f"no stop byte after LEN {self._need + 10}")
        return None
