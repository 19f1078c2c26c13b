"""Each shipped fault scenario, played against a running channel on every transport.

Scenario times are compressed tenfold (``at_s`` and ``duration_s``) so the suite stays
fast; durations in milliseconds (silence, delay, reboot) are kept as shipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from simbench import Bench
from tenssim.scenario import scenario_files

from tensctl.drivers.errors import CommandRefused, LinkLost

T = TypeVar("T")
AMPLITUDE_MA = 2.0


def compressed(scenario_id: str, folder: Path, factor: float = 0.1) -> Path:
    data = yaml.safe_load(scenario_files()[scenario_id].read_text())
    for event in data.get("events", []):
        for key in ("at_s", "duration_s"):
            if key in event:
                event[key] = event[key] * factor
    out = folder / f"{scenario_id}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def persist(call: Callable[[], T], tries: int = 6) -> T:
    """Repeat an (absolute, so repeatable) command that lost its reply on a noisy link."""
    for _ in range(tries - 1):
        try:
            return call()
        except LinkLost:
            continue
    return call()


def started(make_bench: Callable[..., Bench], scenario_id: str, tmp_path: Path) -> Bench:
    """Channel 1 on at 2 mA with heartbeats running, under ``scenario_id``."""
    bench = make_bench(compressed(scenario_id, tmp_path))
    persist(bench.driver.identify)
    bench.heartbeat()
    persist(lambda: bench.run_at(1, AMPLITUDE_MA))
    return bench


def run_for(bench: Bench, seconds: float) -> None:
    time.sleep(seconds)
    bench.quiet()


CHANNEL_TRIPS = {
    "electrode-off": ("OPEN_CIRCUIT", 1.0),
    "peel": ("PEEL", 2.4),  # area 0.5 (impedance doubled) 1.67 s after the peel begins
    "over-current": ("OVER_CURRENT", 1.0),
    "short-circuit": ("SHORT", 1.0),
    "low-battery": ("LOW_BATTERY", 1.0),
}


@pytest.mark.parametrize("scenario_id", sorted(CHANNEL_TRIPS))
def test_channel_fault_zeroes_and_latches(
    make_bench: Any, tmp_path: Path, scenario_id: str
) -> None:
    fault, wait_s = CHANNEL_TRIPS[scenario_id]
    bench = started(make_bench, scenario_id, tmp_path)
    run_for(bench, wait_s)
    assert bench.faults(1) == {fault}
    assert bench.outputs(1)[-1]["amplitude_ua"] == 0
    assert bench.outputs(1)[-1]["cause"] == fault.lower()
    assert fault.lower() in bench.driver.telemetry()[1].faults
    assert any(e.kind == "fault" and e.channel == 1 for e in bench.driver.events())


def test_link_silence_trips_the_device_watchdog(make_bench: Any, tmp_path: Path) -> None:
    bench = started(make_bench, "link-silence", tmp_path)
    run_for(bench, 1.0)
    assert bench.faults(1) == {"WATCHDOG"}
    last = bench.outputs(1)[-1]
    assert last["amplitude_ua"] == 0 and last["cause"] == "watchdog"
    last_frame = max(e["t"] for e in bench.log() if e["event"] == "command" and e["t"] < last["t"])
    assert 0.5 <= last["t"] - last_frame <= 0.5 + 0.005  # watchdog period + one frame time


def test_reboot_zeroes_output_and_reports_boot(make_bench: Any, tmp_path: Path) -> None:
    bench = started(make_bench, "reboot", tmp_path)
    run_for(bench, 1.0)
    assert bench.outputs(1)[-1]["amplitude_ua"] == 0
    assert bench.outputs(1)[-1]["cause"] == "power_loss"
    events = bench.driver.events()
    assert any(e.kind == "boot" and "reboot" in e.faults for e in events)
    with pytest.raises(Exception, match="STALE_SESSION"):  # the restart ended the session
        bench.driver.start([1])
    bench.driver.identify()
    with pytest.raises(Exception, match="FAULT_LATCHED"):
        bench.driver.start([1])


def test_impedance_step_is_reported_without_a_trip_at_low_current(
    make_bench: Any, tmp_path: Path
) -> None:
    bench = started(make_bench, "impedance-step", tmp_path)
    run_for(bench, 1.0)
    assert bench.faults(1) == set()
    assert bench.driver.telemetry()[1].impedance_ohm == pytest.approx(3270, abs=2)
    bench.driver.stop([1])


def test_delayed_replies_become_link_loss_but_the_device_stays_fed(
    make_bench: Any, tmp_path: Path
) -> None:
    bench = started(make_bench, "delayed-replies", tmp_path)
    time.sleep(0.6)
    with pytest.raises(LinkLost, match="no answer"):
        bench.driver.heartbeat()
    bench.quiet()
    assert bench.faults(1) == set()  # the heartbeats arrived; only their replies were late


@pytest.mark.parametrize(
    "scenario_id", ["corrupt-1e-3", "corrupt-1e-2", "drop-frames", "duplicate-frames"]
)
def test_noisy_link_never_turns_into_a_wrong_command(
    make_bench: Any, tmp_path: Path, scenario_id: str
) -> None:
    bench = make_bench(compressed(scenario_id, tmp_path))
    persist(bench.driver.identify)
    bench.heartbeat()
    try:
        persist(lambda: bench.run_at(1, AMPLITUDE_MA))
    except CommandRefused as refused:
        # at 1e-2 a second can hold more than 5 bad frames before the ramp is done: the
        # device calls that link loss and latches (a safe stop, judged below like any other)
        assert refused.code == "FAULT_LATCHED" and bench.faults(1)
    run_for(bench, 1.0)
    sent = {round(level * 1000) for level in (1.0, AMPLITUDE_MA)}
    applied = [
        e["fields"]["amplitude_ua"]
        for e in bench.log()
        if e["event"] == "command" and e["type"] == "SET_AMPLITUDE" and e["result"] == "ack"
    ]
    assert set(applied) <= sent
    assert applied or bench.faults(1)
    last = (bench.outputs(1) or [{"amplitude_ua": 0}])[-1]
    if bench.faults(1):  # too many bad frames in a second is link loss: a safe stop
        assert bench.faults(1) <= {"LINK", "WATCHDOG"} and last["amplitude_ua"] == 0
    else:
        assert last["amplitude_ua"] == AMPLITUDE_MA * 1000
