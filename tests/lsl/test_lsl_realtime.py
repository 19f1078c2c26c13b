"""In real time a marker is stamped on LSL's clock at the moment its event happens: against
the simulator as a real process, the operator's adjustment is stamped between the LSL
clock read just before it and just after, and set-points are stamped in the order they
were sent, as far apart as the session's own time."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import Receiver

import tensctl
from tensctl.engine.states import State
from tensctl.lsl import LslOptions
from tensctl.testing import SimulatorFactory

SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


def test_real_time_stamps_are_the_moment_of_the_event(
    tmp_path: Path, pylsl: Any, receiver: Receiver, tenssim_factory: SimulatorFactory
) -> None:
    with (
        tenssim_factory(transport="tcp") as sim,
        tensctl.connect(sim.url, journal=tmp_path / "s.sqlite3") as device,
        device.session(SHORT, screened=True, lsl=LslOptions(wait_s=20)) as session,
    ):
        session.run(background=True)
        deadline = time.monotonic() + 10
        while session.state is not State.stimulating and time.monotonic() < deadline:
            time.sleep(0.01)
        assert session.state is State.stimulating
        before = pylsl.local_clock()
        session.adjust(1, -1.0)
        after = pylsl.local_clock()
        session.wait(20)
        assert session.state is State.completed
    receiver.stop()
    stamped = [(stamp, json.loads(sample[0])) for stamp, sample in receiver.markers]
    (adjusted,) = [stamp for stamp, m in stamped if m["event"] == "adjust"]
    assert before <= adjusted <= after
    running = [(s, m["elapsed_s"]) for s, m in stamped if m["event"] == "setpoint"]
    assert len(running) > 10
    # stamped as they happened, in the session's order (how close a stamp comes to the
    # session's own time is a real-time figure, for bench/, not a threshold here)
    assert [s for s, _ in running] == sorted(s for s, _ in running)
    assert [e for _, e in running] == sorted(e for _, e in running)
    assert running[-1][0] - running[0][0] >= running[-1][1] - running[0][1] - 0.5
    info = ET.fromstring(receiver.infos["Markers"].as_xml())
    assert info.findtext("desc/time_base/clock") == "real"
    assert info.findtext("desc/device/url") == sim.address
    # the telemetry came at its own rate (about 1 Hz), with the device's delivered amplitude
    # at the adjusted target (5 mA less 1: the adjustment came as the ramp up ended)
    delivered = [sample[1] for _, sample in receiver.amplitude]
    assert len(delivered) >= 4 and max(delivered) == pytest.approx(4.0, abs=0.05)
