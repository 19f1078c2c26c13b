"""The driver conformance suite every driver passes: what the engine relies on, whatever
protocol is underneath. Each driver runs against the simulator speaking its device's
protocol (``tensctl sim --personality``) behind a real pseudo-terminal, and each check
reads the simulator's own log — what the output stage delivered — not the driver's word.

The native protocol's own refusals (error codes, the device-side slew limit, reset
hold-offs) are in ``test_driver.py``; here only what holds for every device."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tensctl.drivers.base import ChannelSettings, Driver
from tensctl.drivers.errors import DriverError
from tensctl.drivers.registry import open_driver
from tensctl.model.library import find_device
from tensctl.testing import Simulator

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Target:
    personality: str
    profile: str


TARGETS = [
    Target("native", "tenssim-2ch"),
    Target("sciencemode2", "hasomed-rehastim2"),
    Target("sciencemode4", "hasomed-p24"),
]
SETTINGS = ChannelSettings(frequency_hz=40, pulse_width_us=200)


@dataclass
class Rig:
    target: Target
    process: Simulator
    driver: Driver

    def log(self) -> list[dict[str, Any]]:
        return self.process.log()

    def outputs(self, channel: int) -> list[dict[str, Any]]:
        return [e for e in self.log() if e["event"] == "output" and e["channel"] == channel]

    def last_ua(self, channel: int) -> int:
        outputs = self.outputs(channel)
        return int(outputs[-1]["amplitude_ua"]) if outputs else 0

    def ramp(self, channel: int, levels_ma: list[float]) -> None:
        """Configure, start and step up (1 mA steps keep the native slew limit happy)."""
        self.driver.configure(channel, SETTINGS)
        self.driver.start([channel])
        for level in levels_ma:
            self.driver.set_amplitude(channel, level)

    def keep_alive(self, duration_s: float) -> None:
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            self.driver.heartbeat()
            time.sleep(0.1)


@pytest.fixture(params=TARGETS, ids=[t.personality for t in TARGETS])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    target: Target = request.param
    process = Simulator(
        tmp_path / "sim.jsonl",
        personality=target.personality,
        control=tmp_path / "control.sock",
        extra=("--reset-clear-ms", "0"),
    )
    try:
        driver = open_driver(process.url)
    except BaseException:
        process.stop()
        raise
    rig = Rig(target, process, driver)
    try:
        driver.identify()
        yield rig
    finally:
        try:
            driver.close()
        finally:  # a failing close must not leave a simulator process behind
            assert process.stop() == 0, "the simulator must exit 0 on SIGTERM"


def test_identify_matches_the_device_profile(rig: Rig) -> None:
    profile, _ = find_device(rig.target.profile)
    info = rig.driver.identify()
    assert info.model == profile.model and info.channels == profile.channels
    assert info.max_amplitude_ma == profile.amplitude.max_ma


def test_ramp_and_stop_are_delivered_as_commanded(rig: Rig) -> None:
    rig.ramp(1, [1, 2, 3])
    rig.driver.stop([1])
    amplitudes = [e["amplitude_ua"] for e in rig.outputs(1)]
    assert [a for a in amplitudes if a] == [1000, 2000, 3000] and amplitudes[-1] == 0


def test_amplitudes_are_rounded_down_to_the_device_resolution_never_up(rig: Rig) -> None:
    rig.ramp(1, [1, 1.9])
    resolution_ua = find_device(rig.target.profile)[0].amplitude.resolution_ua
    delivered = rig.last_ua(1)
    assert 1000 <= delivered <= 1900 and 1900 - delivered < resolution_ua
    rig.driver.stop([1])


def test_only_the_commanded_channel_is_driven(rig: Rig) -> None:
    rig.ramp(2, [1, 2])
    assert rig.last_ua(2) == 2000
    assert all(e["amplitude_ua"] == 0 for e in rig.outputs(1))
    rig.driver.stop([2])
    assert rig.last_ua(2) == 0


def test_a_configuration_out_of_the_device_range_is_refused_and_nothing_changes(
    rig: Rig,
) -> None:
    rig.ramp(1, [1])
    profile, _ = find_device(rig.target.profile)
    too_wide = ChannelSettings(SETTINGS.frequency_hz, profile.pulse_width_us.max + 100)
    with pytest.raises(DriverError):
        rig.driver.configure(1, too_wide)
    assert rig.last_ua(1) == 1000
    rig.driver.stop([1])


def test_telemetry_reports_each_started_channel(rig: Rig) -> None:
    rig.ramp(1, [1, 2])
    rig.keep_alive(0.3)
    t = rig.driver.telemetry()[1]
    assert t.state == "on" and t.commanded_ma == 2
    assert math.isnan(t.delivered_peak_ma) or t.delivered_peak_ma == pytest.approx(2, abs=0.05)
    rig.driver.stop([1])


def test_emergency_stop_zeroes_every_channel_and_latches_until_reset(rig: Rig) -> None:
    rig.ramp(1, [1, 2])
    rig.ramp(2, [1])
    rig.driver.emergency_stop()
    assert rig.last_ua(1) == 0 and rig.last_ua(2) == 0
    with pytest.raises(DriverError):
        rig.driver.start([1])  # latched: no output until the fault is reset
    assert rig.last_ua(1) == 0
    time.sleep(0.1)
    rig.driver.reset_fault([1, 2])
    rig.ramp(1, [1])
    assert rig.last_ua(1) == 1000
    rig.driver.stop([1])


def test_the_device_stops_on_its_own_when_the_host_goes_silent(rig: Rig) -> None:
    watchdog_s = find_device(rig.target.profile)[0].watchdog_ms / 1000
    rig.ramp(1, [1, 2])
    time.sleep(watchdog_s + 0.6)  # the host says nothing
    assert rig.last_ua(1) == 0
    zeroed = rig.outputs(1)[-1]
    # what the host said before the device stopped (after it, a driver may answer the
    # device's own news, e.g. a RehaStim2's new Init)
    commands = [e["t"] for e in rig.log() if e["event"] == "command" and e["t"] <= zeroed["t"]]
    assert zeroed["t"] - max(commands) >= watchdog_s - 0.01


def test_heartbeats_keep_the_output_on(rig: Rig) -> None:
    watchdog_s = find_device(rig.target.profile)[0].watchdog_ms / 1000
    rig.ramp(1, [1])
    rig.keep_alive(watchdog_s * 1.5)
    assert rig.last_ua(1) == 1000
    rig.driver.stop([1])


def test_an_electrode_coming_off_stops_the_output_and_reaches_the_host(rig: Rig) -> None:
    rig.ramp(1, [1, 2])
    assert rig.process.inject(kind="electrode_off", channel=1)["ok"]
    rig.keep_alive(0.5)  # the device notices; the host hears of it (pushed or polled)
    assert rig.last_ua(1) == 0
    faults = [e for e in rig.driver.events() if e.kind == "fault"]
    assert faults and faults[0].channel in (1, None)
    assert rig.driver.telemetry()[1].state != "on"


def test_close_leaves_every_output_at_zero_and_is_safe_twice(rig: Rig) -> None:
    rig.ramp(1, [1, 2])
    rig.driver.close()
    rig.driver.close()
    time.sleep(0.1)
    assert rig.last_ua(1) == 0
