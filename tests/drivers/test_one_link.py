"""What every driver does the same since they share one link and one argument check: a
subscriber that raises is logged and the driver goes on, and an argument no device could
take is an InputError (exit code 3) before anything is sent. Each driver runs against the
simulator speaking its protocol, as a process behind a real pseudo-terminal."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tensctl
from tensctl.drivers.base import ChannelSettings, DeviceEvent, Driver
from tensctl.engine.states import State
from tensctl.errors import InputError, exit_code
from tensctl.testing import PERSONALITIES, Simulator

pytestmark = pytest.mark.timeout(90)

SETTINGS = ChannelSettings(frequency_hz=40, pulse_width_us=200)
SHORT_40HZ = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short-40hz.yaml"


@dataclass
class Rig:
    sim: Simulator
    url: str

    def commands(self) -> int:
        return sum(1 for e in self.sim.log() if e["event"] == "command")


@pytest.fixture(params=sorted(PERSONALITIES))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    personality: str = request.param
    sim = Simulator(
        tmp_path / "sim.jsonl", personality=personality, extra=("--reset-clear-ms", "0")
    )
    try:
        yield Rig(sim, sim.url)
    finally:
        assert sim.stop() == 0, "the simulator must exit 0 on SIGTERM"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_raising_subscriber_leaves_the_driver_and_a_session_running(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    protocol = tmp_path / "e2e-3s-40hz.yaml"  # 6 s is more than needed: 3 s, 5 mA, 40 Hz
    text = SHORT_40HZ.read_text(encoding="utf-8").replace("duration_s: 6", "duration_s: 3")
    protocol.write_text(text, encoding="utf-8")
    heard: list[DeviceEvent] = []

    def broken(event: DeviceEvent) -> None:
        heard.append(event)
        raise RuntimeError("a subscriber's own bug")

    with tensctl.connect(rig.url, journal=False) as device:
        driver = device.driver
        driver.subscribe(broken)
        driver.emergency_stop()  # every driver reports the latched fault as an event
        wait_for(lambda: bool(heard), "the subscriber was never called")
        channels = list(range(1, device.info.channels + 1))
        driver.reset_fault(channels)
        for _ in range(3):
            driver.heartbeat()
        driver.configure(1, SETTINGS)
        driver.start([1])
        for level in (1, 2, 1, 0):
            driver.set_amplitude(1, level)
            driver.heartbeat()
        driver.stop([1])
        assert all(e.kind != "link_lost" for e in driver.events())
        with device.session(protocol, screened=True) as session:
            assert session.run() is State.completed
        driver.heartbeat()  # the link still works after the session
    assert "an event callback failed" in caplog.text


def _bad_calls() -> dict[str, Callable[[Driver], Any]]:
    return {
        "a NaN amplitude": lambda d: d.set_amplitude(1, math.nan),
        "an infinite amplitude": lambda d: d.set_amplitude(1, math.inf),
        "a negative amplitude": lambda d: d.set_amplitude(1, -1.0),
        "an unknown channel": lambda d: d.set_amplitude(9, 1.0),
        "channel 0": lambda d: d.set_amplitude(0, 1.0),
        "a bool for a channel": lambda d: d.set_amplitude(True, 1.0),
        "configure of an unknown channel": lambda d: d.configure(9, SETTINGS),
        "impedance of an unknown channel": lambda d: d.measure_impedance(9),
        "start of an unknown channel": lambda d: d.start([9]),
        "stop of channel 0": lambda d: d.stop([0]),
        "fault reset of an unknown channel": lambda d: d.reset_fault([9]),
        "no channel at all": lambda d: d.start([]),
    }


def test_bad_arguments_are_input_errors_on_every_driver_and_nothing_is_sent(rig: Rig) -> None:
    with tensctl.connect(rig.url, journal=False) as device:
        driver = device.driver
        driver.configure(1, SETTINGS)
        driver.start([1])
        driver.set_amplitude(1, 1.0)  # answered: the simulator has logged it
        before = rig.commands()
        wrong: dict[str, str] = {}
        for name, call in _bad_calls().items():
            try:
                call(driver)
            except InputError as exc:
                assert exc.exit_code == exit_code("input") == 3
                message = str(exc)
                assert "channel" in message or "amplitude" in message, message
                assert "int" not in message.split() and "<class" not in message, message
            except Exception as exc:  # the old drivers: a device refusal (exit code 5)
                wrong[name] = f"{type(exc).__name__}: {exc}"
            else:
                wrong[name] = "accepted"
        assert wrong == {}
        driver.set_amplitude(1, 0.0)  # one command, answered: logged after anything before it
        assert rig.commands() == before + 1, "a refused argument reached the device"
        driver.stop([1])
