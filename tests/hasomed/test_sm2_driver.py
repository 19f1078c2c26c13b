"""The ScienceMode2 driver against the RehaStim2 personality in a simulator process on a
real pty (460800 8E1), and its channel list planning."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tenssim.control import send

from tensctl.drivers.base import ChannelSettings, DeviceEvent, DriverOptions
from tensctl.drivers.errors import CommandRefused, DeviceNotFound, LinkLost
from tensctl.drivers.sciencemode2 import ScienceMode2Driver, open_sciencemode2
from tensctl.drivers.sciencemode2.plan import Inexpressible, timing
from tensctl.errors import InputError
from tensctl.testing import Simulator

pytestmark = pytest.mark.timeout(60)


@contextmanager
def rehastim(tmp_path: Path, *extra: str) -> Iterator[tuple[ScienceMode2Driver, Simulator]]:
    with Simulator(tmp_path / "sim.jsonl", personality="sciencemode2", extra=extra) as sim:
        driver = open_sciencemode2(sim.url, DriverOptions())
        assert isinstance(driver, ScienceMode2Driver)
        try:
            yield driver, sim
        finally:
            driver.close()


def commands(log: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == "command" and e["type"] == kind]


def outputs(log: list[dict[str, Any]], channel: int) -> list[tuple[bool, int]]:
    return [
        (e["running"], e["amplitude_ua"])
        for e in log
        if e["event"] == "output" and e["channel"] == channel
    ]


def test_a_session_reaches_the_device_as_channel_list_commands(tmp_path: Path) -> None:
    with rehastim(tmp_path) as (driver, sim):
        info = driver.identify()
        assert (info.model, info.firmware, info.channels, info.max_amplitude_ma) == (
            "RehaStim2",
            "ScienceMode2",
            8,
            130,
        )
        driver.configure(1, ChannelSettings(40, 250))
        driver.configure(3, ChannelSettings(10, 300))
        driver.start([1, 3])
        driver.set_amplitude(1, 12.9)  # whole mA, rounded down
        driver.set_amplitude(3, 4.0)
        driver.heartbeat()
        tele = driver.telemetry()
        assert (tele[1].state, tele[1].commanded_ma, tele[1].frequency_hz) == ("on", 12, 40)
        assert tele[3].frequency_hz == 10 and math.isnan(tele[3].impedance_ohm)
        assert math.isnan(driver.measure_impedance(1))
        driver.stop([3])
        driver.set_amplitude(1, 5)
        driver.stop([1])
        log = sim.log()
    connect = [e["type"] for e in log if e["event"] == "command"][:4]
    assert connect == ["InitAck", "StopChannelListMode", "GetStimulationMode", "SimIdentify"]
    (init,) = commands(log, "InitChannelListMode")
    fields = init["fields"]
    assert fields["active_channels"] == 0b101 and fields["low_frequency_channels"] == 0b100
    assert fields["main_interval_code"] == 48 and fields["low_frequency_factor"] == 3  # 25 ms
    starts = [c["fields"]["entries"] for c in commands(log, "StartChannelListMode")]
    assert [[(e["channel"], e["current_ma"]) for e in s] for s in starts] == [
        [(1, 0), (3, 0)],
        [(1, 12), (3, 0)],
        [(1, 12), (3, 4)],
        [(1, 12), (3, 0)],
        [(1, 5), (3, 0)],
    ]
    assert {e["pulse_width_us"] for s in starts for e in s if e["channel"] == 1} == {250}
    assert outputs(log, 1) == [(True, 0), (True, 12_000), (True, 5_000), (False, 0)]
    assert outputs(log, 3)[-1] == (False, 0)
    assert all(c["result"] == "ack" for c in log if c["event"] == "command")
    assert len(commands(log, "Watchdog")) == 1


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (ChannelSettings(20, 200, waveform="asymmetric_biphasic"), "symmetric"),
        (ChannelSettings(20, 200, mode="burst", pulses_per_train=5, train_rate_hz=2), "burst"),
        (ChannelSettings(20, 10), "pulse width"),
        (ChannelSettings(20, 501), "pulse width"),
    ],
)
def test_what_channel_list_mode_cannot_express_is_refused(
    tmp_path: Path, settings: ChannelSettings, why: str
) -> None:
    with rehastim(tmp_path) as (driver, _):
        with pytest.raises(CommandRefused, match=why) as refused:
            driver.configure(2, settings)
        assert refused.value.code == "UNSUPPORTED"


def test_frequencies_the_list_cannot_share_are_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    with rehastim(tmp_path) as (driver, sim):
        driver.configure(1, ChannelSettings(50, 200))
        driver.configure(2, ChannelSettings(20, 200))
        with pytest.raises(CommandRefused, match="cannot run") as refused:
            driver.start([1, 2])
        assert refused.value.code == "UNSUPPORTED"
        driver.start([1])
        with pytest.raises(CommandRefused):
            driver.configure(1, ChannelSettings(300, 200))  # above the 8 ms list minimum
        assert driver.telemetry()[1].state == "on"
        log = sim.log()
    (init,) = commands(log, "InitChannelListMode")
    assert init["fields"]["active_channels"] == 0b1


def test_a_new_frequency_while_running_rebuilds_the_list_at_the_same_current(
    tmp_path: Path,
) -> None:
    with rehastim(tmp_path) as (driver, sim):
        driver.configure(2, ChannelSettings(20, 200))
        driver.start([2])
        driver.set_amplitude(2, 8)
        driver.configure(2, ChannelSettings(20, 350))  # width: an update
        driver.configure(2, ChannelSettings(25, 350))  # frequency: a new list
        log = sim.log()
    assert [c["fields"]["main_interval_code"] for c in commands(log, "InitChannelListMode")] == [
        98,
        78,
    ]
    last = commands(log, "StartChannelListMode")[-1]["fields"]["entries"]
    assert last == [{"channel": 2, "mode": 0, "pulse_width_us": 350, "current_ma": 8}]


def test_a_frequency_off_the_interval_grid_runs_slower_and_telemetry_says_so(
    tmp_path: Path,
) -> None:
    with rehastim(tmp_path) as (driver, sim):
        driver.configure(1, ChannelSettings(45, 200))  # 22.2 ms: 22.5 ms on the grid
        driver.configure(2, ChannelSettings(22.5, 200))  # one pulse in two
        driver.start([1, 2])
        tele = driver.telemetry()
        log = sim.log()
    assert tele[1].frequency_hz == pytest.approx(1000 / 22.5)  # 44.4 Hz, 1.2 % slower
    assert tele[2].frequency_hz == pytest.approx(1000 / 45)
    (init,) = commands(log, "InitChannelListMode")
    fields = init["fields"]
    assert (fields["main_interval_code"], fields["low_frequency_factor"]) == (43, 1)


def test_single_pulse_delivers_exactly_the_pulse_asked_for(tmp_path: Path) -> None:
    with rehastim(tmp_path) as (driver, sim):
        driver.single_pulse(3, 12.7, 250.9)  # whole mA and µs, rounded down
        for channel, ma, us, code in [
            (9, 10, 200, "BAD_CHANNEL"),
            (3, 131, 200, "OUT_OF_RANGE"),
            (3, -1, 200, "OUT_OF_RANGE"),
            (3, 10, 19.5, "OUT_OF_RANGE"),
            (3, 10, 501, "OUT_OF_RANGE"),
        ]:
            with pytest.raises(CommandRefused) as refused:
                driver.single_pulse(channel, ma, us)
            assert refused.value.code == code
        driver.configure(1, ChannelSettings(20, 200))
        driver.start([1])
        with pytest.raises(CommandRefused) as refused:
            driver.single_pulse(3, 5, 100)  # the device takes them in its start mode only
        assert refused.value.code == "WRONG_MODE"
        driver.stop([1])
        driver.single_pulse(3, 5, 100)
        driver.emergency_stop()
        with pytest.raises(CommandRefused) as refused:
            driver.single_pulse(3, 5, 100)
        assert refused.value.code == "FAULT_LATCHED"
        tele = driver.telemetry()[3]
        log = sim.log()
    pulses = [
        (e["channel"], e["amplitude_ua"], e["pulse_width_us"], e["count"], e["cause"])
        for e in log
        if e["event"] == "pulse"
    ]
    assert pulses == [(3, 12_000, 250, 1, "single_pulse"), (3, 5_000, 100, 1, "single_pulse")]
    sent = [(c["fields"], c["result"]) for c in commands(log, "SinglePulse")]
    assert sent == [
        ({"channel": 2, "pulse_width_us": 250, "current_ma": 12}, "ack"),
        ({"channel": 2, "pulse_width_us": 100, "current_ma": 5}, "ack"),
    ]
    assert tele.pulses == 2
    assert tele.delivered_charge_uc == pytest.approx(2 * (12 * 250 + 5 * 100) / 1000)


def test_emergency_stop_latches_every_channel_until_reset(tmp_path: Path) -> None:
    with rehastim(tmp_path) as (driver, sim):
        seen: list[DeviceEvent] = []
        driver.subscribe(seen.append)
        driver.configure(1, ChannelSettings(20, 200))
        driver.start([1])
        driver.set_amplitude(1, 10)
        driver.emergency_stop()
        assert {t.state for t in driver.telemetry().values()} == {"fault"}
        assert seen == [DeviceEvent("fault", None, frozenset({"emergency_stop"}))]
        with pytest.raises(CommandRefused) as refused:
            driver.start([1])
        assert refused.value.code == "FAULT_LATCHED"
        driver.set_amplitude(1, 0)  # a decrease to 0 is always fine
        driver.reset_fault(range(1, 9))
        driver.start([1])
        log = sim.log()
    assert outputs(log, 1)[:3] == [(True, 0), (True, 10_000), (False, 0)]
    stop = next(e for e in log if e["event"] == "output" and not e["running"])
    assert stop["cause"] == "StopChannelListMode"


def test_heartbeats_keep_the_device_and_silence_restarts_it(tmp_path: Path) -> None:
    with rehastim(tmp_path) as (driver, sim):
        driver.configure(1, ChannelSettings(20, 200))
        driver.start([1])
        driver.set_amplitude(1, 6)
        for _ in range(6):  # 2.4 s, twice the device's watchdog
            time.sleep(0.4)
            driver.heartbeat()
        assert driver.telemetry()[1].state == "on"
        time.sleep(2.0)  # silent: the device stops and sends Init again
        events = driver.events()
        assert DeviceEvent("boot", None, frozenset({"reboot"})) in events
        assert driver.telemetry()[1].state == "fault"
        driver.reset_fault([1])
        driver.start([1])  # the driver answered the new Init: the link works again
        driver.set_amplitude(1, 3)
        log = sim.log()
    assert outputs(log, 1) == [(True, 0), (True, 6_000), (False, 0), (True, 0), (True, 3_000)]
    stop = next(e for e in log if e["event"] == "output" and not e["running"])
    assert stop["cause"] == "watchdog"


def test_electrode_error_from_the_device_is_a_fault_event(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    with rehastim(tmp_path, "--control", str(control)) as (driver, _):
        driver.configure(4, ChannelSettings(30, 200))
        driver.start([4])
        driver.set_amplitude(4, 15)
        assert send(control, {"kind": "electrode_off", "channel": 4}) == {"ok": True}
        deadline = time.monotonic() + 2.0
        events: list[DeviceEvent] = []
        while not events and time.monotonic() < deadline:
            time.sleep(0.02)
            events = driver.events()
        assert events == [DeviceEvent("fault", None, frozenset({"electrode"}), detail=-2)]
        assert driver.telemetry()[4].faults == frozenset({"electrode"})
        with pytest.raises(CommandRefused) as refused:
            driver.set_amplitude(4, 16)
        assert refused.value.code == "FAULT_LATCHED"


def test_a_silent_device_is_a_lost_link(tmp_path: Path) -> None:
    control = tmp_path / "control.sock"
    with rehastim(tmp_path, "--control", str(control)) as (driver, _):
        driver.configure(1, ChannelSettings(20, 200))
        driver.start([1])
        assert send(control, {"kind": "link_silence", "duration_ms": 3000}) == {"ok": True}
        with pytest.raises(LinkLost):
            driver.set_amplitude(1, 2)


def test_close_stops_and_is_safe_twice(tmp_path: Path) -> None:
    with rehastim(tmp_path) as (driver, sim):
        driver.configure(1, ChannelSettings(20, 200))
        driver.start([1])
        driver.set_amplitude(1, 3)
        driver.close()
        driver.close()
        time.sleep(0.1)
        log = sim.log()
    assert outputs(log, 1)[-1] == (False, 0)


def test_opener_rejects_bad_urls_and_missing_ports() -> None:
    with pytest.raises(InputError):
        open_sciencemode2("sciencemode2://", DriverOptions())
    with pytest.raises(DeviceNotFound):
        open_sciencemode2("sciencemode2:///dev/no-such-port", DriverOptions())


# ---- planning (pure) --------------------------------------------------------------------------


def test_list_timing_shares_one_interval_and_one_low_frequency_factor() -> None:
    t = timing({1: 50, 2: 25, 5: 25})
    assert (t.main_interval_code, t.low_frequency_factor, t.low_frequency_channels) == (
        38,
        1,
        0b10010,
    )
    assert timing({1: 20}).main_interval_code == 98
    assert timing({1: 30}).frequency_hz(1) == pytest.approx(1000 / 33.5)  # never faster
    for hz in (1, 1.3, 7, 33, 45, 49.9, 50):  # the profile's range: up to one grid step slower
        produced = timing({1: hz}).frequency_hz(1)
        assert hz * 0.975 <= produced <= hz
    # 48 Hz beside 50 Hz would run faster than asked; 20 Hz is not 50 / (k + 1)
    bad_sets: list[dict[int, float]] = [{1: 50, 2: 48}, {1: 50, 2: 20}, {1: 200}, {1: 0.5}]
    bad_sets.append({1: 40, 2: 20, 3: 10})
    for bad in bad_sets:
        with pytest.raises(Inexpressible):
            timing(bad)
