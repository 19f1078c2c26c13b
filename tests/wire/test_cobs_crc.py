from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensctl.wire import cobs
from tensctl.wire.crc import CHECK_VALUE, crc32

# Published COBS examples (Cheshire & Baker; the Wikipedia table reproduces them).
COBS_VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
]


@pytest.mark.parametrize(("raw", "encoded"), COBS_VECTORS)
def test_cobs_published_vectors(raw: bytes, encoded: bytes) -> None:
    assert cobs.encode(raw) == encoded
    assert cobs.decode(encoded) == raw


@given(st.binary(max_size=600))
def test_cobs_round_trip_has_no_zero(raw: bytes) -> None:
    encoded = cobs.encode(raw)
    assert 0 not in encoded
    assert cobs.decode(encoded) == raw


@pytest.mark.parametrize("bad", [b"", b"\x00", b"\x05\x11", b"\x02\x00", b"\x03\x11\x00"])
def test_cobs_rejects_invalid(bad: bytes) -> None:
    with pytest.raises(cobs.CobsError):
        cobs.decode(bad)


def test_crc32_check_value() -> None:
    assert crc32(b"123456789") == CHECK_VALUE == 0xCBF43926
