"""Fault injection at run time through the simulator's control socket."""

from __future__ import annotations

import time

import pytest
from tenssim.control import parse_event

from tensctl.drivers.base import ChannelSettings
from tensctl.drivers.registry import open_driver
from tensctl.testing import SimulatorFactory


def test_electrode_off_injected_at_run_time_trips_the_channel(
    tenssim_factory: SimulatorFactory,
) -> None:
    with tenssim_factory(control=True) as sim:
        driver = open_driver(sim.url)
        try:
            driver.identify()
            driver.configure(2, ChannelSettings(80, 150))
            driver.start([2])
            driver.set_amplitude(2, 1)
            assert sim.inject(kind="electrode_off", channel=2) == {"ok": True}
            time.sleep(0.05)
            driver.heartbeat()
            time.sleep(0.15)
            assert "open_circuit" in driver.telemetry()[2].faults
        finally:
            driver.close()
        log = sim.log()
    assert [e["kind"] for e in log if e["event"] == "inject"] == ["electrode_off"]
    last = [e for e in log if e["event"] == "output" and e["channel"] == 2][-1]
    assert last["amplitude_ua"] == 0 and last["cause"] == "open_circuit"


def test_bad_control_lines_are_answered_not_fatal(tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory(transport="tcp", control=True) as sim:
        answer = sim.inject(kind="electrode_of", channel=1)
        assert answer["ok"] is False and "electrode_off" in answer["error"]
        assert sim.inject(kind="battery", low=True) == {"ok": True}
        assert sim.running()
    assert sim.control is not None and not sim.control.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "not JSON"),
        ("[1]", "expected a JSON object"),
        ('{"kind": "short", "channel": 1, "at_s": 3}', "'at_s' does not apply"),
        ('{"kind": "peel", "channel": 1, "duration_s": 2, "area_fraction": 1.5}', "area_fraction"),
    ],
)
def test_control_lines_are_validated(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_event(line)
