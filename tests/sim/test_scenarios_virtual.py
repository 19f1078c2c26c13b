"""Scenarios played in virtual time: the shipped ones as written (uncompressed), and ones
built in code for reboot and link impairments."""

from __future__ import annotations

import pytest
from harness import Bench, configure, scenario
from tenssim.scenario import load_scenario

from tensctl.wire.codes import ErrorCode, EventCode, Fault, MsgType
from tensctl.wire.messages import (
    Ack,
    Heartbeat,
    Identify,
    Message,
    Nack,
    ResetFault,
    SetAmplitude,
    Start,
)

AMP_UA = 2000


def replies(messages: list[Message]) -> list[Ack | Nack]:
    return [m for m in messages if isinstance(m, Ack | Nack)]


def heard(bench: Bench) -> list[Message]:
    return [r.message for r in bench.received]


def keep_alive_until_fault(bench: Bench, until: float) -> float | None:
    """A heartbeat every 100 ms (replies not required) until channel 1 faults; when."""
    t0 = bench.t
    for i in range(1, round((until - t0) * 10) + 1):
        bench.request(Heartbeat(), t=t0 + i * 0.1)
        if bench.faults(1):
            return bench.t
    return None


# ---- the shipped scenarios, as written ----------------------------------------------------

CHANNEL_TRIPS = {  # scenario id → (fault, seconds after START when its cause appears)
    "electrode-off": (Fault.OPEN_CIRCUIT, 5.0),
    "over-current": (Fault.OVER_CURRENT, 5.0),
    "short-circuit": (Fault.SHORT, 5.0),
    "low-battery": (Fault.LOW_BATTERY, 5.0),
    "reboot": (Fault.REBOOT, 5.0),
    "peel": (Fault.PEEL, 5.0 + 20.0 * 0.5 / 0.6),  # area 1 → 0.4 over 20 s, 0.5 at 16.7 s
}


@pytest.mark.parametrize("scenario_id", sorted(CHANNEL_TRIPS))
def test_shipped_channel_fault_scenario_zeroes_and_latches(scenario_id: str) -> None:
    fault, cause_s = CHANNEL_TRIPS[scenario_id]
    bench = Bench(scenario=load_scenario(scenario_id)).running(1, AMP_UA)
    tripped = keep_alive_until_fault(bench, 40.0)
    assert tripped is not None and cause_s <= tripped <= cause_s + 0.1 + 1e-9
    assert bench.faults(1) == fault
    assert (bench.amplitude(1), bench.ch(1).running) == (0, False)
    causes = {str(fault.name).lower(), "power_loss"}
    assert bench.entries("output", channel=1)[-1]["cause"] in causes


def test_shipped_impedance_step_is_measured_without_a_trip() -> None:
    bench = Bench(scenario=load_scenario("impedance-step")).running(1, AMP_UA)
    bench.heartbeats(10.0)
    assert bench.faults(1) == Fault.NONE
    assert bench.telemetry(1)[-1].impedance_ohm == pytest.approx(3270, abs=1)


def test_shipped_link_silence_ends_in_the_watchdog_at_the_last_frame_plus_500_ms() -> None:
    bench = Bench(scenario=load_scenario("link-silence")).running(1, AMP_UA)
    keep_alive_until_fault(bench, 10.0)
    assert bench.faults(1) == Fault.WATCHDOG
    acked = [e["t"] for e in bench.entries("command", result="ack")]
    [output] = bench.entries("output", channel=1, cause="watchdog")
    assert output["t"] == pytest.approx(max(t for t in acked if t < output["t"]) + 0.5)
    assert 4.9 < max(acked) < 5.0  # nothing got through during the silence


def test_shipped_delayed_replies_arrive_400_ms_late_and_the_device_stays_fed() -> None:
    bench = Bench(scenario=load_scenario("delayed-replies")).running(1, AMP_UA)
    bench.heartbeats(4.95)
    assert bench.request(Heartbeat(), t=5.05) is None
    sent, seq = bench.t, bench.seq
    for t in (5.15, 5.25, 5.35):
        assert bench.request(Heartbeat(), t=t) is None
    bench.at(sent + 0.39)
    assert Bench.reply_to(seq, MsgType.HEARTBEAT, heard(bench)) is None
    bench.at(sent + 0.4)
    assert isinstance(Bench.reply_to(seq, MsgType.HEARTBEAT, heard(bench)), Ack)
    assert keep_alive_until_fault(bench, 10.0) is None  # the heartbeats did arrive


def persist(bench: Bench, request: Message, t: float) -> None:
    """Send ``request`` from ``t`` until it is ACKed (absolute commands bear repeating)."""
    for i in range(8):
        if isinstance(bench.request(request, t=t + 0.01 * i), Ack):
            return


@pytest.mark.parametrize(
    "scenario_id", ["corrupt-1e-3", "corrupt-1e-2", "drop-frames", "duplicate-frames"]
)
def test_shipped_noisy_link_never_turns_into_a_wrong_command(scenario_id: str) -> None:
    bench = Bench(scenario=load_scenario(scenario_id), seed=1)
    for i, request in enumerate((Identify(), configure(1), Start(0b01))):
        persist(bench, request, 0.1 * i)
    for i, amp in enumerate((1000, 2000), start=1):
        persist(bench, SetAmplitude(1, amp), 0.2 + 0.25 * i)
    keep_alive_until_fault(bench, 20.0)
    applied = [
        e["fields"]["amplitude_ua"]
        for e in bench.entries("command", type="SET_AMPLITUDE", result="ack")
    ]
    assert applied and set(applied) <= {1000, 2000}
    assert all(e["amplitude_ua"] in {0, 1000, 2000} for e in bench.entries("output"))


# ---- scenario clocks ----------------------------------------------------------------------


def test_clock_start_counts_from_the_first_accepted_start() -> None:
    off = {"kind": "electrode_off", "at_s": 1.0, "channel": 1}
    bench = Bench(scenario=scenario(off, clock="start"))
    bench.ok(configure(1))
    bench.at(30.0)  # nothing started: the scenario has not begun
    assert bench.ch(1).load.attached
    bench.ok(Start(0b01))
    bench.ok(SetAmplitude(1, 1000))
    assert bench.entries("scenario_clock")[0]["t"] == 30.0
    assert keep_alive_until_fault(bench, 35.0) == pytest.approx(31.1)
    assert bench.entries("inject")[0]["t"] == 31.0


def test_clock_boot_counts_from_power_up() -> None:
    off = {"kind": "electrode_off", "at_s": 1.0, "channel": 1}
    bench = Bench(scenario=scenario(off)).running(1, 1000)
    assert keep_alive_until_fault(bench, 5.0) == pytest.approx(1.1)


# ---- reboot -------------------------------------------------------------------------------


def rebooting(at_s: float = 2.0, offline_ms: float = 500) -> Bench:
    reboot = {"kind": "reboot", "at_s": at_s, "offline_ms": offline_ms}
    bench = Bench(scenario=scenario(reboot)).running(1, 2000)
    bench.ok(configure(2))
    bench.heartbeats(at_s - 0.1)
    return bench


def test_reboot_zeroes_outputs_clears_configs_and_latches_reboot() -> None:
    bench = rebooting().at(2.0)
    for n in (1, 2):
        assert bench.faults(n) == Fault.REBOOT
        assert (bench.amplitude(n), bench.ch(n).running, bench.ch(n).config) == (0, False, None)
    [entry] = bench.entries("output", channel=1, cause="power_loss")
    assert entry["t"] == 2.0


def test_a_rebooting_device_is_deaf_and_mute_while_offline() -> None:
    bench = rebooting().at(2.0)
    bench.received.clear()
    for t in (2.1, 2.2, 2.3, 2.49):
        assert bench.request(Identify(), t=t) is None
    assert not bench.received
    assert not bench.entries("command", type="IDENTIFY", t=2.1)


def test_after_reboot_the_device_sends_boot_with_reboot() -> None:
    bench = rebooting().at(2.0)
    bench.received.clear()
    bench.at(2.5)
    [boot] = bench.events(EventCode.BOOT)
    assert (boot.channel, boot.fault_flags, boot.time_ms) == (0xFF, Fault.REBOOT, 0)
    assert isinstance(bench.request(Identify(), seq=0), Ack)  # a fresh sequence


def test_after_reboot_nothing_starts_until_reset_3_s_after_boot() -> None:
    bench = rebooting().at(2.5)
    # the restart ended the host's session: its frames are another session's now
    assert bench.refused(configure(1), t=2.6) == ErrorCode.STALE_SESSION
    bench.ok(Identify())
    assert bench.refused(configure(1)) == ErrorCode.FAULT_LATCHED
    assert bench.refused(Start(0b01)) == ErrorCode.FAULT_LATCHED
    assert bench.refused(ResetFault(0b11), t=2.5 + 2.9) == ErrorCode.RESET_TOO_EARLY
    bench.ok(ResetFault(0b11), t=2.5 + 3.01)
    bench.ok(configure(1))
    bench.ok(Start(0b01))
    assert (bench.amplitude(1), bench.ch(1).running) == (0, True)


def test_a_reboot_does_not_latch_the_watchdog() -> None:
    bench = rebooting().at(10.0)
    assert bench.faults(1) == bench.faults(2) == Fault.REBOOT
    assert not bench.entries("watchdog")


def test_frames_sent_before_a_reboot_still_reach_the_host() -> None:
    reboot = {"kind": "reboot", "at_s": 1.5, "offline_ms": 200}
    bench = Bench(scenario=scenario(reboot))
    data = bench.frame(Heartbeat())
    bench.device.receive(data, 1.0)  # answered at 1.0 ...
    bench.at(2.0)  # ... and read by the host at 2.0
    assert any(isinstance(r.message, Ack) for r in bench.received)


# ---- link impairments ---------------------------------------------------------------------


def impaired(**quality: float) -> Bench:
    return Bench(scenario=scenario({"kind": "link_quality", "at_s": 1.0, **quality}), seed=3)


def test_drop_rate_1_means_no_replies_and_nothing_applied() -> None:
    bench = impaired(drop_rate=1.0)
    bench.ok(Identify(), t=0.5)
    bench.received.clear()
    assert bench.request(configure(1), t=1.0) is None
    bench.at(3.0)
    # the periodic telemetry of the tick at 1.0 itself left before the link went bad
    assert not [r for r in bench.received if r.t > 1.0]  # not even telemetry
    assert bench.ch(1).config is None


def test_a_link_that_loses_everything_ends_in_the_watchdog() -> None:
    bench = impaired(drop_rate=1.0).running(1, 1000)
    bench.heartbeats(0.9)
    keep_alive_until_fault(bench, 3.0)
    assert bench.faults(1) == Fault.WATCHDOG
    assert bench.entries("output", channel=1, cause="watchdog")[0]["t"] == pytest.approx(1.4)


def test_duplicate_rate_1_applies_a_request_once_and_nacks_the_copy() -> None:
    bench = impaired(duplicate_rate=1.0).running(1, 0).heartbeats(0.9)
    data = bench.frame(SetAmplitude(1, 1000))
    got = replies(bench.send_bytes(data, t=1.0))
    assert [(type(r).__name__, r.req_seq) for r in got] == [
        ("Ack", bench.seq),
        ("Ack", bench.seq),  # every frame to the host is doubled too
        ("Nack", bench.seq),
        ("Nack", bench.seq),
    ]
    assert {r.error_code for r in got if isinstance(r, Nack)} == {ErrorCode.STALE_SEQUENCE}
    results = [e["result"] for e in bench.entries("command", seq=bench.seq)]
    assert results == ["ack", "nack:STALE_SEQUENCE"]
    assert list(bench.ch(1).increases) == [(1.0, 1000)]


def test_duplicates_do_not_use_up_the_slew_window() -> None:
    bench = impaired(duplicate_rate=1.0).running(1, 0).heartbeats(0.9)
    for i, amp in enumerate((1000, 2000, 3000, 4000)):
        reply = Bench.reply_to(
            bench.seq + 1,
            MsgType.SET_AMPLITUDE,
            bench.send_bytes(bench.frame(SetAmplitude(1, amp)), t=1.0 + 0.1 * i),
        )
        assert isinstance(reply, Ack)
    assert bench.amplitude(1) == 4000


def test_seeded_corruption_repeats_exactly() -> None:
    def run(seed: int) -> list[dict[str, object]]:
        noisy = {"kind": "link_quality", "at_s": 0.0, "corruption_rate": 0.05}
        bench = Bench(scenario=scenario(noisy), seed=seed)
        for i in range(50):
            bench.request(Heartbeat(), t=0.1 * i)
        return bench.log

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_a_watchdog_trip_is_reported_even_when_a_scenario_event_follows_it() -> None:
    harmless = {"kind": "battery", "at_s": 0.8, "low": False}
    bench = Bench(scenario=scenario(harmless)).running(1, 1000)  # last frame at t = 0
    bench.at(1.0)
    assert bench.faults(1) == Fault.WATCHDOG
    assert (1, Fault.WATCHDOG) in {(e.channel, e.fault_flags) for e in bench.events()}
