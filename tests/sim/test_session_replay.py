"""A new host session (IDENTIFY): every output goes to 0, and no frame of an earlier session
— whatever its sequence number — is taken for one of the new session (the device chooses a
32-bit session number at each IDENTIFY and every frame carries it)."""

from __future__ import annotations

import itertools

from harness import Bench, configure

from tensctl.wire.codes import ErrorCode, Fault
from tensctl.wire.messages import (
    Ack,
    EmergencyStop,
    Heartbeat,
    Identify,
    Nack,
    SetAmplitude,
    Start,
)


def stale(bench: Bench, data: bytes) -> ErrorCode | None:
    """Send recorded bytes; the NACK's error code (None if the device accepted them)."""
    [reply] = [m for m in bench.send_bytes(data) if isinstance(m, Ack | Nack)]
    return reply.error_code if isinstance(reply, Nack) else None


def test_identify_while_on_zeroes_every_output() -> None:
    bench = Bench().running(1, 2000)
    bench.ok(configure(2))
    bench.ok(Start(0b10))
    bench.ok(Identify())
    for n in (1, 2):
        assert (bench.amplitude(n), bench.ch(n).running) == (0, False)
    assert bench.entries("output", channel=1)[-1]["cause"] == "identify"


def test_frames_of_the_old_session_cannot_be_replayed_whatever_their_number() -> None:
    # the old host's START and raise, recorded as bytes, numbered 1 and 2 — exactly the
    # numbers the new host is about to use (the case 16-bit numbers alone could not tell)
    bench = Bench()
    bench.seq = -1
    bench.ok(Identify())  # seq 0
    bench.ok(configure(1))  # seq 1
    old = [bench.frame(Start(0b01), seq=2), bench.frame(SetAmplitude(1, 1000), seq=3)]
    old += [bench.frame(SetAmplitude(1, 1000), seq=n) for n in range(4, 200)]
    bench.seq = -1
    bench.ok(Identify())  # a new host, counting from 0 too
    for data in old:
        assert stale(bench, data) == ErrorCode.STALE_SESSION
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    bench.ok(Start(0b01))  # the new session's own frames are taken, from seq 1 on
    bench.ok(SetAmplitude(1, 1000))
    assert bench.amplitude(1) == 1000


def test_each_identify_chooses_a_new_session_never_0() -> None:
    bench = Bench()
    sessions = []
    for _ in range(50):
        bench.ok(Identify())
        sessions.append(bench.session)
    assert 0 not in sessions
    assert all(a != b for a, b in itertools.pairwise(sessions))
    assert len(set(sessions)) > 45  # 32 random bits: a repeat is a one-in-a-billion event


def test_frames_carry_the_session_both_ways() -> None:
    bench = Bench()
    bench.ok(Identify())
    mine = bench.session
    assert stale(bench, bench.frame(Heartbeat(), session=mine + 1)) == ErrorCode.STALE_SESSION
    assert stale(bench, bench.frame(Heartbeat(), session=0)) == ErrorCode.STALE_SESSION
    assert stale(bench, bench.frame(Heartbeat())) is None


def test_before_any_identify_the_device_takes_session_0_only() -> None:
    bench = Bench()
    assert stale(bench, bench.frame(Heartbeat(), session=0)) is None
    assert stale(bench, bench.frame(Heartbeat(), session=0x1234)) == ErrorCode.STALE_SESSION


def test_a_restart_ends_the_host_session() -> None:
    bench = Bench().running(1, 1000)
    before = bench.session
    bench.device.firmware.boot(bench.t)  # power-up: every session ends
    assert stale(bench, bench.frame(Heartbeat(), session=before)) == ErrorCode.STALE_SESSION
    bench.ok(Identify())
    assert bench.session != before and bench.faults(1) == Fault.REBOOT


def test_a_frame_of_another_session_does_not_feed_the_watchdog() -> None:
    bench = Bench().running(1, 1000)  # last valid frame at t = 0
    other = bench.session ^ 0x5A5A5A5A
    for t in (0.1, 0.2, 0.3, 0.4):
        reply = bench.request(Heartbeat(), t=t, session=other)
        assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SESSION
    bench.at(0.6)
    assert bench.faults(1) == Fault.WATCHDOG


def test_an_emergency_stop_of_any_session_acts() -> None:
    bench = Bench().running(1, 2000)
    reply = bench.request(EmergencyStop(), session=bench.session ^ 1)
    assert isinstance(reply, Ack)
    assert (bench.amplitude(1), bench.faults(1)) == (0, Fault.EMERGENCY_STOP)
    bench.ok(Heartbeat())  # the stale stop did not disturb the session's own count


def test_a_stale_session_frame_does_not_move_the_sequence_check() -> None:
    bench = Bench()
    bench.ok(Identify())
    bench.ok(Heartbeat())
    last = bench.seq
    assert isinstance(bench.request(Heartbeat(), seq=last + 500, session=0), Nack)
    assert isinstance(bench.request(Heartbeat(), seq=last + 1), Ack)


def test_identify_restarts_the_sequence_check_from_its_own_number() -> None:
    bench = Bench()
    for _ in range(100):
        bench.ok(Heartbeat())
    assert isinstance(bench.request(Identify(), seq=0), Ack)
    assert isinstance(bench.request(Heartbeat(), seq=1), Ack)
    reply = bench.request(Heartbeat(), seq=1)  # within a session a repeat is still stale
    assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE


def test_a_duplicated_identify_does_not_begin_a_second_session() -> None:
    # a link that duplicates frames delivers the host's IDENTIFY twice: the host takes the
    # first ACK's session, so the copy must not replace it (nor rewind the count)
    bench = Bench()
    identify = bench.frame(Identify(), session=0xC0FFEE)
    assert stale(bench, identify) is None
    first = bench.session
    bench.ok(Heartbeat())
    bench.ok(Heartbeat())
    assert stale(bench, identify) is None
    assert bench.session == first
    reply = bench.request(Heartbeat(), seq=bench.seq)  # the count was not rewound
    assert isinstance(reply, Nack) and reply.error_code == ErrorCode.STALE_SEQUENCE
    assert stale(bench, bench.frame(Identify(), session=0xC0FFEF)) is None  # another attempt
    assert bench.session != first
