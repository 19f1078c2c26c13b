"""Esc and a second Ctrl-C are one operator emergency stop: one end reason, whether or not
a stop's ramp-down was running, and whichever thread reads the device's report of its own
e-stop latch first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from helpers import device, device_output_ua, kinds, session

from tensctl.cli.keys import Interrupts
from tensctl.engine.events import SessionEvent
from tensctl.engine.states import State


def test_an_emergency_stop_during_the_ramp_down_is_the_end_reason() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.stop()  # the first Ctrl-C
        s.run_for(0.5)
        s.emergency_stop("second Ctrl-C")
        assert s.state is State.stopped and device_output_ua(dev) == 0
        assert s.end_reason == "emergency_stop"


def test_the_device_reporting_the_stop_before_it_is_booked_is_not_a_fault() -> None:
    """The race two Ctrl-C lost: the e-stop goes to the device before the session lock is
    taken; a tick holding the lock meanwhile reads the device's e-stop report. It used to
    latch ``fault:device_fault`` (exit 6)."""
    with device() as dev, session(dev) as s:
        seen: list[SessionEvent] = []
        s.subscribe(seen.append)
        s.run_for(30)
        s.stop()
        s.run_for(0.5)
        sent = threading.Event()
        send = dev.driver.emergency_stop

        def emergency_stop(*args: Any, **kwargs: Any) -> Any:
            result = send(*args, **kwargs)
            sent.set()
            return result

        dev.driver.emergency_stop = emergency_stop  # type: ignore[method-assign]
        with s.lock:  # the tick's thread holds the lock while the stop goes out
            stopper = threading.Thread(target=s.emergency_stop, args=("second Ctrl-C",))
            stopper.start()
            assert sent.wait(30)
            s.clock.advance(0.05)  # type: ignore[attr-defined]
            s.tick()  # reads the device's report of its e-stop latch
            assert s.state is not State.fault and s.end_reason != "fault:device_fault"
        stopper.join(30)
        assert s.state is State.stopped and s.end_reason == "emergency_stop"
        assert kinds(seen, "fault") == []
        assert [e.data["reason"] for e in kinds(seen, "stop")] == ["second Ctrl-C"]


def test_a_fault_stays_the_reason_after_a_later_emergency_stop() -> None:
    with device("sim://?scenario=electrode-off") as dev, session(dev) as s:
        assert s.run() is State.fault
        reason = s.end_reason
        s.emergency_stop("Esc")
        assert s.state is State.stopped and s.end_reason == reason
        assert reason.startswith("fault:")


def test_closing_with_output_on_is_not_an_operator_stop() -> None:
    with device() as dev:
        s = session(dev)
        s.run_for(30)
        s.stop()
        s.run_for(0.5)
        s.close()  # the with block left during the ramp-down
        assert s.end_reason == "stopped_by_user" and device_output_ua(dev) == 0


def test_an_emergency_stop_after_completion_changes_nothing() -> None:
    with device() as dev, session(dev) as s:
        assert s.run() is State.completed
        s.emergency_stop("Esc")
        assert s.state is State.completed and s.end_reason == "completed"


def _wait_for(check: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(3000):  # a hang fails, a slow machine does not
        if check():
            return
        done.wait(0.01)
    raise AssertionError("never happened")


def test_ctrl_c_twice_through_interrupts_is_one_emergency_stop() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        interrupts = Interrupts(s)
        interrupts.interrupted()  # the first: the ramp-down, on a thread
        _wait_for(lambda: s.state is State.ramping_down)
        interrupts.interrupted()  # the second: the emergency stop
        _wait_for(lambda: s.state is State.stopped)
        assert s.end_reason == "emergency_stop" and device_output_ua(dev) == 0


def test_a_first_ctrl_c_while_titrating_stops_at_once() -> None:
    """There is no ramp-down to take while titrating: it used to be ignored."""
    with device() as dev, session(dev, protocol="burst", intensity=None) as s:
        titration = s.titrate(1)
        while titration.level_ma < 4:
            titration.up()
        s.run_for(6)  # the slew limit lets the output reach the level
        assert s.state is State.titrating and device_output_ua(dev) > 0
        Interrupts(s).interrupted()
        _wait_for(lambda: s.state is State.stopped)
        assert s.end_reason == "emergency_stop" and device_output_ua(dev) == 0
