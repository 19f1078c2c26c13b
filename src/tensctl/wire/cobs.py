"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).

Encoded data holds no 0x00 byte, so 0x00 delimits frames on the wire. Pure functions.
"""

from __future__ import annotations


class CobsError(ValueError):
    """The bytes are not a valid COBS encoding."""


def encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    n = len(data)
    if n == 0:
        raise CobsError("empty COBS block")
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError(f"zero byte inside a COBS block at offset {i}")
        end = i + code
        if end > n:
            raise CobsError(f"COBS code {code} at offset {i} runs past the end")
        block = data[i + 1 : end]
        if 0 in block:
            raise CobsError(f"zero byte inside a COBS block near offset {i}")
        out += block
        i = end
        if code < 255 and i < n:
            out.append(0)
    return bytes(out)
