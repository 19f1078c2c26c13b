"""Conformance against a device given by URL, a real one included: only what can be checked
through the driver itself (identity, refusals, telemetry, the watchdog, the emergency-stop
latch), never the simulator's log, and always at the lowest amplitude the device allows.

    pytest tests/conformance/test_device.py --device sciencemode4:///dev/ttyUSB0 \\
        --test-load-connected

Without ``--device`` every test here is skipped with the reason. ``--device`` drives a real
output stage, so pytest refuses to start without ``--test-load-connected`` (the outputs on a
test load, e.g. a 1 kΩ resistor, not on a person). test_device_option.py runs this file with
the simulator's pty given as if it were the hardware."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tensctl.drivers.base import ChannelSettings, DeviceInfo, Driver
from tensctl.drivers.errors import DriverError
from tensctl.drivers.registry import open_driver
from tensctl.model.device import DeviceProfile
from tensctl.model.library import device_dirs, library_files
from tensctl.model.loader import load_device

pytestmark = pytest.mark.timeout(60)
CHANNEL = 1


def profile_of(info: DeviceInfo) -> DeviceProfile:
    """The shipped profile of the device's model (what the engine would check against)."""
    for path in library_files(device_dirs()).values():
        profile = load_device(path)
        if profile.model == info.model:
            return profile
    pytest.fail(f"no device profile in the library for model {info.model!r}")


class Connection:
    """One connection to the device for the whole run (a real port is opened once); opened
    again if a test closed it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._driver: Driver | None = None

    @property
    def driver(self) -> Driver:
        if self._driver is None:
            self._driver = open_driver(self.url)
        return self._driver

    @property
    def is_open(self) -> bool:
        return self._driver is not None

    def closed(self) -> None:
        """A test closed the driver itself."""
        self._driver = None

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


@dataclass
class Hardware:
    connection: Connection
    profile: DeviceProfile

    @property
    def driver(self) -> Driver:
        return self.connection.driver

    @property
    def lowest_ma(self) -> float:
        """The smallest amplitude above 0 the device can be set to: one resolution step."""
        return self.profile.amplitude.resolution_ua / 1000

    @property
    def settings(self) -> ChannelSettings:
        """Gentle settings inside the device's range: its shortest pulse, a low rate."""
        low, high = self.profile.frequency_hz.min, self.profile.frequency_hz.max
        return ChannelSettings(
            frequency_hz=min(max(20.0, low), high), pulse_width_us=self.profile.pulse_width_us.min
        )

    @property
    def watchdog_s(self) -> float:
        return self.profile.watchdog_ms / 1000

    @property
    def channels(self) -> list[int]:
        return list(range(1, self.profile.channels + 1))

    def on_at_lowest(self) -> None:
        self.driver.configure(CHANNEL, self.settings)
        self.driver.start([CHANNEL])
        self.driver.set_amplitude(CHANNEL, self.lowest_ma)

    def keep_alive(self, duration_s: float) -> None:
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            self.driver.heartbeat()
            time.sleep(0.1)

    def state(self) -> str:
        """The channel's state in a report that postdates the last command."""
        self.keep_alive(0.3)
        return self.driver.telemetry()[CHANNEL].state

    def reset(self) -> None:
        """Clear latched faults, waiting out the device's hold-off (3 s on tenssim)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                self.driver.reset_fault(self.channels)
                return
            except DriverError:
                assert time.monotonic() < deadline, "the device kept its fault for over 10 s"
                self.keep_alive(0.5)


@pytest.fixture(scope="session")
def connection(pytestconfig: pytest.Config) -> Iterator[Connection]:
    url = pytestconfig.getoption("device")
    if not url:
        pytest.skip("no --device URL given: these run against a stimulator on a test load")
    connection = Connection(url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def hardware(connection: Connection) -> Iterator[Hardware]:
    info = connection.driver.identify()
    rig = Hardware(connection, profile_of(info))
    try:
        yield rig
    finally:  # every output back at 0 whatever the test did
        if connection.is_open:
            with contextlib.suppress(DriverError):
                connection.driver.stop(rig.channels)


def test_identify_matches_the_device_profile(hardware: Hardware) -> None:
    info = hardware.driver.identify()
    assert info.channels == hardware.profile.channels
    assert info.max_amplitude_ma == hardware.profile.amplitude.max_ma
    assert info.watchdog_ms == hardware.profile.watchdog_ms


def test_the_lowest_amplitude_is_on_until_stopped(hardware: Hardware) -> None:
    hardware.on_at_lowest()
    assert hardware.state() == "on"
    t = hardware.driver.telemetry()[CHANNEL]
    assert t.commanded_ma == pytest.approx(hardware.lowest_ma)
    assert math.isnan(t.delivered_peak_ma) or t.delivered_peak_ma <= hardware.lowest_ma + 0.05
    hardware.driver.stop([CHANNEL])
    assert hardware.state() != "on"


def test_a_configuration_out_of_the_device_range_is_refused_and_nothing_changes(
    hardware: Hardware,
) -> None:
    hardware.on_at_lowest()
    too_wide = ChannelSettings(
        hardware.settings.frequency_hz, hardware.profile.pulse_width_us.max + 100
    )
    with pytest.raises(DriverError):
        hardware.driver.configure(CHANNEL, too_wide)
    assert hardware.state() == "on"
    assert hardware.driver.telemetry()[CHANNEL].commanded_ma == pytest.approx(hardware.lowest_ma)
    hardware.driver.stop([CHANNEL])


def test_heartbeats_keep_the_output_on(hardware: Hardware) -> None:
    hardware.on_at_lowest()
    hardware.keep_alive(hardware.watchdog_s * 1.5)
    assert hardware.state() == "on"
    hardware.driver.stop([CHANNEL])


def test_the_device_stops_on_its_own_when_the_host_goes_silent(hardware: Hardware) -> None:
    hardware.on_at_lowest()
    assert hardware.state() == "on"
    time.sleep(hardware.watchdog_s + 0.6)  # the host says nothing
    assert hardware.state() != "on"
    hardware.reset()  # a device may latch the watchdog as a fault


def test_emergency_stop_stops_the_output_and_latches_until_reset(hardware: Hardware) -> None:
    hardware.on_at_lowest()
    hardware.driver.emergency_stop()
    assert hardware.state() != "on"
    with pytest.raises(DriverError):
        hardware.driver.start([CHANNEL])  # latched: no output until the fault is reset
    assert hardware.state() != "on"
    hardware.reset()
    hardware.on_at_lowest()
    assert hardware.state() == "on"
    hardware.driver.stop([CHANNEL])


def test_close_is_safe_twice(hardware: Hardware) -> None:
    """Last in this file: the tests after it (if any) open the device again."""
    hardware.on_at_lowest()
    hardware.driver.close()
    hardware.driver.close()
    hardware.connection.closed()
