"""What the device does with frames that are stale, malformed, of an unknown type or
corrupted, and with a link that keeps failing."""

from __future__ import annotations

import struct

import pytest
from harness import Bench, configure

from tensctl.wire import Frame, encode_frame
from tensctl.wire.codes import ErrorCode, Fault, MsgType
from tensctl.wire.messages import (
    Ack,
    EmergencyStop,
    Heartbeat,
    Identify,
    Nack,
    ResetFault,
    SetAmplitude,
    Start,
    Telemetry,
)


def corrupt(frame: bytes, index: int = 5) -> bytes:
    """``frame`` with one byte changed (never into a delimiter)."""
    out = bytearray(frame)
    out[index] ^= 0x01 if out[index] != 0x01 else 0x02
    assert 0 not in out[:-1]
    return bytes(out)


def nack(bench: Bench, data: bytes, seq: int, msg_type: int) -> ErrorCode | None:
    reply = Bench.reply_to(seq, msg_type, bench.send_bytes(data))
    assert isinstance(reply, Nack), reply
    return reply.error_code


# ---- sequence numbers ---------------------------------------------------------------------


def test_the_first_frame_after_power_up_may_have_any_seq() -> None:
    bench = Bench()
    assert isinstance(bench.request(Heartbeat(), seq=40_000), Ack)


def test_a_repeated_seq_is_stale_and_not_applied() -> None:
    bench = Bench().running(1, 1000)
    reply = bench.request(SetAmplitude(1, 0), seq=bench.seq)
    assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE
    assert bench.amplitude(1) == 1000


def test_a_seq_going_backwards_is_stale() -> None:
    bench = Bench()
    bench.ok(Heartbeat())
    bench.ok(Heartbeat())
    reply = bench.request(Heartbeat(), seq=bench.seq - 1)
    assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE


@pytest.mark.parametrize(("ahead", "fresh"), [(1, True), (0x7FFF, True), (0x8000, False)])
def test_seq_ahead_by_half_the_space_counts_as_behind(ahead: int, fresh: bool) -> None:
    bench = Bench()
    bench.ok(Heartbeat())
    reply = bench.request(Heartbeat(), seq=(bench.seq + ahead) & 0xFFFF)
    assert isinstance(reply, Ack) is fresh


def test_seq_wraps_from_65535_to_0() -> None:
    bench = Bench()
    assert isinstance(bench.request(Heartbeat(), seq=0xFFFF), Ack)
    assert isinstance(bench.request(Heartbeat(), seq=0), Ack)


def test_a_stale_frame_does_not_feed_the_watchdog() -> None:
    bench = Bench().running(1, 1000)  # last valid frame at t = 0
    last = bench.seq
    for t in (0.1, 0.2, 0.3, 0.4):
        reply = bench.request(Heartbeat(), t=t, seq=last)
        assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE
    bench.at(0.6)
    assert bench.faults(1) == Fault.WATCHDOG
    assert bench.entries("output", channel=1)[-1]["t"] == 0.5


def test_identify_starts_a_new_sequence() -> None:
    bench = Bench()
    for _ in range(100):
        bench.ok(Heartbeat())
    assert isinstance(bench.request(Identify(), seq=0), Ack)
    assert isinstance(bench.request(Heartbeat(), seq=1), Ack)


def test_identify_is_accepted_even_with_a_repeated_seq() -> None:
    bench = Bench()
    bench.ok(Heartbeat())
    assert isinstance(bench.request(Identify(), seq=bench.seq), Ack)


def test_a_stale_emergency_stop_still_stops_everything() -> None:
    bench = Bench().running(1, 2000)
    reply = bench.request(EmergencyStop(), seq=bench.seq)
    assert isinstance(reply, Ack)
    assert bench.amplitude(1) == 0
    assert bench.faults(1) == bench.faults(2) == Fault.EMERGENCY_STOP


def test_a_stale_emergency_stop_does_not_rewind_the_sequence() -> None:
    bench = Bench()
    for _ in range(10):
        bench.ok(Heartbeat())  # last accepted seq: 10
    bench.request(EmergencyStop(), seq=3)
    reply = bench.request(ResetFault(0b11), seq=5)  # a replay of an old frame
    assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE


# ---- malformed and unknown ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "body"),
    [
        (MsgType.HEARTBEAT, b"\x01"),
        (MsgType.IDENTIFY, b"\x00\x00"),
        (MsgType.SET_AMPLITUDE, struct.pack("<BH", 1, 1000)),
        (MsgType.SET_AMPLITUDE, struct.pack("<BIB", 1, 1000, 0)),
        (MsgType.START, b""),
        (MsgType.CONFIGURE, b"\x01" * 10),
        (MsgType.CONFIGURE, struct.pack("<BBBIHHHBIB", 1, 0, 2, 2000, 200, 1000, 1000, 1, 0, 17)),
    ],
    ids=["hb+1", "identify+2", "amp-short", "amp-long", "start-empty", "cfg-short", "cfg-17"],
)
def test_a_body_that_does_not_fit_its_type_is_bad_length(msg_type: int, body: bytes) -> None:
    bench = Bench()
    assert nack(bench, bench.raw(msg_type, body), bench.seq, msg_type) == ErrorCode.BAD_LENGTH


def test_a_bad_length_frame_changes_nothing_and_does_not_use_up_its_seq() -> None:
    bench = Bench().running(1, 1000)
    seq = bench.seq + 1
    data = bench.raw(MsgType.SET_AMPLITUDE, struct.pack("<BH", 1, 0), seq=seq)
    assert nack(bench, data, seq, MsgType.SET_AMPLITUDE) == ErrorCode.BAD_LENGTH
    assert bench.amplitude(1) == 1000
    assert isinstance(bench.request(SetAmplitude(1, 0), seq=seq), Ack)


def test_a_bad_length_frame_does_not_feed_the_watchdog() -> None:
    bench = Bench().running(1, 1000)
    for t in (0.1, 0.2, 0.3, 0.4):
        bench.at(t)
        bench.send_bytes(bench.raw(MsgType.HEARTBEAT, b"\x00"))
    assert bench.at(0.55).faults(1) == Fault.WATCHDOG


@pytest.mark.parametrize("msg_type", [0x00, 0x0A, 0x42, 0x7F, 0xFF])
def test_an_unknown_type_is_unknown_type(msg_type: int) -> None:
    bench = Bench()
    assert nack(bench, bench.raw(msg_type, b""), bench.seq, msg_type) == ErrorCode.UNKNOWN_TYPE


def test_a_device_to_host_type_sent_to_the_device_is_unknown_type() -> None:
    bench = Bench()
    reply = bench.request(Ack(0, MsgType.HEARTBEAT))
    assert isinstance(reply, Nack) and reply.error_code == ErrorCode.UNKNOWN_TYPE


def test_an_echoed_device_frame_does_not_feed_the_watchdog() -> None:
    bench = Bench().running(1, 1000)
    echo = Telemetry(0, 1, 1, 1000, 1000, 200, 100_000, 2148, 0, 0, 0, 0)
    for t in (0.1, 0.2, 0.3, 0.4, 0.5):
        bench.at(t)
        bench.request(echo)
    assert bench.at(0.6).faults(1) == Fault.WATCHDOG


# ---- corrupted frames and link loss -------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 3, 5, 8])
def test_a_corrupted_frame_gets_no_reply_at_all(index: int) -> None:
    bench = Bench().running(1, 1000)
    bench.received.clear()
    messages = bench.send_bytes(corrupt(bench.frame(SetAmplitude(1, 0)), index))
    assert not [m for m in messages if isinstance(m, Ack | Nack)]
    assert bench.amplitude(1) == 1000
    assert len(bench.entries("bad_frame")) == 1


def test_a_corrupted_frame_does_not_use_up_its_seq() -> None:
    bench = Bench()
    data = bench.frame(Heartbeat())
    bench.send_bytes(corrupt(data))
    assert isinstance(Bench.reply_to(bench.seq, MsgType.HEARTBEAT, bench.send_bytes(data)), Ack)


def test_a_wrong_protocol_version_is_dropped() -> None:
    bench = Bench()
    data = encode_frame(Frame(1, MsgType.HEARTBEAT, b"", version=1))
    assert not [m for m in bench.send_bytes(data) if isinstance(m, Ack | Nack)]
    assert bench.entries("bad_frame", kind="version")


def link_bench() -> Bench:
    bench = Bench().running(1, 1000)
    bench.ok(configure(2))
    bench.ok(Start(0b10))
    return bench


def bad_frames(bench: Bench, times: list[float]) -> None:
    for t in times:
        bench.at(t)
        bench.send_bytes(corrupt(bench.frame(Heartbeat())))


def test_five_bad_frames_within_1_s_are_tolerated() -> None:
    bench = Bench().running(1, 1000)
    bad_frames(bench, [0.05, 0.1, 0.15, 0.2, 0.25])
    assert bench.faults(1) == Fault.NONE
    assert bench.amplitude(1) == 1000


def test_a_sixth_bad_frame_within_1_s_is_link_loss_on_every_channel() -> None:
    bench = link_bench()
    bad_frames(bench, [0.05, 0.1, 0.15, 0.2, 0.25])
    assert bench.faults(1) == Fault.NONE
    bad_frames(bench, [0.3])
    assert bench.faults(1) == bench.faults(2) == Fault.LINK
    assert bench.amplitude(1) == 0
    assert not any(ch.running for ch in bench.device.firmware.channels)
    assert [e["t"] for e in bench.entries("fault", fault="LINK")] == [0.3, 0.3]


def test_six_bad_frames_spread_over_more_than_1_s_are_tolerated() -> None:
    bench = Bench().running(1, 1000)
    for i in range(6):
        bad_frames(bench, [0.25 * i + 0.01])
        bench.ok(Heartbeat(), t=0.25 * i + 0.02)
    assert bench.faults(1) == Fault.NONE


def test_link_loss_resets_3_s_after_the_trip_and_not_before() -> None:
    bench = Bench().running(1, 1000)
    bad_frames(bench, [0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    assert bench.refused(ResetFault(0b01), t=3.29) == ErrorCode.RESET_TOO_EARLY
    bench.ok(ResetFault(0b11), t=3.31)
    assert bench.faults(1) == Fault.NONE
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
