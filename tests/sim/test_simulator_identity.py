"""The simulator tells the host it is one — its serial begins with ``SIM-`` — on every
transport (in-process, pty, TCP) and personality (native, ScienceMode2, ScienceMode4), and
the drivers read it; a device that does not say so is not taken for the simulator."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from tenssim.firmware import Firmware
from tenssim.personality import PersonalityOptions

import tensctl
from tensctl.drivers.base import ChannelSettings, DriverOptions
from tensctl.drivers.registry import open_driver
from tensctl.drivers.sciencemode2 import ScienceMode2Driver
from tensctl.model.library import find_device
from tensctl.testing import PERSONALITIES, Simulator
from tensctl.wire.sciencemode2 import (
    Command,
    Packet,
    SimIdentify,
    SimIdentifyAck,
    UnknownCommand,
    decode,
)
from tensctl.wire.sciencemode2.framing import Deframer
from tensctl.wire.simulator import is_simulator_serial, simulator_serial

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hasomed"))
from sm2_helpers import LiveRehaStim, SlowRehaStim

pytestmark = pytest.mark.timeout(90)


def test_a_simulator_serial_always_begins_with_sim() -> None:
    assert simulator_serial("P24-7") == "SIM-P24-7"
    assert simulator_serial("SIM-0042") == "SIM-0042"
    assert simulator_serial("sim-x") == "sim-x" and is_simulator_serial("sim-x")
    assert not is_simulator_serial("") and not is_simulator_serial("TS-0001")
    assert not is_simulator_serial("P24 SIM-1")  # a prefix, not anywhere in it
    profile, _ = find_device("tenssim-2ch")
    assert Firmware(profile, 0.0, "4242").serial == "SIM-4242"  # whatever it is given


def test_the_sciencemode2_identity_query_round_trips() -> None:
    frames = Deframer().feed(SimIdentifyAck(7, "SIM-0001").encode())
    [packet] = [f for f in frames if isinstance(f, Packet)]
    assert packet.command == Command.SIM_IDENTIFY_ACK == 0xE1
    assert decode(packet) == SimIdentifyAck(7, "SIM-0001")
    assert decode(Packet(3, Command.SIM_IDENTIFY, b"")) == SimIdentify(3)
    assert not isinstance(decode(Packet(3, Command.SIM_IDENTIFY_ACK, b"\xfe")), SimIdentifyAck)


def test_in_process_the_simulator_is_simulated() -> None:
    with tensctl.connect("sim://", virtual=True, journal=False) as device:
        assert device.info.serial == "SIM-0001" and device.info.simulated
        assert device.simulated


@pytest.mark.parametrize(
    ("personality", "transport"),
    [(p, t) for p in PERSONALITIES for t in ("pty", "tcp")],
)
def test_every_personality_on_every_transport_says_it_is_the_simulator(
    personality: str, transport: str, tmp_path: Path
) -> None:
    with Simulator(
        tmp_path / "sim.jsonl", personality=personality, transport=transport, serial="0042"
    ) as sim:
        driver = open_driver(sim.url, DriverOptions())
        try:
            info = driver.identify()
        finally:
            driver.close()
    assert info.serial == "SIM-0042" and info.simulated, info


class RealRehaStim(SlowRehaStim):
    """Answers the simulator's identity query as a RehaStim2 answers any command number it
    does not know: UnknownCommand, echoing it."""

    asked_identity = False

    def handle(self, packet: Packet, now_s: float) -> list[bytes]:
        if packet.command == Command.SIM_IDENTIFY:
            self.asked_identity = True
            return [
                *self.tick(now_s),
                UnknownCommand(packet.packet_number, packet.command).encode(),
            ]
        return super().handle(packet, now_s)


@pytest.mark.parametrize(
    ("personality", "simulated"), [(SlowRehaStim, True), (RealRehaStim, False)]
)
def test_sciencemode2_is_the_simulator_only_when_it_answers_the_identity_query(
    personality: type[SlowRehaStim], simulated: bool
) -> None:
    live = LiveRehaStim(personality)
    try:
        driver = ScienceMode2Driver(live.port, "sciencemode2://in-process", live.profile)
        try:
            info = driver.identify()
            driver.configure(1, ChannelSettings(frequency_hz=40, pulse_width_us=200))
            driver.start([1])  # the query changed nothing: the device is controlled as before
            driver.set_amplitude(1, 2.0)
            time.sleep(0.05)
        finally:
            driver.close()
    finally:
        live.close()
    assert info.simulated is simulated
    assert info.serial == ("SIM-0001" if simulated else "")
    asked = [kind for kind, _ in live.commands()]
    if simulated:
        assert asked[:4] == ["InitAck", "StopChannelListMode", "GetStimulationMode", "SimIdentify"]
    else:
        assert isinstance(live.personality, RealRehaStim) and live.personality.asked_identity
    assert (True, 2000) in live.outputs(1)


def test_personality_options_carry_no_serial() -> None:
    """The firmware's serial is the one every personality reports (there is no second)."""
    assert not hasattr(PersonalityOptions(), "serial")
