"""A new host session (IDENTIFY) while the output is on: every output goes to 0, and frames
of the old session cannot be replayed into the new one."""

from __future__ import annotations

from harness import Bench, configure

from tensctl.wire.codes import ErrorCode
from tensctl.wire.messages import Ack, Heartbeat, Identify, Nack, SetAmplitude, Start


def test_identify_while_on_zeroes_every_output() -> None:
    bench = Bench().running(1, 2000)
    bench.ok(configure(2))
    bench.ok(Start(0b10))
    bench.ok(Identify())
    for n in (1, 2):
        assert (bench.amplitude(n), bench.ch(n).running) == (0, False)
    assert bench.entries("output", channel=1)[-1]["cause"] == "identify"


def test_frames_of_the_old_session_cannot_be_replayed_after_identify() -> None:
    bench = Bench().running(1, 2000)
    for _ in range(100):
        bench.ok(Heartbeat())
    old_start, old_raise = bench.seq - 2, bench.seq - 1  # numbers the old session used
    assert isinstance(bench.request(Identify(), seq=0), Ack)
    for seq, message in ((old_start, Start(0b01)), (old_raise, SetAmplitude(1, 1000))):
        reply = bench.request(message, seq=seq)
        assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)


def test_the_new_session_counts_on_through_the_old_sessions_numbers() -> None:
    bench = Bench()
    for _ in range(200):
        bench.ok(Heartbeat())
    bench.seq = 0
    bench.request(Identify(), seq=0)
    for _ in range(300):  # 1 … 300: through the old numbers and past them
        bench.ok(Heartbeat())
    bench.seq += 64  # frames lost on the way: a gap within the window
    bench.ok(Heartbeat())
    assert bench.device.firmware.old_session_seq is None
    bench.seq += 1000  # past the old numbers the usual half-space rule applies
    bench.ok(Heartbeat())


def test_a_jump_past_the_window_within_the_old_numbers_is_stale() -> None:
    bench = Bench()
    for _ in range(200):
        bench.ok(Heartbeat())
    bench.request(Identify(), seq=0)
    assert isinstance(bench.request(Heartbeat(), seq=65), Nack)  # 65 ahead of 0
    assert isinstance(bench.request(Heartbeat(), seq=64), Ack)  # 64 ahead: a few lost
    assert isinstance(bench.request(Heartbeat(), seq=400), Ack)  # beyond the old numbers


def test_identify_continuing_the_count_ends_the_old_sessions_guard() -> None:
    bench = Bench()
    for _ in range(10):
        bench.ok(Heartbeat())
    bench.ok(Identify())  # the same host, counting on
    assert bench.device.firmware.old_session_seq is None
    bench.seq += 1000
    bench.ok(Heartbeat())
