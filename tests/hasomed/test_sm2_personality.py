"""The RehaStim2 personality in-process on a virtual clock: connection, replies, limits,
watchdog, stimulation errors and pulse accounting."""

from __future__ import annotations

import pytest
from sm2_helpers import Sm2Sim
from tenssim.scenario import Battery, ElectrodeOff, OverCurrent

from tensctl.wire.sciencemode2 import (
    ChannelEntry,
    Command,
    GetStimulationMode,
    GetStimulationModeAck,
    Init,
    InitAck,
    InitChannelListMode,
    InitChannelListModeAck,
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
)


def _running(sim: Sm2Sim) -> dict[int, int]:
    return {s["channel"]: s["amplitude_ua"] for s in sim.status() if s["running"]}


# ---- connection ---------------------------------------------------------------------------


def test_init_repeats_every_500_ms_with_its_own_counter_until_init_ack() -> None:
    sim = Sm2Sim()
    first = sim.at(0.0)
    assert first == [Init(0, 1)]
    seen = sim.at(1.6)
    assert seen == [Init(1, 1), Init(2, 1), Init(3, 1)]
    times = [e["t"] for e in sim.entries if e["event"] == "command"]
    assert times == []
    assert sim.send(InitAck(3, 0)) == []  # never answered
    sim.send(Watchdog(1), 2.5)
    assert [m for m in sim.at(3.0) if isinstance(m, Init)] == []


def test_init_ack_with_any_packet_number_connects() -> None:
    sim = Sm2Sim()
    sim.at(0.1)
    sim.send(InitAck(0xD4, 0))  # pysciencemode "stuffs" 0x81 into 0xD4
    assert [m for m in sim.at(1.0) if isinstance(m, Init)] == []


def test_every_command_is_answered_exactly_once() -> None:
    sim = Sm2Sim()
    sim.connect()
    requests = [
        GetStimulationMode(10),
        InitChannelListMode(11, 0, 0b1, 0, 13, 98, 0),
        StartChannelListMode(12, (ChannelEntry(0, 200, 5),)),
        GetStimulationMode(13),
        SinglePulse(14, 0, 100, 5),  # wrong mode while started
        StopChannelListMode(15),
        SinglePulse(16, 0, 100, 5),
        StopChannelListMode(17),
    ]
    replies = []
    for i, request in enumerate(requests):
        replies += sim.send(request, 0.01 * (i + 1))
    replies += sim.send(build_frame(18, 99), 0.2)  # no such command
    replies += sim.send(build_frame(19, 50, b"\x00"), 0.21)  # MOTOmed, none attached
    replies += sim.send(Watchdog(20), 0.22)  # never answered
    replies += sim.send(Init(21, 1), 0.23)  # a device → host command
    numbers = [r.packet_number for r in replies]
    assert numbers == [*range(10, 20), 21]
    assert replies[0] == GetStimulationModeAck(10, 0, 0)
    assert replies[3] == GetStimulationModeAck(13, 0, 2)
    assert replies[4] == SinglePulseAck(14, -3)
    assert replies[6] == SinglePulseAck(16, 0)
    assert replies[8] == UnknownCommand(18, 99)
    assert replies[10] == UnknownCommand(21, Command.INIT)
    motomed = replies[9]
    assert getattr(motomed, "command", None) == 51 and getattr(motomed, "data", None) == b"\xfc"


def test_a_damaged_frame_gets_the_transfer_error_and_does_not_feed_the_watchdog() -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.start({1: (0, 200, 10)})
    frame = bytearray(StartChannelListMode(40, (ChannelEntry(0, 200, 30),)).encode())
    frame[-2] ^= 0x01  # a data bit: the checksum no longer matches
    assert sim.send(bytes(frame), 1.0) == [StartChannelListModeAck(40, -1)]
    assert _running(sim) == {1: 10_000}
    sim.at(1.2)  # the last valid packet was at 0.0: the watchdog fires
    assert _running(sim) == {}


# ---- parameters and modes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        StartChannelListMode(50, (ChannelEntry(0, 200, 131), ChannelEntry(0, 200, 5))),
        StartChannelListMode(50, (ChannelEntry(0, 501, 5), ChannelEntry(0, 200, 5))),
        StartChannelListMode(50, (ChannelEntry(3, 200, 5), ChannelEntry(0, 200, 5))),
        StartChannelListMode(50, (ChannelEntry(0, 200, 5),)),  # one entry, two channels
        StartChannelListMode(
            50, (ChannelEntry(2, 200, 5), ChannelEntry(0, 200, 5))
        ),  # 3 × 8 ms > 20 ms
    ],
)
def test_a_parameter_error_leaves_the_output_unchanged(bad: StartChannelListMode) -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.start({1: (0, 200, 10), 2: (0, 300, 7)}, main_code=38)  # 20 ms
    before = len(sim.outputs())
    assert sim.send(bad, 0.1) == [StartChannelListModeAck(50, -2)]
    assert _running(sim) == {1: 10_000, 2: 7_000}
    assert len(sim.outputs()) == before
    assert sim.commands()[-1]["result"] == "nack:PARAMETER_ERROR"


def test_modes_follow_the_document() -> None:
    sim = Sm2Sim()
    sim.connect()
    start = StartChannelListMode(1, (ChannelEntry(0, 100, 5),))
    assert sim.send(start) == [StartChannelListModeAck(1, -3)]  # not initialised
    bad_init = InitChannelListMode(2, 8, 1, 0, 13, 98, 0)
    assert sim.send(bad_init) == [InitChannelListModeAck(2, -2)]
    malformed = build_frame(3, Command.INIT_CHANNEL_LIST_MODE, b"\x00\x01")
    assert sim.send(malformed) == [InitChannelListModeAck(3, -2)]
    init, started = sim.start({1: (0, 100, 5)})
    assert init[0].result == 0 and started[0].result == 0
    again = InitChannelListMode(9, 0, 1, 0, 13, 98, 0)
    assert sim.send(again) == [InitChannelListModeAck(9, -3)]  # not while started
    assert sim.send(StopChannelListMode(10)) == [StopChannelListModeAck(10, 0)]
    assert sim.send(StopChannelListMode(11)) == [StopChannelListModeAck(11, 0)]  # always
    assert _running(sim) == {}


def test_short_intervals_run_at_8_ms_and_widths_below_20_us_at_20() -> None:
    sim = Sm2Sim()
    sim.connect()
    init, start = sim.start({1: (0, 5, 10)}, main_code=2, ipi_code=1)  # 2 ms, 2 ms
    assert init[0].result == 0 and start[0].result == 0
    sim.send(Watchdog(0), 1.0)
    channel = sim.status()[0]
    assert channel["pulses"] == pytest.approx(125, abs=1)  # 1 s at 1 / 8 ms
    assert channel["delivered_charge_pc"] == pytest.approx(125 * 2 * 10_000 * 20, rel=0.01)


# ---- pulse accounting ---------------------------------------------------------------------


def test_single_doublet_triplet_and_low_frequency_channels_count_their_pulses() -> None:
    sim = Sm2Sim()
    sim.connect()
    # 50 ms list (20 Hz), inter pulse 10 ms; channel 4 is skipped once in two (10 Hz)
    sim.start(
        {1: (0, 200, 10), 2: (1, 200, 10), 3: (2, 200, 10), 4: (0, 200, 10)},
        main_code=98,
        ipi_code=17,
        lf_factor=1,
        lf_mask=0b1000,
    )
    sim.send(Watchdog(0), 1.0)
    sim.send(Watchdog(0), 2.0)
    pulses = {s["channel"]: s["pulses"] for s in sim.status()}
    assert pulses[1] == pytest.approx(40)
    assert pulses[2] == pytest.approx(80)
    assert pulses[3] == pytest.approx(120)
    assert pulses[4] == pytest.approx(20)


def test_one_shot_list_pulses_once_per_start() -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.start({1: (1, 200, 10), 2: (0, 200, 0)}, main_code=0)
    sim.send(StartChannelListMode(7, (ChannelEntry(1, 200, 10), ChannelEntry(0, 200, 4))), 0.5)
    pulses = {s["channel"]: s["pulses"] for s in sim.status()}
    assert pulses[1] == 4 and pulses[2] == 1
    assert _running(sim) == {}
    logged = [(e["channel"], e["count"]) for e in sim.entries if e["event"] == "pulse"]
    assert logged == [(1, 2), (1, 2), (2, 1)]


# ---- watchdog ---------------------------------------------------------------------------------


def test_watchdog_stops_stimulation_and_restarts_the_init_cycle() -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.start({1: (0, 200, 10)})
    assert sim.at(1.19) == []
    assert _running(sim) == {1: 10_000}
    out = sim.at(1.21)
    assert _running(sim) == {}
    assert [type(m) for m in out] == [Init]
    stop = [e for e in sim.outputs() if not e["running"]]
    assert stop[0]["t"] == pytest.approx(1.2) and stop[0]["cause"] == "watchdog"
    assert sim.send(GetStimulationMode(5)) == [GetStimulationModeAck(5, 0, 0)]  # modes reset
    assert [type(m) for m in sim.at(1.75)] == [Init]


def test_watchdog_resets_the_modes_even_without_an_init_ack() -> None:
    sim = Sm2Sim()
    sim.start({1: (0, 200, 10)})  # commands are taken before the host answers Init
    assert _running(sim) == {1: 10_000}
    sim.at(1.19)
    assert sim.send(GetStimulationMode(5)) == [GetStimulationModeAck(5, 0, 2)]
    out = sim.at(2.4)  # 1.2 s after the last valid packet
    assert _running(sim) == {}
    assert [e["t"] for e in sim.entries if e["event"] == "sm2_watchdog"] == [pytest.approx(2.39)]
    assert Init in [type(m) for m in out]
    assert sim.send(GetStimulationMode(6)) == [GetStimulationModeAck(6, 0, 0)]  # modes reset
    sim.at(6.0)  # the packet at 2.4 s armed it again; it fires once per silence
    fired = [e["t"] for e in sim.entries if e["event"] == "sm2_watchdog"]
    assert fired == [pytest.approx(2.39), pytest.approx(3.6)]


def test_lenient_watchdog_allows_three_seconds() -> None:
    sim = Sm2Sim(lenient=True)
    sim.connect()
    sim.start({1: (0, 200, 10)})
    sim.at(2.9)
    assert _running(sim) == {1: 10_000}
    sim.send(Watchdog(1))
    sim.at(5.85)
    assert _running(sim) == {1: 10_000}
    sim.at(5.95)
    assert _running(sim) == {}


# ---- stimulation errors -------------------------------------------------------------------


def test_electrode_off_pushes_an_electrode_error_and_needs_a_new_init() -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.start({1: (0, 200, 10), 2: (0, 200, 10)})
    out = sim.inject(ElectrodeOff(kind="electrode_off", at_s=0, channel=1))
    out += sim.at(0.01)
    assert [m for m in out if isinstance(m, StimulationError)] == [StimulationError(1, -2)]
    assert _running(sim) == {}  # the whole list stops
    assert sim.send(GetStimulationMode(3)) == [GetStimulationModeAck(3, 0, 0)]
    start = StartChannelListMode(4, (ChannelEntry(0, 200, 10), ChannelEntry(0, 200, 10)))
    assert sim.send(start) == [StartChannelListModeAck(4, -3)]
    # re-initialised: the electrode is still off, so the first pulse fails again
    sim.start({2: (0, 200, 10)})
    assert _running(sim) == {2: 10_000}
    sim.send(StopChannelListMode(8))
    sim.start({1: (0, 200, 10)})
    errors = [m for m in sim.at(0.05) if isinstance(m, StimulationError)]
    assert [e.error for e in errors] == [-2]


def test_over_current_and_low_battery_are_module_errors() -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.start({1: (0, 200, 10)})
    sim.inject(OverCurrent(kind="over_current", at_s=0, channel=1, active=True))
    errors = [m for m in sim.at(0.01) if isinstance(m, StimulationError)]
    assert [e.error for e in errors] == [-3]
    sim.inject(OverCurrent(kind="over_current", at_s=0, channel=1, active=False))
    sim.start({1: (0, 200, 10)})
    assert _running(sim) == {1: 10_000}
    out = sim.inject(Battery(kind="battery", at_s=0, low=True))
    assert [m.error for m in out if isinstance(m, StimulationError)] == [-3]
    assert _running(sim) == {}


def test_single_pulse_on_an_open_electrode_is_not_delivered() -> None:
    sim = Sm2Sim()
    sim.connect()
    sim.inject(ElectrodeOff(kind="electrode_off", at_s=0, channel=3))
    out = sim.send(SinglePulse(1, 2, 200, 20))
    assert out == [SinglePulseAck(1, 0), StimulationError(1, -2)]
    assert sim.status()[2]["pulses"] == 0
