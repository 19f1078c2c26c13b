"""The P24 personality in-process: one acknowledge per request with its packet number,
states, parameter errors that change nothing, the 2 s keep-alive, the ramp, and errors from
the load model in Ml_get_current_data."""

from __future__ import annotations

import pytest
from sm4_helpers import Host, biphasic, update
from tenssim.device import SimDevice
from tenssim.scenario import load_scenario

from tensctl.model.library import find_device
from tensctl.wire.sciencemode4 import (
    ChannelError,
    Command,
    Deframer,
    GeneralError,
    GetDeviceId,
    GetDeviceIdAck,
    GetExtendedVersion,
    GetStimStatus,
    Message,
    MlChannel,
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlInit,
    MlStop,
    MlUpdate,
    Packet,
    Point,
    Result,
    StimStatus,
    UnknownCommand,
    decode_message,
    encode_frame,
)

REQUESTS: list[Message] = [
    GetDeviceId(),
    GetStimStatus(),
    GetExtendedVersion(),
    MlInit(),
    update(ch1=biphasic(5)),
    MlGetCurrentData(),
    MlStop(),
]


@pytest.mark.parametrize("number", [0, 1, 37, 63])
def test_one_ack_per_request_with_its_packet_number(number: int) -> None:
    host = Host()
    for i, message in enumerate(REQUESTS):
        reply = host.send(message, 0.1 * i, number=number)
        assert (reply.command, reply.number) == (message.COMMAND + 1, number)
        assert getattr(decode_message(reply), "result", None) == Result.OK
    assert len(host.commands()) == len(REQUESTS)


def test_identity_from_options() -> None:
    host = Host(serial="SIM-P24-42")
    assert host.ask(GetDeviceId(), 0.0) == GetDeviceIdAck(Result.OK, "SIM-P24-42")
    version = host.ask(GetExtendedVersion(), 0.0)
    assert version.science_mode[0] == 4


def test_unknown_and_device_to_host_commands() -> None:
    host = Host()
    for command in (0, 2, 33, 53, 500):  # low level is not simulated; acks are not requests
        reply = host.send_raw(command)
        assert reply.command == Command.UNKNOWN_COMMAND
        assert decode_message(reply) == UnknownCommand(Result.INVALID_COMMAND)


def test_bad_checksum_gets_a_transfer_error_and_changes_nothing() -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    raw = bytearray(update(ch1=biphasic(10)).encode(5))
    raw[-2] ^= 0x01
    (reply,) = host.raw(bytes(raw), 0.1)
    assert decode_message(reply) == GeneralError(Result.TRANSFER_ERROR)
    assert not host.fw.channel(1).running
    assert not [c for c in host.commands() if c["type"] == "ML_UPDATE"]


def test_states_and_not_initialised() -> None:
    host = Host()
    for message in (update(ch1=biphasic(10)), MlGetCurrentData(), MlStop()):
        assert host.ask(message, 0.0).result == Result.NOT_INITIALIZED
    assert not host.outputs()
    assert host.ask(GetStimStatus(), 0.0).status == StimStatus.NO_LEVEL
    assert host.ask(GetStimStatus(), 0.0).high_voltage == 1
    host.ask(MlInit(), 0.1)
    status = host.ask(GetStimStatus(), 0.1)
    assert (status.status, status.high_voltage) == (StimStatus.MID_LEVEL_INITIALIZED, 6)
    host.ask(update(ch1=biphasic(10)), 0.2)
    assert host.ask(GetStimStatus(), 0.3).status == StimStatus.MID_LEVEL_RUNNING
    assert host.ask(MlStop(), 0.4).result == Result.OK
    assert host.ask(GetStimStatus(), 0.5).status == StimStatus.NO_LEVEL
    assert host.ask(update(ch1=biphasic(10)), 0.6).result == Result.NOT_INITIALIZED
    assert [(o["running"], o["amplitude_ua"]) for o in host.outputs()] == [
        (True, 10000),
        (False, 0),
    ]


def test_update_drives_the_output_stage() -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    assert host.ask(update(ch1=biphasic(12.5, 300, 20), ch3=biphasic(7, 150, 10)), 0.1).result == 0
    ch1, ch3 = host.fw.channel(1), host.fw.channel(3)
    assert ch1.running and ch1.amplitude_ua == 12500
    assert ch1.config is not None and (ch1.config.frequency_mhz, ch1.config.pulse_width_us) == (
        50000,
        300,
    )
    assert ch3.amplitude_ua == 7000 and ch3.config is not None
    assert ch3.config.frequency_mhz == 100000
    # a channel missing from the next update stops; the other changes
    host.ask(update(ch3=biphasic(8, 150, 10)), 0.2)
    assert not ch1.running and ch3.amplitude_ua == 8000
    logged = host.commands()[-1]["fields"]["channels"]
    assert logged == {
        "3": {
            "points": [[150, 8.0], [150, -8.0]],
            "period_ms": 10.0,
            "ramp": 0,
            "frequency_hz": 100.0,
            "pulse_width_us": 150,
            "amplitude_ma": 8.0,
            "net_charge_nc": 0.0,
        }
    }


@pytest.mark.parametrize(
    "bad",
    [
        update(ch1=MlChannel((Point(200, 10), Point(200, -10)), 0.25, quarter_ms=True)),
        update(ch1=MlChannel((Point(4000, 10), Point(4000, -10)), 5.0)),  # pulse > period
    ],
)
def test_parameter_error_leaves_the_output_unchanged(bad: MlUpdate) -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    host.ask(update(ch1=biphasic(10), ch2=biphasic(4)), 0.1)
    before = host.fw.outputs()
    logged = len(host.outputs())
    assert host.ask(bad, 0.2).result == Result.PARAMETER_ERROR
    assert host.fw.outputs() == before and len(host.outputs()) == logged
    assert host.commands()[-1]["result"] == "PARAMETER_ERROR"


def test_out_of_range_current_code_is_a_parameter_error() -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    host.ask(update(ch1=biphasic(10)), 0.1)
    before = host.fw.outputs()
    point = ((200 << 20) | (601 << 10)).to_bytes(4, "big")  # 150.5 mA
    (reply,) = host.raw(encode_frame(9, Command.ML_UPDATE, b"\x01\x00\x00\x32" + point), 0.2)
    assert (reply.command, reply.number) == (Command.ML_UPDATE_ACK, 9)
    assert decode_message(reply).result == Result.PARAMETER_ERROR  # type: ignore[union-attr]
    assert host.fw.outputs() == before


def test_unbalanced_pulse_is_accepted_with_a_warning() -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    monophasic = MlChannel((Point(200, 10),), 25.0)
    assert host.ask(update(ch1=monophasic), 0.1).result == Result.OK
    fields = host.commands()[-1]["fields"]["channels"]["1"]
    assert fields["net_charge_nc"] == 2000.0 and "not charge balanced" in fields["warning"]
    host.fw.tick(1.1)
    assert host.fw.channel(1).net_charge_pc == pytest.approx(40 * 2000e3, rel=0.01)


@pytest.mark.parametrize(("lenient", "keep_alive_s"), [(False, 2.0), (True, 4.0)])
def test_keep_alive_stops_stimulation(lenient: bool, keep_alive_s: float) -> None:
    host = Host(lenient=lenient)
    host.ask(MlInit(), 0.0)
    host.ask(update(ch1=biphasic(10)), 1.0)
    host.ask(MlGetCurrentData(), 1.0 + keep_alive_s - 0.5)  # keeps it alive
    host.sim.tick(1.0 + 2 * keep_alive_s - 0.6)
    assert host.fw.channel(1).running
    host.sim.tick(1.0 + 2 * keep_alive_s - 0.4)
    assert not host.fw.channel(1).running
    assert [e["channel"] for e in host.outputs("keep_alive_timeout")][:1] == [1]
    data = host.ask(MlGetCurrentData(), 20.0)
    assert data.result == Result.OK and not any(data.active) and not any(data.errors)
    # mid level stays initialised: Ml_update starts it again
    assert host.ask(update(ch1=biphasic(10)), 21.0).result == Result.OK
    assert host.fw.channel(1).running


def test_refused_update_does_not_keep_alive() -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    host.ask(update(ch1=biphasic(10)), 0.0)
    bad = update(ch1=MlChannel((Point(4000, 10), Point(4000, -10)), 5.0))
    assert host.ask(bad, 1.5).result == Result.PARAMETER_ERROR
    host.sim.tick(2.1)
    assert not host.fw.channel(1).running


def test_ramp_rises_pulse_by_pulse_when_enabled() -> None:
    host = Host()
    host.ask(MlInit(), 0.0)
    ramped = MlChannel((Point(200, 20), Point(200, -20)), 25.0, ramp=3)
    host.ask(update(ch1=ramped), 1.0)
    seen = [host.fw.channel(1).amplitude_ua]
    for k in range(1, 6):
        host.sim.tick(1.0 + 0.025 * k + 0.001)
        seen.append(host.fw.channel(1).amplitude_ua)
    assert seen == [5000, 10000, 15000, 20000, 20000, 20000]
    assert [o["cause"] for o in host.outputs()] == ["ml_update", "ramp", "ramp", "ramp"]
    # an update of a running channel is not a new enable: no ramp
    host.ask(update(ch1=MlChannel((Point(200, 10), Point(200, -10)), 25.0, ramp=3)), 1.2)
    assert host.fw.channel(1).amplitude_ua == 10000


def _device_replies(device: SimDevice, deframer: Deframer, now_s: float) -> list[Message]:
    out = []
    for item in deframer.feed(device.take_output(now_s)):
        assert isinstance(item, Packet)
        message = decode_message(item)
        assert isinstance(message, Message)
        out.append(message)
    return out


@pytest.mark.parametrize("stop_all", [False, True])
def test_current_data_reports_electrode_error_after_electrode_off(stop_all: bool) -> None:
    profile, _ = find_device("hasomed-p24")
    device = SimDevice(
        profile,
        0.0,
        scenario=load_scenario("electrode-off"),
        personality="sciencemode4",
        log=lambda e: None,
    )
    deframer, t = Deframer(), 0.0
    device.receive(MlInit(stop_all).encode(1), t)
    device.receive(update(ch1=biphasic(10), ch2=biphasic(10)).encode(2), t)
    assert len(_device_replies(device, deframer, t)) == 2
    data = None
    while t < 6.0:  # the electrode comes off 5 s after the start
        t += 0.5
        device.receive(MlGetCurrentData().encode(3), t)
        (data,) = _device_replies(device, deframer, t)
    assert isinstance(data, MlGetCurrentDataAck) and data.result == Result.OK
    assert data.errors[0] == ChannelError.ELECTRODE and not data.active[0]
    assert data.active[1] is (not stop_all) and data.errors[1] == ChannelError.NONE
    # enabling the channel again clears the error; it trips again while the electrode is off
    device.receive(update(ch1=biphasic(10)).encode(4), t)
    device.receive(MlGetCurrentData().encode(5), t)
    again = _device_replies(device, deframer, t)[1]
    assert isinstance(again, MlGetCurrentDataAck)
    assert again.active[0] and again.errors[0] == ChannelError.NONE
    device.receive(MlGetCurrentData().encode(6), t + 0.1)
    (later,) = _device_replies(device, deframer, t + 0.1)
    assert isinstance(later, MlGetCurrentDataAck) and later.errors[0] == ChannelError.ELECTRODE
