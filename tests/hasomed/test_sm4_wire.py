"""ScienceMode4 wire: CRC, stuffing, framing with the escaped-header trap, typed messages,
cross-checked against the science-mode-4 client's own encoder, and fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensctl.wire.sciencemode4 import (
    Deframer,
    FrameError,
    FrameErrorKind,
    GeneralError,
    GetDeviceId,
    GetDeviceIdAck,
    GetExtendedVersion,
    GetExtendedVersionAck,
    GetStimStatus,
    GetStimStatusAck,
    Message,
    MessageError,
    MlChannel,
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlInit,
    MlInitAck,
    MlStop,
    MlStopAck,
    MlUpdate,
    MlUpdateAck,
    Packet,
    Point,
    UnknownCommand,
    crc16_xmodem,
    decode_message,
    encode_frame,
)
from tensctl.wire.sciencemode4.frame import CHECK_VALUE, stuff, unstuff

# ---- vectors ------------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_xmodem(b"123456789") == CHECK_VALUE == 0x31C3


def test_stuffing_example_from_the_ifu() -> None:
    # IFU p. 17: "this start byte (0xF0) is stuffed to 0x81, 0xA5"
    assert stuff(b"\xf0") == b"\x81\xa5"
    assert stuff(b"\x0f\x81\x55") == b"\x81\x5a\x81\xd4\x55"  # the key itself is not escaped
    assert unstuff(b"\x81\xa5\x81\x5a\x81\xd4\x55") == b"\xf0\x0f\x81\x55"


# Frames built by hand from the IFU's Table 2 (LEN = whole frame; CRC over the stuffed payload,
# computed with the standard library's binascii.crc_hqx, which is CRC-16/XMODEM)
GOLDEN = [
    # Get_device_id, packet 1: prefix 0x0434, LEN 12 (IFU Table 4: "Length 12")
    (GetDeviceId(), 1, "f0 81 55 81 59 81 ef 81 46 04 34 0f"),
    # Ml_init (continue on error), packet 4: prefix 0x101e, data 00; LEN 13 (Table 19)
    (MlInit(False), 4, "f0 81 55 81 58 81 36 81 4a 10 1e 00 0f"),
    # Ml_get_current_data, packet 7: prefix 0x1c24, data 04
    (MlGetCurrentData(), 7, "f0 81 55 81 58 81 e9 81 f1 1c 24 04 0f"),
]


@pytest.mark.parametrize(("message", "number", "wire"), GOLDEN)
def test_golden_frames(message: Message, number: int, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert message.encode(number) == raw
    assert len(raw) == (raw[2] ^ 0x55) << 8 | (raw[4] ^ 0x55)
    assert crc16_xmodem(raw[9:-1]) == (raw[6] ^ 0x55) << 8 | (raw[8] ^ 0x55)
    (packet,) = Deframer().feed(raw)
    assert isinstance(packet, Packet) and packet.number == number
    assert decode_message(packet) == message


def test_point_bits_follow_table_15() -> None:
    # duration in the top 12 bits, current code 2·I + 300 in the next 10, 10 reserved bits
    assert Point(200, 20).pack() == ((200 << 20) | (340 << 10)).to_bytes(4, "big")
    assert Point(4095, -150).pack() == (4095 << 20).to_bytes(4, "big")
    assert Point(0, 150).pack() == (600 << 10).to_bytes(4, "big")
    assert Point.unpack(Point(17, -12.5).pack()) == Point(17, -12.5)
    with pytest.raises(ValueError):
        Point(10, 150.5).pack()
    with pytest.raises(ValueError):
        Point(4096, 0).pack()
    with pytest.raises(ValueError):
        Point(10, 0.25).pack()  # not a 0.5 mA step


def test_channel_block_layout() -> None:
    # 3 points (n-1 = 2 in the high nibble), ramp 5 (low nibble), 25 ms → code 50, flag 0
    block = MlChannel((Point(200, 10), Point(100, 0), Point(200, -10)), 25.0, ramp=5).pack()
    assert block[:3] == bytes((0x25,)) + (50 << 1).to_bytes(2, "big")
    fine = MlChannel((Point(100, 1),), 6.75, quarter_ms=True).pack()
    assert fine[1:3] == ((27 << 1) | 1).to_bytes(2, "big")  # 6.75 ms · 4 = 27, flag 1


def test_current_data_layout() -> None:
    ack = MlGetCurrentDataAck(0, 4, (True, False, True) + (False,) * 5, (1, 2, 0, 3, 0, 0, 0, 1))
    assert ack.data() == bytes((0, 4, 0b101, 0x21, 0x30, 0x00, 0x10))
    assert MlGetCurrentDataAck.parse(ack.data()) == ack


# ---- the third-party client as a second opinion on the bytes -------------------------------


def _client_frame(packet: object, number: int) -> bytes:
    from science_mode_4.protocol.protocol import Protocol

    packet.number = number  # type: ignore[attr-defined]
    return bytes(Protocol.packet_to_bytes(packet))  # type: ignore[arg-type]


def test_same_bytes_as_the_science_mode_4_client() -> None:
    import science_mode_4 as sm4

    update = sm4.PacketMidLevelUpdate()
    update.channel_configuration = [
        sm4.MidLevelChannelConfiguration(
            True,
            3,
            25,
            [sm4.ChannelPoint(200, 20), sm4.ChannelPoint(100, 0), sm4.ChannelPoint(200, -20)],
        ),
        None,
        sm4.MidLevelChannelConfiguration(
            True, 0, 10, [sm4.ChannelPoint(300, 12.5), sm4.ChannelPoint(300, -12.5)]
        ),
    ]
    ours = MlUpdate(
        (
            MlChannel((Point(200, 20), Point(100, 0), Point(200, -20)), 25, 3),
            None,
            MlChannel((Point(300, 12.5), Point(300, -12.5)), 10),
            *(None,) * 5,
        )
    )
    assert _client_frame(update, 5) == ours.encode(5)
    init = sm4.PacketMidLevelInit()
    init.do_stop_on_all_errors = True
    assert _client_frame(init, 63) == MlInit(True).encode(63)
    for theirs, mine in (
        (sm4.PacketGeneralGetDeviceId(), GetDeviceId()),
        (sm4.PacketGeneralGetExtendedVersion(), GetExtendedVersion()),
        (sm4.PacketGeneralGetStimStatus(), GetStimStatus()),
        (sm4.PacketMidLevelStop(), MlStop()),
        (sm4.PacketMidLevelGetCurrentData(), MlGetCurrentData()),
    ):
        assert _client_frame(theirs, 9) == mine.encode(9)


def test_the_client_parses_our_acks() -> None:
    import science_mode_4 as sm4

    assert (
        sm4.PacketGeneralGetDeviceIdAck(GetDeviceIdAck(0, "P24-0042").data()).device_id.rstrip("\0")
        == "P24-0042"
    )
    version = sm4.PacketGeneralGetExtendedVersionAck(
        GetExtendedVersionAck(0, (1, 2, 3), (4, 0, 1), 0xDEADBEEF, 1, True).data()
    )
    assert (version.firmware_version, version.science_mode_version) == ("1.2.3", "4.0.1")
    assert (version.firmware_hash, version.is_valid_hash) == ("deadbeef", True)
    data = sm4.PacketMidLevelGetCurrentDataAck(
        MlGetCurrentDataAck(0, 4, (False, True) + (False,) * 6, (0, 1, 2, 3, 0, 0, 0, 0)).data()
    )
    assert data.is_stimulation_active_per_channel[:2] == [False, True]
    assert [e.name for e in data.channel_error[:4]] == [
        "NO_ERROR",
        "ELECTRODE_ERROR",
        "PULSE_TIMEOUT_ERROR",
        "PULSE_LOW_CURRENT_ERROR",
    ]
    status = sm4.PacketGeneralGetStimStatusAck(GetStimStatusAck(0, 3, 6).data())
    assert status.stim_status.name == "MID_LEVEL_RUNNING" and status.high_voltage_on


# ---- the escaped-header trap ---------------------------------------------------------------


def _frame_with_header_byte(target: int) -> bytes:
    """A frame whose escaped CRC or length byte is ``target`` (F0 or 0F) on the wire."""
    for number in range(64):
        for pad in range(200):
            raw = encode_frame(number, 36, bytes([4]) + bytes(pad))
            if target in raw[2:9:2]:  # a byte after an 81 in the header
                return raw
    raise AssertionError("no such frame")


@pytest.mark.parametrize("target", [0xF0, 0x0F])
def test_escaped_header_byte_that_looks_like_start_or_stop(target: int) -> None:
    raw = _frame_with_header_byte(target)
    assert target in raw[2:9:2]  # after an 81 in the header
    out = Deframer().feed(b"\x00junk" + raw + raw)
    packets = [p for p in out if isinstance(p, Packet)]
    assert len(packets) == 2 and packets[0] == packets[1]
    assert [e.kind for e in out if isinstance(e, FrameError)] == [FrameErrorKind.junk]


def test_length_byte_escapes_to_start_byte() -> None:
    # LEN = 0x00A5 (165 bytes) is sent as 81 55, 81 F0
    raw = encode_frame(3, 32, bytes(165 - 12))
    assert raw[1:5] == b"\x81\x55\x81\xf0"
    (packet,) = Deframer().feed(raw)
    assert packet == Packet(3, 32, bytes(153))


def test_byte_by_byte_and_split_feeding() -> None:
    raw = b"".join(m.encode(n) for n, m in enumerate([GetDeviceId(), MlInit(True), MlStop()]))
    d = Deframer()
    out = [item for b in raw for item in d.feed(bytes([b]))]
    assert [decode_message(p) for p in out if isinstance(p, Packet)] == [
        GetDeviceId(),
        MlInit(True),
        MlStop(),
    ]


@pytest.mark.parametrize(
    ("wire", "kind"),
    [
        (bytes.fromhex("f0 55 81 59 81 ef 81 46 04 34 0f"), FrameErrorKind.header),
        (bytes.fromhex("f0 81 55 81 59 81 ef 81 47 04 34 0f"), FrameErrorKind.crc),
        (bytes.fromhex("f0 81 55 81 58 81 ef 81 46 04 34 0f"), FrameErrorKind.length),
        (bytes.fromhex("f0 81 55 81 5a 81 ef 81 46 04 34 0f"), FrameErrorKind.length),
        (bytes.fromhex("f0 81 51 81 59 81 ef 81 46 04 34 0f"), FrameErrorKind.length),
        (bytes.fromhex("f0 81 55 81 59 81 ef 81 46 04 f0"), FrameErrorKind.truncated),
        (bytes.fromhex("f0 81 55 81 56 81 55 81 55 0f"), FrameErrorKind.length),
    ],
)
def test_typed_frame_errors(wire: bytes, kind: FrameErrorKind) -> None:
    out = Deframer().feed(wire)
    assert [e.kind for e in out if isinstance(e, FrameError)][:1] == [kind]
    assert not [p for p in out if isinstance(p, Packet)]


# ---- messages -----------------------------------------------------------------------------

ROUND_TRIP: list[Message] = [
    GetDeviceId(),
    GetDeviceIdAck(0, "0123456789"),
    GetStimStatus(),
    GetStimStatusAck(0, 2, 6),
    GetExtendedVersion(),
    GetExtendedVersionAck(0, (1, 0, 7), (4, 0, 0), 0x12345678, 3, True),
    GeneralError(1),
    UnknownCommand(),
    MlInit(True),
    MlInitAck(7),
    MlUpdateAck(2),
    MlStop(),
    MlStopAck(0),
    MlGetCurrentData(),
    MlGetCurrentDataAck(0, 4, (True,) * 8, (0, 1, 2, 3, 0, 1, 2, 3)),
]


@pytest.mark.parametrize("message", ROUND_TRIP, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    (packet,) = Deframer().feed(message.encode(42))
    assert isinstance(packet, Packet)
    assert (packet.number, packet.command) == (42, message.COMMAND)
    assert decode_message(packet) == message


def test_malformed_data_and_unknown_commands_are_typed() -> None:
    assert decode_message(Packet(1, 52, b"\x00")) == MessageError(
        1, 52, True, "1 data bytes, expected 0"
    )
    assert isinstance(decode_message(Packet(1, 30, b"\x02")), MessageError)  # error mode 0/1
    assert isinstance(decode_message(Packet(1, 32, b"")), MessageError)  # no mask
    assert isinstance(decode_message(Packet(1, 32, b"\x01\x00\x00")), MessageError)  # cut short
    bad_current = b"\x01\x00\x00\x32" + ((10 << 20) | (601 << 10)).to_bytes(4, "big")
    assert "601" in str(decode_message(Packet(1, 32, bad_current)))
    assert isinstance(decode_message(Packet(1, 32, b"\x01\x00\x00\x00" + bytes(4))), MessageError)
    assert decode_message(Packet(2, 2, b"")) == MessageError(2, 2, False, "unknown command")


points = st.builds(Point, st.integers(0, 4095), st.integers(-300, 300).map(lambda c: c / 2))
channels = st.builds(
    MlChannel,
    st.lists(points, min_size=1, max_size=16).map(tuple),
    st.integers(1, 32767).map(lambda c: c / 2),
    st.integers(0, 15),
) | st.builds(
    MlChannel,
    st.lists(points, min_size=1, max_size=16).map(tuple),
    st.integers(1, 32767).map(lambda c: c / 4),
    st.integers(0, 15),
    st.just(True),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.none() | channels, min_size=8, max_size=8), st.integers(0, 63))
def test_update_round_trip(entries: list[MlChannel | None], number: int) -> None:
    message = MlUpdate(tuple(entries))
    (packet,) = Deframer().feed(message.encode(number))
    assert isinstance(packet, Packet) and packet.number == number
    assert decode_message(packet) == message


# ---- fuzz ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=4))
def test_deframer_and_decoder_only_yield_typed_results(junk: bytes, cuts: list[int]) -> None:
    d, pos = Deframer(), 0
    for cut in [*sorted(cuts), len(junk)]:
        for item in d.feed(junk[pos:cut]):
            assert isinstance(item, Packet | FrameError)
            if isinstance(item, Packet):
                assert isinstance(decode_message(item), Message | MessageError)
        pos = max(pos, cut)


valid = st.sampled_from(ROUND_TRIP) | st.builds(
    MlUpdate, st.lists(st.none() | channels, min_size=8, max_size=8).map(tuple)
)


@settings(max_examples=300, deadline=None)
@given(valid, st.integers(0, 63), st.data())
def test_a_corrupted_frame_never_yields_a_command(
    message: Message, number: int, data: st.DataObject
) -> None:
    raw = bytearray(message.encode(number))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    follower = GetDeviceId().encode(7)
    out = Deframer().feed(bytes(raw) + follower)
    packets = [p for p in out if isinstance(p, Packet)]
    # the corrupted frame gives errors only; the next good frame still gets through
    assert packets == [Packet(7, 52, b"")]
    assert any(isinstance(e, FrameError) for e in out)
