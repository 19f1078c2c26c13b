"""Frames of the native tensctl serial protocol: header, body, CRC, COBS, 0x00 delimiter.

```
COBS( version:u8 | session:u32le | seq:u16le | type:u8 | body | crc32:u32le ) 0x00
```
``session`` is the host session the device chose at IDENTIFY (0: none yet), so no frame of
one session is taken for another. The CRC (CRC-32/ISO-HDLC) covers everything before it.
:class:`Deframer` splits a byte stream into frames and never raises: each complete chunk
yields either a decoded :class:`Frame` or a typed :class:`FrameError`, so a corrupted frame
can never become a command.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

from tensctl.wire import cobs
from tensctl.wire.crc import crc32

PROTOCOL_VERSION = 2
DELIMITER = b"\x00"
HEADER = struct.Struct("<BIHB")
CRC = struct.Struct("<I")
MAX_BODY = 240
MAX_ENCODED = HEADER.size + MAX_BODY + CRC.size + 2  # COBS adds at most 2 bytes here


@dataclass(frozen=True)
class Frame:
    seq: int
    type: int
    body: bytes
    session: int = 0
    """The host session this frame belongs to (chosen by the device at IDENTIFY)."""
    version: int = PROTOCOL_VERSION


class FrameErrorKind(StrEnum):
    cobs = "cobs"  # not a valid COBS block
    short = "short"  # shorter than header + CRC
    crc = "crc"  # CRC mismatch
    version = "version"  # unknown protocol version
    oversize = "oversize"  # longer than any valid frame


@dataclass(frozen=True)
class FrameError:
    kind: FrameErrorKind
    detail: str


def encode_frame(frame: Frame) -> bytes:
    if len(frame.body) > MAX_BODY:
        raise ValueError(f"body of {len(frame.body)} bytes exceeds {MAX_BODY}")
    header = HEADER.pack(frame.version, frame.session & 0xFFFFFFFF, frame.seq & 0xFFFF, frame.type)
    raw = header + frame.body
    return cobs.encode(raw + CRC.pack(crc32(raw))) + DELIMITER


def decode_frame(chunk: bytes) -> Frame | FrameError:
    """Decode one delimiter-free chunk."""
    if len(chunk) > MAX_ENCODED:
        return FrameError(FrameErrorKind.oversize, f"{len(chunk)} bytes")
    try:
        raw = cobs.decode(chunk)
    except cobs.CobsError as exc:
        return FrameError(FrameErrorKind.cobs, str(exc))
    if len(raw) < 1 + CRC.size:
        return FrameError(FrameErrorKind.short, f"{len(raw)} bytes")
    content, (crc,) = raw[: -CRC.size], CRC.unpack(raw[-CRC.size :])
    if crc32(content) != crc:
        return FrameError(FrameErrorKind.crc, f"got {crc:08x}, computed {crc32(content):08x}")
    version = content[0]  # first, so a frame of another version is named as such
    if version != PROTOCOL_VERSION:
        return FrameError(FrameErrorKind.version, f"version {version}")
    if len(content) < HEADER.size:
        return FrameError(FrameErrorKind.short, f"{len(raw)} bytes")
    _, session, seq, msg_type = HEADER.unpack(content[: HEADER.size])
    return Frame(seq, msg_type, content[HEADER.size :], session, version)


class Deframer:
    """Accumulates bytes; returns complete frames (or frame errors) as they arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        self._buffer += data
        while True:
            end = self._buffer.find(0)
            if end < 0:
                if len(self._buffer) > MAX_ENCODED:
                    # runaway garbage: drop it and report once until the next delimiter
                    if not self._discarding:
                        out.append(FrameError(FrameErrorKind.oversize, "no delimiter"))
                    self._discarding = True
                    self._buffer.clear()
                return out
            chunk = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False
                continue
            if chunk:
                out.append(decode_frame(chunk))
