"""The ScienceMode4 driver when the device stops a channel, when an emergency stop overtakes
a command, and when a stop meets a heartbeat waiting for a slow device. The simulator runs
as a process on a pty, with a control socket to inject faults and delay its replies; every
check reads the simulator's log (what the device received and delivered)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sm4_helpers import commands, sim_process
from tenssim.control import send

from tensctl.drivers.base import ChannelSettings, DeviceEvent, DriverOptions
from tensctl.drivers.errors import CommandRefused
from tensctl.drivers.sciencemode4 import ScienceMode4Driver, open_sciencemode4
from tensctl.testing import Simulator

pytestmark = pytest.mark.timeout(60)
SETTINGS = ChannelSettings(40, 200)
TICK_S = 0.05  # the stream's pace: each tick sleeps at least this long


def _open(address: str, timeout_s: float = 0.25, retries: int = 2) -> ScienceMode4Driver:
    return open_sciencemode4(
        f"sciencemode4://{address}", DriverOptions(timeout_s=timeout_s, retries=retries)
    )


def _wait_for_command(sim: Simulator, kind: str, after: int) -> dict[str, Any]:
    """The first command of ``kind`` the device receives after the first ``after``."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [c for c in commands(sim.log())[after:] if c["type"] == kind]
        if found:
            return found[0]
        time.sleep(0.005)
    raise AssertionError(f"the device never received {kind}")


def _in_background(call: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, raised


def _ch1_running_after(log: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    return [e for e in log[index:] if e["event"] == "output" and e["channel"] == 1 and e["running"]]


def test_an_electrode_error_during_steady_updates_is_latched_and_never_re_enabled(
    tmp_path: Path,
) -> None:
    control = tmp_path / "control.sock"
    with sim_process(tmp_path / "sim.jsonl", "--control", str(control)) as sim:
        driver = _open(sim.address)
        driver.identify()
        for ch in (1, 2):
            driver.configure(ch, SETTINGS)
        driver.start([1, 2])
        level, other = 5.0, [5.0]
        driver.set_amplitude(1, level)
        driver.set_amplitude(2, other[0])

        def swing() -> None:  # channel 2: 5 → 4 → 5 … mA
            other[0] = 9.0 - other[0]
            driver.set_amplitude(2, other[0])

        # modulation: channel 1 creeps up, channel 2 goes up and down; no heartbeat at all
        refused: CommandRefused | None = None
        ticks_after_injection = 0
        for tick in range(80):
            if tick == 6:
                assert send(control, {"kind": "electrode_off", "channel": 1}) == {"ok": True}
            try:
                driver.set_amplitude(1, level + 0.5)
                level += 0.5
            except CommandRefused as exc:
                refused = exc
                break
            swing()
            if tick >= 6:
                ticks_after_injection += 1
            time.sleep(TICK_S)
        assert refused is not None and refused.code == "FAULT_LATCHED"
        # a report is asked for when the last is 200 ms old: within a few ticks
        assert ticks_after_injection <= 0.2 / TICK_S + 2
        faults = [e for e in driver.events() if e.kind == "fault"]
        assert faults == [DeviceEvent("fault", 1, frozenset({"electrode"}), faults[0].time_s, 1)]
        assert driver.telemetry()[1].state == "fault"
        mark = len(sim.log())
        expected = []
        for _ in range(8):  # channel 2 goes on as before
            swing()
            expected.append(round(other[0] * 1000))
            time.sleep(TICK_S)
        driver.heartbeat()
        with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
            driver.set_amplitude(1, level + 0.5)
        with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
            driver.start([1])
        assert driver.telemetry()[2].state == "on"
        driver.close()
    log = sim.log()
    assert any(e["event"] == "channel_error" and e["channel"] == 1 for e in log[:mark])
    assert _ch1_running_after(log, mark) == []  # never enabled again
    late_updates = [c for c in commands(log[mark:]) if c["type"] == "ML_UPDATE"]
    assert len(late_updates) == 8 and all(
        set(c["fields"]["channels"]) == {"2"} for c in late_updates
    )
    ch2 = [e["amplitude_ua"] for e in log[mark:] if e["event"] == "output" and e["channel"] == 2]
    assert ch2 == [*expected, 0]


def test_a_stop_does_not_wait_behind_a_heartbeat(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    delay_s = 1.5
    with sim_process(tmp_path / "sim.jsonl", "--control", str(control)) as sim:
        driver = _open(sim.address, timeout_s=3.0, retries=0)
        driver.identify()
        driver.configure(1, SETTINGS)
        driver.start([1])
        driver.set_amplitude(1, 3)
        seen = len(commands(sim.log()))
        send(control, {"kind": "link_quality", "delay_ms": delay_s * 1000})
        beat, raised = _in_background(driver.heartbeat)
        poll = _wait_for_command(sim, "ML_GET_CURRENT_DATA", seen)
        driver.stop([1])  # while the heartbeat waits for its (delayed) report
        beat.join(timeout=20)
        assert raised == []
        send(control, {"kind": "link_quality", "delay_ms": 0})
        assert [e for e in driver.events() if e.kind == "fault"] == []  # crossed: not used
        driver.close()
    log = commands(sim.log())
    stop = next(c for c in log[seen:] if c["type"] == "ML_STOP")
    # the stop reached the device before the heartbeat's report left it
    assert poll["t"] < stop["t"] < poll["t"] + delay_s
    assert [c["type"] for c in log[seen:]][:2] == ["ML_GET_CURRENT_DATA", "ML_STOP"]


def test_an_emergency_stop_overtakes_an_update_in_flight(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    delay_s = 1.5
    with sim_process(tmp_path / "sim.jsonl", "--control", str(control)) as sim:
        driver = _open(sim.address, timeout_s=3.0, retries=0)
        driver.identify()
        for ch in (1, 2):
            driver.configure(ch, SETTINGS)
        driver.start([1, 2])
        driver.set_amplitude(1, 2)
        seen = len(commands(sim.log()))
        send(control, {"kind": "link_quality", "delay_ms": delay_s * 1000})
        rise, raised = _in_background(lambda: driver.set_amplitude(1, 4))
        update = _wait_for_command(sim, "ML_UPDATE", seen)
        driver.emergency_stop()  # while the update waits for its (delayed) acknowledge
        rise.join(timeout=20)
        assert len(raised) == 1 and isinstance(raised[0], CommandRefused)
        assert raised[0].code == "FAULT_LATCHED"
        send(control, {"kind": "link_quality", "delay_ms": 0})
        driver.stop([1])  # already stopped: nothing to send, no error
        driver.reset_fault([2])
        driver.start([2])  # must not bring channel 1 back
        driver.set_amplitude(2, 1)
        with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
            driver.set_amplitude(1, 1)
        driver.close()
    log = sim.log()
    entries = commands(log)
    assert update["fields"]["channels"]["1"]["amplitude_ma"] == 4.0
    stop = next(c for c in entries[seen:] if c["type"] == "ML_STOP")
    assert stop["t"] < update["t"] + delay_s  # it did overtake the update's acknowledge
    after = log.index(stop)
    assert _ch1_running_after(log, after) == []
    later = [c for c in commands(log[after:]) if c["type"] in ("ML_INIT", "ML_UPDATE")]
    assert [c["type"] for c in later] == ["ML_INIT", "ML_UPDATE", "ML_UPDATE"]
    assert all(set(c["fields"]["channels"]) == {"2"} for c in later[1:])


def test_close_sends_ml_stop_even_when_nothing_was_started(tmp_path: Path) -> None:
    with sim_process(tmp_path / "sim.jsonl") as sim:
        driver = _open(sim.address)
        driver.identify()
        driver.close()
        driver.close()  # once only
    entries = commands(sim.log())
    assert [(c["type"], c["result"]) for c in entries][-2:] == [
        ("GET_EXTENDED_VERSION", "ack"),
        ("ML_STOP", "NOT_INITIALIZED"),
    ]
