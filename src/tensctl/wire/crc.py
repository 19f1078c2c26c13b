"""CRC-32/ISO-HDLC (the zlib/Ethernet CRC): poly 0x04C11DB7 reflected, init and xorout
0xFFFFFFFF; check value for b"123456789" is 0xCBF43926."""

from __future__ import annotations

import zlib

CRC_NAME = "CRC-32/ISO-HDLC"
CHECK_VALUE = 0xCBF43926


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF
