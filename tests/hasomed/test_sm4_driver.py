"""The ScienceMode4 driver against the P24 personality in a simulator process on a real
pty: what the driver asked for is what the simulator's log says was delivered."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from sm4_helpers import commands, sim_process

from tensctl.drivers.base import AlternationStep, ChannelSettings, DeviceEvent, DriverOptions
from tensctl.drivers.errors import CommandRefused, DeviceNotFound, LinkLost
from tensctl.drivers.sciencemode4 import ScienceMode4Driver, open_sciencemode4
from tensctl.errors import InputError
from tensctl.testing import Simulator

pytestmark = pytest.mark.timeout(60)
OPTIONS = DriverOptions(timeout_s=0.25, retries=2)


def _open(address: str) -> ScienceMode4Driver:
    return open_sciencemode4(f"sciencemode4://{address}", OPTIONS)


def _without_polls(types: list[str]) -> list[str]:
    return [t for t in types if t != "ML_GET_CURRENT_DATA"]


def _updates(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["fields"]["channels"] for c in commands(log) if c["type"] == "ML_UPDATE"]


def test_session_is_delivered_as_asked(tmp_path: Path) -> None:
    log = tmp_path / "sim.jsonl"
    with sim_process(log, "--serial", "SIM-P24-42") as sim:
        driver = _open(sim.address)
        info = driver.identify()
        assert (info.model, info.serial, info.channels, info.watchdog_ms) == (
            "P24",
            "SIM-P24-42",
            8,
            2000,
        )
        driver.configure(1, ChannelSettings(frequency_hz=40, pulse_width_us=250))
        driver.configure(
            2,
            ChannelSettings(
                30,
                100,
                "asymmetric_biphasic",
                secondary_amplitude_ratio=0.25,
                secondary_width_ratio=4,
            ),
        )
        driver.start([1, 2])
        driver.set_amplitude(1, 10.3)  # rounded down to 10.0
        driver.set_amplitude(2, 8.0)
        driver.heartbeat()
        t = driver.telemetry()
        assert (t[1].state, t[1].commanded_ma, t[1].frequency_hz) == ("on", 10.0, 40.0)
        assert math.isnan(t[1].delivered_peak_ma) and math.isnan(t[1].impedance_ohm)
        assert t[3].state == "off" and t[3].commanded_ma == 0
        driver.set_amplitude(1, 4.0)
        driver.stop([1])
        driver.stop([2])
        assert math.isnan(driver.measure_impedance(1))
        driver.close()
        driver.close()
    log_entries = sim.log()
    types = [c["type"] for c in commands(log_entries)]
    # the first increase asks for the device's report first (polls are timing dependent
    # after that: one at most every 200 ms before an increase)
    assert types[:6] == [
        "GET_STIM_STATUS",
        "GET_DEVICE_ID",
        "GET_EXTENDED_VERSION",
        "ML_INIT",
        "ML_UPDATE",
        "ML_GET_CURRENT_DATA",
    ]
    assert _without_polls(types) == [
        "GET_STIM_STATUS",
        "GET_DEVICE_ID",
        "GET_EXTENDED_VERSION",
        "ML_INIT",
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_STOP",
        "ML_STOP",  # close: always, answered "not initialised"
    ]
    # the heartbeat's poll, then the decrease and the stops: none waits for a poll
    assert types[-6:] == [
        "ML_UPDATE",
        "ML_GET_CURRENT_DATA",
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_STOP",
        "ML_STOP",
    ]
    results = [c["result"] for c in commands(log_entries)]
    assert results[:-1] == ["ack"] * (len(results) - 1)
    assert results[-1] == "NOT_INITIALIZED"
    updates = _updates(log_entries)
    assert updates[0]["1"]["points"] == [[250, 0.0], [250, 0.0]]
    assert updates[1]["1"]["points"] == [[250, 10.0], [250, -10.0]]
    assert updates[1]["1"]["period_ms"] == 25.0 and updates[1]["1"]["ramp"] == 0
    # 30 Hz: 33.33 ms is sent as 33.5 ms (rounded up: never a faster rate), 0.25 ms units
    assert updates[2]["2"]["points"] == [[100, 8.0], [400, -2.0]]
    assert updates[2]["2"]["period_ms"] == 33.5 and updates[2]["2"]["net_charge_nc"] == 0
    assert set(updates[4]) == {"2"}  # channel 1 stopped by leaving it out
    outputs = [
        (o["channel"], o["running"], o["amplitude_ua"])
        for o in log_entries
        if o["event"] == "output"
    ]
    assert outputs == [
        (1, True, 0),
        (2, True, 0),
        (1, True, 10000),
        (2, True, 8000),
        (1, True, 4000),
        (1, False, 0),
        (2, False, 0),
    ]


def test_what_mid_level_cannot_express_is_refused(tmp_path: Path) -> None:
    with sim_process(tmp_path / "sim.jsonl") as sim:
        driver = _open(sim.address)
        driver.identify()
        refused = [
            ChannelSettings(40, 200, mode="burst", pulses_per_train=7, train_rate_hz=2),
            ChannelSettings(40, 200, mode="alternating", steps=(AlternationStep(40, 200, 1),)),
            ChannelSettings(40, 200, "asymmetric_biphasic", secondary_amplitude_ratio=0.5),
            ChannelSettings(40, 5000),
            ChannelSettings(3000, 200),
            ChannelSettings(2000, 400),  # 800 µs of pulse in a 0.5 ms period
        ]
        for settings in refused:
            with pytest.raises(CommandRefused):
                driver.configure(1, settings)
        with pytest.raises(CommandRefused, match="NOT_CONFIGURED"):
            driver.start([1])
        driver.configure(1, ChannelSettings(40, 4000))
        driver.start([1])
        with pytest.raises(CommandRefused, match="OUT_OF_RANGE"):
            driver.set_amplitude(1, 131)  # above the profile's 130 mA
        with pytest.raises(CommandRefused, match="NOT_STARTED"):
            driver.set_amplitude(2, 1)
        with pytest.raises(InputError):
            driver.set_amplitude(9, 1)
        driver.close()
    types = _without_polls([c["type"] for c in commands(sim.log())])
    assert types[-3:] == ["ML_INIT", "ML_UPDATE", "ML_STOP"]


def test_emergency_stop_latches_until_reset(tmp_path: Path) -> None:
    with sim_process(tmp_path / "sim.jsonl") as sim:
        driver = _open(sim.address)
        seen: list[DeviceEvent] = []
        driver.subscribe(seen.append)
        driver.identify()
        driver.configure(1, ChannelSettings(50, 200))
        driver.start([1])
        driver.set_amplitude(1, 6)
        driver.emergency_stop()
        assert {e.channel for e in seen if "emergency_stop" in e.faults} == set(range(1, 9))
        with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
            driver.set_amplitude(1, 1)
        with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
            driver.start([1])
        driver.heartbeat()  # not initialised any more: a stim status
        driver.reset_fault([1])
        driver.start([1])
        driver.set_amplitude(1, 2)
        driver.close()
    log_entries = sim.log()
    types = _without_polls([c["type"] for c in commands(log_entries)])
    assert types[4:] == [
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_STOP",
        "GET_STIM_STATUS",
        "ML_INIT",
        "ML_UPDATE",
        "ML_UPDATE",
        "ML_STOP",
    ]
    stop = next(o for o in log_entries if o["event"] == "output" and o["cause"] == "ml_stop")
    assert (stop["channel"], stop["running"], stop["amplitude_ua"]) == (1, False, 0)


def test_electrode_error_and_keep_alive_timeout_become_fault_events(tmp_path: Path) -> None:
    with sim_process(tmp_path / "sim.jsonl", "--scenario", "electrode-off") as sim:
        driver = _open(sim.address)
        driver.identify()
        for ch in (1, 2):
            driver.configure(ch, ChannelSettings(40, 200))
        driver.start([1, 2])
        driver.set_amplitude(1, 5)
        driver.set_amplitude(2, 5)
        deadline = time.monotonic() + 15
        faults: list[DeviceEvent] = []
        while not faults and time.monotonic() < deadline:  # electrode off 5 s after start
            driver.heartbeat()
            faults = [e for e in driver.events() if e.kind == "fault"]
            time.sleep(0.1)
        assert faults == [DeviceEvent("fault", 1, frozenset({"electrode"}), faults[0].time_s, 1)]
        telemetry = driver.telemetry()
        assert telemetry[1].state == "fault" and telemetry[1].faults == {"electrode"}
        assert telemetry[2].state == "on" and telemetry[2].pulses > 150  # ~5 s at 40 Hz
        with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
            driver.set_amplitude(1, 6)
        time.sleep(2.3)  # no keep-alive: the device stops channel 2 on its own
        driver.heartbeat()
        assert [(e.channel, e.faults) for e in driver.events()] == [(2, frozenset({"watchdog"}))]
        driver.close()
    assert any(e["event"] == "keep_alive_timeout" for e in sim.log())


def test_link_loss_and_bad_ports(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFound):
        open_sciencemode4("sciencemode4:///dev/does-not-exist", OPTIONS)
    sim = Simulator(tmp_path / "sim.jsonl", personality="sciencemode4")
    try:
        driver = _open(sim.address)
        driver.identify()
        sim.kill()
        with pytest.raises(LinkLost):
            driver.heartbeat()
        assert any(e.kind == "link_lost" for e in driver.events())
        driver.close()
    finally:
        sim.stop()
