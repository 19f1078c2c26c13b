"""The ScienceMode2 driver against the RehaStim2 personality in-process, in real time, with
replies held back as long as a test needs: stops and decreases do not wait behind a list
rebuild, a subscriber may stop from its callback, and the connect-time mode check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sm2_helpers import LiveRehaStim, StuckRehaStim
from tenssim.scenario import ElectrodeOff

from tensctl.drivers.base import ChannelSettings, DeviceEvent
from tensctl.drivers.errors import CommandRefused, DriverError
from tensctl.drivers.sciencemode2 import ScienceMode2Driver
from tensctl.wire.sciencemode2 import Command

pytestmark = pytest.mark.timeout(30)
PATIENT_S = 10.0  # the driver's reply timeout here: a held reply is never retried


@contextmanager
def live(timeout_s: float = PATIENT_S) -> Iterator[tuple[ScienceMode2Driver, LiveRehaStim]]:
    sim = LiveRehaStim()
    try:
        driver = ScienceMode2Driver(sim.port, "sciencemode2://live", sim.profile, timeout_s)
        try:
            yield driver, sim
        finally:
            driver.close()
    finally:
        sim.close()


def running_at_10_ma(driver: ScienceMode2Driver) -> None:
    driver.configure(1, ChannelSettings(20, 200))
    driver.start([1])
    driver.set_amplitude(1, 10)


def in_thread(action: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:  # handed to the test
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, failures


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        assert time.monotonic() < deadline, "the simulator never got there"
        time.sleep(0.005)


def test_a_stop_overtakes_a_slow_rebuild_and_nothing_restarts_after_it() -> None:
    with live() as (driver, sim):
        running_at_10_ma(driver)
        sim.personality.hold = Command.INIT_CHANNEL_LIST_MODE
        rebuild, failures = in_thread(lambda: driver.configure(1, ChannelSettings(25, 200)))
        assert sim.personality.holding.wait(5.0)  # the new list's Init: its Ack is held
        before = len(sim.commands())
        driver.stop([1])
        assert rebuild.is_alive()  # the rebuild still waits for the Init's Ack
        assert [kind for kind, _ in sim.commands()[before:]] == ["StopChannelListMode"]
        sim.personality.release.set()
        rebuild.join(5.0)
        assert not rebuild.is_alive()
        (failure,) = failures
        assert isinstance(failure, CommandRefused) and failure.code == "STOPPED"
        driver.heartbeat()  # the device has seen everything the driver sent
        wait_for(lambda: sim.commands()[-1][0] == "Watchdog")
        kinds = [kind for kind, _ in sim.commands()]
        assert driver.telemetry()[1].state == "off"
    # the rebuild's Stop and Init, then the stop; nothing after it but the heartbeat
    assert kinds[-4:] == [
        "StopChannelListMode",
        "InitChannelListMode",
        "StopChannelListMode",
        "Watchdog",
    ]
    assert sim.outputs(1) == [(True, 0), (True, 10_000), (False, 0)]


@pytest.mark.parametrize(
    ("held", "starts"),
    [
        (Command.INIT_CHANNEL_LIST_MODE, [0, 10, 4]),  # the rebuild's Start carries 4 mA
        (Command.START_CHANNEL_LIST_MODE, [0, 10, 10, 4]),  # the decrease goes on its own
    ],
)
def test_a_decrease_during_a_slow_rebuild_is_not_delayed(held: int, starts: list[int]) -> None:
    with live() as (driver, sim):
        running_at_10_ma(driver)
        sim.personality.hold = held
        rebuild, failures = in_thread(lambda: driver.configure(1, ChannelSettings(25, 200)))
        assert sim.personality.holding.wait(5.0)
        driver.set_amplitude(1, 4.5)
        assert rebuild.is_alive()  # the decrease did not wait for it
        sim.personality.release.set()
        rebuild.join(5.0)
        assert not rebuild.is_alive() and failures == []
        tele = driver.telemetry()[1]
        assert (tele.state, tele.commanded_ma, tele.frequency_hz) == ("on", 4, 25)
        commands = sim.commands()
    sent = [
        fields["entries"][0]["current_ma"]
        for kind, fields in commands
        if kind == "StartChannelListMode"
    ]
    assert sent == starts
    assert sim.outputs(1)[-1] == (False, 0)  # closed
    assert sim.outputs(1)[-2] == (True, 4_000)


def test_a_callback_can_emergency_stop_from_the_reader_thread() -> None:
    with live(timeout_s=0.15) as (driver, sim):
        outcome: list[str] = []

        def on_event(event: DeviceEvent) -> None:
            if "electrode" not in event.faults:
                return
            driver.emergency_stop()  # the reader thread: sent without waiting for its Ack
            outcome.append("stopped")
            try:
                driver.start([1])
            except CommandRefused as exc:
                outcome.append(exc.code)

        driver.subscribe(on_event)
        running_at_10_ma(driver)
        with sim.device.lock:
            sim.device.inject(
                ElectrodeOff(kind="electrode_off", at_s=0, channel=1), time.monotonic()
            )
        wait_for(lambda: len(outcome) == 2)
        wait_for(lambda: sim.commands()[-1][0] == "StopChannelListMode")
        assert outcome == ["stopped", "IN_CALLBACK"]
        time.sleep(0.5)  # longer than the 3 × 0.15 s of tries, had the Ack not been read
        assert driver.events() == [
            DeviceEvent("fault", None, frozenset({"electrode"}), detail=-2),
            DeviceEvent("fault", None, frozenset({"emergency_stop"})),
        ]  # no link_lost
        driver.reset_fault(range(1, 9))
        driver.start([1])  # the reader thread is alive and the link works
        assert driver.telemetry()[1].state == "on"


def test_a_device_not_in_start_mode_after_the_connect_stop_is_refused() -> None:
    sim = LiveRehaStim(StuckRehaStim)
    try:
        with pytest.raises(DriverError, match="start mode"):
            ScienceMode2Driver(sim.port, "sciencemode2://stuck", sim.profile)
        assert [kind for kind, _ in sim.commands()] == [
            "InitAck",
            "StopChannelListMode",
            "GetStimulationMode",
        ]
        assert not sim.port.is_open
    finally:
        sim.close()
