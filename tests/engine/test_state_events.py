"""State events come from the state machine itself: exactly one per transition, in order,
each with the true session time — also when a transition fails half-way."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import device, kinds, session
from tenssim.scenario import Reboot

import tensctl
from tensctl.drivers.errors import DriverError
from tensctl.engine.events import SessionEvent
from tensctl.engine.states import State


def _states(events: list[SessionEvent]) -> list[tuple[str, str, float]]:
    return [
        (e.data["previous"], e.data["state"], round(e.elapsed_s, 6)) for e in kinds(events, "state")
    ]


def test_paused_and_resumed_events_carry_the_true_elapsed_time() -> None:
    with device() as dev, session(dev, "conventional-hf") as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        s.run_for(30.0)
        s.pause()
        s.run_for(20.0)  # 20 s of pause: not session time
        s.resume()
        s.run_for(20.0)
        s.pause()
        s.run_for(7.0)
        s.resume()
        s.run_for(1.0)
        moves = [m for m in _states(events) if "paused" in m[:2]]
        assert moves == [
            ("stimulating", "paused", 30.0),
            ("paused", "ramping_up", 30.0),
            ("stimulating", "paused", 50.0),
            ("paused", "ramping_up", 50.0),
        ]


def test_a_stop_while_paused_does_not_count_the_pause_as_session_time() -> None:
    with device() as dev, session(dev, "conventional-hf") as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        s.run_for(30.0)
        s.pause()
        s.run_for(40.0)
        s.stop()
        assert _states(events)[-1] == ("paused", "ramping_down", 30.0)
        assert s.elapsed_s() == pytest.approx(30.0)


def test_a_driver_failure_entering_ramping_up_gives_one_state_event_per_transition() -> None:
    with device() as dev, session(dev) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)

        def refuse(channels: Any) -> None:
            raise DriverError("the device did not start")

        s.driver.start = refuse  # type: ignore[method-assign]
        s.start()
        assert s.state is State.fault
        assert _states(events) == [
            ("ready", "ramping_up", 0.0),
            ("ramping_up", "fault", 0.0),
        ]
        assert len(kinds(events, "fault")) == 1


def test_every_state_event_follows_from_the_one_before() -> None:
    with device() as dev, session(dev) as s:
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        s.run_for(60.0)
        s.pause()
        s.resume()
        s.emergency_stop()
        s.clock.advance(3.5)  # type: ignore[attr-defined]
        s.reset()
        s.run_for(5.0)
        s.stop()
        s.run_for(10.0)
        moves = _states(events)
        assert moves[-1][1] == "completed"
        for before, after in itertools.pairwise(moves):
            assert after[0] == before[1], (before, after)


def test_the_device_is_identified_once_per_connection(tmp_path: Path) -> None:
    log = tmp_path / "sim.jsonl"
    with tensctl.connect(f"sim://?log={log}", virtual=True, journal=False) as dev:
        for _ in range(2):
            with session(dev) as s:
                s.run_for(5.0)
    commands = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["type"] for c in commands if c.get("event") == "command"].count("IDENTIFY") == 1


def test_a_session_after_the_device_restarted_identifies_it_again(tmp_path: Path) -> None:
    log = tmp_path / "sim.jsonl"
    with tensctl.connect(f"sim://?log={log}", virtual=True, journal=False) as dev:
        with session(dev) as s:
            s.run_for(5.0)
        sim = dev.driver.device  # type: ignore[attr-defined]
        sim.inject(Reboot(kind="reboot", at_s=0.0, offline_ms=0.0), dev.clock.now())
        with session(dev) as s:  # the old host session is gone: identified again, checked
            assert s.state is State.ready
            s.start()  # the restart latched a fault on the device: it says so, in its words
            assert s.state is State.fault and s.end_reason == "fault:device"
            assert "FAULT_LATCHED" in s.fault_detail
        with session(dev) as s:  # and not again while nothing changed
            assert s.state is State.ready
    commands = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["type"] for c in commands if c.get("event") == "command"].count("IDENTIFY") == 2
