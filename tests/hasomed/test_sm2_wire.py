"""ScienceMode2 framing and messages: golden vectors, round trips, a fuzzed deframer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensctl.wire.sciencemode2 import (
    ChannelEntry,
    Command,
    DecodeError,
    Deframer,
    FrameError,
    FrameErrorKind,
    GetStimulationMode,
    GetStimulationModeAck,
    Init,
    InitAck,
    InitChannelListMode,
    InitChannelListModeAck,
    Message,
    OtherCommand,
    Packet,
    RangeError,
    SinglePulse,
    SinglePulseAck,
    StartChannelListMode,
    StartChannelListModeAck,
    StimulationError,
    StopChannelListMode,
    StopChannelListModeAck,
    UnknownCommand,
    Watchdog,
    build_frame,
    crc8,
    decode,
    stuff,
    unstuff,
)

# ---- golden vectors --------------------------------------------------------------------


def test_crc8_is_smbus() -> None:
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0


def test_readme_init_and_init_ack_bytes() -> None:
    device = bytes.fromhex("f0 81 2c 81 56 01 01 01 0f")
    host = bytes.fromhex("f0 81 14 81 56 01 02 00 0f")
    assert Init(1, 1).encode() == device
    assert InitAck(1, 0).encode() == host
    packets = Deframer().feed(device + host)
    assert [decode(p) for p in packets if isinstance(p, Packet)] == [Init(1, 1), InitAck(1, 0)]


def test_document_stuffing_example() -> None:
    # section 2.2: a data byte equal to the start byte "is stuffed to 0x81, 0xA5"
    assert stuff(b"\xf0") == b"\x81\xa5"
    assert stuff(b"\x0f\x81\x55\x0a") == b"\x81\x5a\x81\xd4\x55\x0a"
    assert unstuff(b"\x81\xa5\x81\x5a\x81\xd4") == b"\xf0\x0f\x81"


@pytest.mark.parametrize(
    ("frame", "number"),
    [
        ("f0 81 f0 81 57 c4 04 0f", 196),  # checksum 0xA5 goes out as 81 F0
        ("f0 81 0f 81 57 dc 04 0f", 220),  # checksum 0x5A goes out as 81 0F
    ],
)
def test_escaped_checksum_that_looks_like_start_or_stop_is_taken_literally(
    frame: str, number: int
) -> None:
    raw = bytes.fromhex(frame)
    assert Watchdog(number).encode() == raw
    assert Deframer().feed(raw) == [Packet(number, Command.WATCHDOG)]
    # also when it arrives byte by byte, after junk and before another frame
    deframer, out = Deframer(), []
    for byte in b"\x00\x42" + raw + Watchdog(1).encode():
        out += deframer.feed(bytes([byte]))
    assert [type(o) for o in out] == [FrameError, Packet, Packet]
    assert out[1] == Packet(number, Command.WATCHDOG)


def test_channel_list_layouts_are_msb_first() -> None:
    init = InitChannelListMode(7, 1, 0b101, 0b100, 13, 0x162, 0)
    assert init.data() == bytes([1, 0b101, 0b100, 13, 0x01, 0x62, 0])
    assert init.main_interval_ms == 0x162 * 0.5 + 1 and init.inter_pulse_interval_ms == 8.0
    assert init.channels == (1, 3)
    start = StartChannelListMode(8, (ChannelEntry(0, 300, 20), ChannelEntry(2, 20, 130)))
    assert start.data() == bytes([0, 0x01, 0x2C, 20, 2, 0x00, 20, 130])
    assert SinglePulse(9, 7, 500, 130).data() == bytes([7, 0x01, 0xF4, 130])
    assert StimulationError(3, -2).data() == b"\xfe"
    assert GetStimulationModeAck(4, 0, 2).data() == b"\x00\x02"
    assert GetStimulationModeAck(4, -8, None).data() == b"\xf8"


# ---- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        InitChannelListMode(0, 8, 1, 0, 13, 100, 0),  # low frequency factor 0–7
        InitChannelListMode(0, 0, 1, 0, 13, 2049, 0),  # main interval code 0–2048
        InitChannelListMode(0, 0, 1, 0, 13, 100, 2),  # execution 0/1
        StartChannelListMode(0, (ChannelEntry(3, 100, 10),)),  # mode 0–2
        StartChannelListMode(0, (ChannelEntry(0, 501, 10),)),  # pulse width 0–500
        StartChannelListMode(0, (ChannelEntry(0, 100, 131),)),  # current 0–130
        StartChannelListMode(0, tuple(ChannelEntry(0, 100, 1) for _ in range(9))),
        SinglePulse(0, 8, 100, 10),  # channel 0–7
        SinglePulse(0, 0, 100, 131),
        Watchdog(256),
    ],
)
def test_out_of_range_messages_are_not_encoded(message: Message) -> None:
    assert message.problems()
    with pytest.raises(RangeError):
        message.encode()


def test_out_of_range_values_still_decode_for_the_device_to_refuse() -> None:
    frame = build_frame(5, Command.START_CHANNEL_LIST_MODE, bytes([0, 0x02, 0x00, 140]))
    (packet,) = Deframer().feed(frame)
    assert isinstance(packet, Packet)
    message = decode(packet)
    assert message == StartChannelListMode(5, (ChannelEntry(0, 512, 140),))
    assert isinstance(message, StartChannelListMode) and len(message.problems()) == 2


def test_wrong_data_length_is_a_decode_error_and_unknown_numbers_are_other() -> None:
    assert isinstance(decode(Packet(1, Command.INIT_CHANNEL_LIST_MODE, b"\x00" * 6)), DecodeError)
    assert isinstance(decode(Packet(1, Command.START_CHANNEL_LIST_MODE, b"\x00" * 5)), DecodeError)
    assert isinstance(decode(Packet(1, Command.WATCHDOG, b"\x00")), DecodeError)
    assert isinstance(decode(Packet(1, Command.GET_STIMULATION_MODE_ACK, b"\x00")), DecodeError)
    assert decode(Packet(1, 50, b"\x01")) == OtherCommand(1, 50, b"\x01")


# ---- round trips ---------------------------------------------------------------------------

numbers = st.integers(0, 255)
results = st.integers(-8, 0)
entries = st.builds(ChannelEntry, st.integers(0, 2), st.integers(0, 500), st.integers(0, 130))
messages = st.one_of(
    st.builds(Init, numbers, numbers),
    st.builds(InitAck, numbers, results),
    st.builds(UnknownCommand, numbers, numbers),
    st.builds(Watchdog, numbers),
    st.builds(GetStimulationMode, numbers),
    st.builds(GetStimulationModeAck, numbers, st.just(0), st.integers(0, 2)),
    st.builds(GetStimulationModeAck, numbers, st.integers(-8, -1), st.none()),
    st.builds(
        InitChannelListMode,
        numbers,
        st.integers(0, 7),
        numbers,
        numbers,
        numbers,
        st.integers(0, 2048),
        st.integers(0, 1),
    ),
    st.builds(InitChannelListModeAck, numbers, results),
    st.builds(StartChannelListMode, numbers, st.lists(entries, max_size=8).map(tuple)),
    st.builds(StartChannelListModeAck, numbers, results),
    st.builds(StopChannelListMode, numbers),
    st.builds(StopChannelListModeAck, numbers, results),
    st.builds(SinglePulse, numbers, st.integers(0, 7), st.integers(0, 500), st.integers(0, 130)),
    st.builds(SinglePulseAck, numbers, results),
    st.builds(StimulationError, numbers, st.integers(-3, -1)),
)


@given(messages)
def test_every_message_round_trips_through_the_deframer(message: Message) -> None:
    frame = message.encode()
    assert frame[0] == 0xF0 and frame[-1] == 0x0F
    assert 0xF0 not in frame[5:-1] and 0x0F not in frame[5:-1]  # stuffed payload
    (packet,) = Deframer().feed(frame)
    assert isinstance(packet, Packet)
    assert decode(packet) == message


# ---- damage ----------------------------------------------------------------------------------


def test_bad_checksum_and_bad_length_are_typed_errors_with_the_apparent_command() -> None:
    frame = bytearray(StopChannelListMode(9).encode())
    frame[2] ^= 0x01
    (error,) = Deframer().feed(bytes(frame))
    assert isinstance(error, FrameError) and error.kind is FrameErrorKind.crc
    assert (error.packet_number, error.command) == (9, Command.STOP_CHANNEL_LIST_MODE)
    frame = bytearray(StopChannelListMode(9).encode())
    frame[4] ^= 0x02
    (error,) = Deframer().feed(bytes(frame))
    assert isinstance(error, FrameError) and error.kind is FrameErrorKind.length


def test_a_start_byte_inside_a_frame_cuts_it_and_starts_the_next() -> None:
    good = GetStimulationMode(3).encode()
    out = Deframer().feed(good[:6] + good)
    assert [type(o) for o in out] == [FrameError, Packet]
    assert isinstance(out[0], FrameError) and out[0].kind is FrameErrorKind.truncated


def test_runaway_bytes_are_dropped_and_the_stream_recovers() -> None:
    out = Deframer().feed(b"\xf0\x81\x00\x81\x00" + b"\x11" * 400 + Watchdog(2).encode())
    assert [type(o) for o in out] == [FrameError, Packet]
    assert isinstance(out[0], FrameError) and out[0].kind is FrameErrorKind.oversize


@settings(max_examples=400)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_deframer_never_raises_and_yields_only_packets_or_errors(chunks: list[bytes]) -> None:
    deframer = Deframer()
    for chunk in chunks:
        for item in deframer.feed(chunk):
            assert isinstance(item, Packet | FrameError)
            if isinstance(item, Packet):
                decoded = decode(item)  # never raises either
                assert isinstance(decoded, Message | OtherCommand | DecodeError)


@settings(max_examples=400)
@given(messages, st.data())
def test_a_corrupted_frame_never_yields_a_command(message: Message, data: st.DataObject) -> None:
    frame = bytearray(message.encode())
    position = data.draw(st.integers(0, len(frame) - 1))
    frame[position] ^= 1 << data.draw(st.integers(0, 7))
    trailer = Watchdog(77).encode()
    packets = [o for o in Deframer().feed(bytes(frame) + trailer) if isinstance(o, Packet)]
    # CRC-8 catches every single-bit error; a broken start/stop byte only loses the frame
    assert packets == [Packet(77, Command.WATCHDOG)]
