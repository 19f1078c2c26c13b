"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).

Encoded data holds no 0x00 byte, so 0x00 delimits frames on the wire. Pure functions.
"""

from __future__ import annotations


class CobsError(ValueError):
    """The bytes are not a valid COBS encoding."""


def encode(data: bytes) -> bytes:
    out = bytearray()
    for part in data.split(b"\0"):  # each zero becomes the length code of what precedes it
        while len(part) >= 254:  # a full block: code 255, no implied zero after it
            out.append(255)
            out += part[:254]
            part = part[254:]
        out.append(len(part) + 1)
        out += part
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
