"""The simulator's pytest plugin (tensctl.testing), used as a test author would: its
fixtures start real simulator processes, its log reader answers from what the device did."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import tensctl
from tensctl.api import Device
from tensctl.drivers.base import ChannelSettings
from tensctl.drivers.registry import open_driver
from tensctl.testing import Simulator, SimulatorFailed

pytestmark = pytest.mark.timeout(60)


def _ramp(sim: Simulator, levels_ma: list[float]) -> None:
    driver = open_driver(sim.url)
    try:
        driver.identify()
        driver.configure(1, ChannelSettings(frequency_hz=40, pulse_width_us=200))
        driver.start([1])
        for level in levels_ma:
            driver.set_amplitude(1, level)
            driver.heartbeat()
        time.sleep(0.3)
        driver.heartbeat()
        driver.stop([1])
    finally:
        driver.close()


@pytest.mark.parametrize("personality", ["native", "sciencemode2", "sciencemode4"])
def test_each_personality_answers_at_its_url_and_logs_what_it_delivered(
    tenssim_factory, personality: str
) -> None:
    sim = tenssim_factory(personality=personality)
    assert sim.url == (sim.address if personality == "native" else f"{personality}://{sim.address}")
    _ramp(sim, [1, 2, 3])
    assert sim.log.max_delivered_ma(1) == pytest.approx(3, abs=0.01)
    assert sim.log.output_ma(1) == 0
    assert sim.log.pulses(1) > 0
    assert sim.log.max_delivered_ma(2) == 0 and sim.log.pulses(2) == 0


def test_output_at_a_time_follows_the_logged_changes(tenssim_factory) -> None:
    sim = tenssim_factory()
    _ramp(sim, [1, 2])
    changes = sim.log.outputs(1)
    at_2ma = next(e["t"] for e in changes if e["amplitude_ua"] == 2000)
    assert sim.log.output_at(1, at_2ma) == 2
    assert sim.log.output_at(1, at_2ma - 1e-6) == 1
    assert sim.log.output_at(1, 0) == 0
    assert sim.log.output_at(1, changes[-1]["t"]) == 0
    assert 0 < sim.log.sim_time() - changes[-1]["t"] < 30


def test_a_silent_host_shows_as_a_watchdog_trip(tenssim_factory) -> None:
    sim = tenssim_factory(transport="tcp")
    assert sim.url.startswith("socket://127.0.0.1:")
    driver = open_driver(sim.url)
    try:
        driver.identify()
        driver.configure(1, ChannelSettings(frequency_hz=40, pulse_width_us=200))
        driver.start([1])
        driver.set_amplitude(1, 1)
        assert sim.log.watchdog_trips() == []
        time.sleep(1.0)  # the host says nothing: the 500 ms watchdog stops the output
        assert len(sim.log.watchdog_trips()) == 1
        assert sim.log.output_ma(1) == 0 and sim.log.outputs(1)[-1]["cause"] == "watchdog"
    finally:
        driver.close()


@pytest.mark.tenssim(personality="sciencemode4", profile="hasomed-p24", serial="SIM-7")
def test_the_marker_chooses_the_simulator(tenssim: Simulator) -> None:
    with tensctl.connect(tenssim.url, journal=False) as device:
        assert device.info.serial == "SIM-7" and device.info.model == "P24"
    assert tenssim.personality == "sciencemode4"


@pytest.mark.parametrize("tenssim", [{"transport": "tcp", "serial": "SIM-9"}], indirect=True)
def test_an_indirect_parameter_chooses_the_simulator(tenssim: Simulator) -> None:
    assert tenssim.url.startswith("socket://127.0.0.1:")
    with tensctl.connect(tenssim.url, journal=False) as device:
        assert device.info.serial == "SIM-9"


def test_a_fault_scenario_plays_once_the_output_is_on(tenssim_factory, tmp_path: Path) -> None:
    scenario = tmp_path / "off.yaml"
    scenario.write_text(
        "format_version: 1\nid: off-soon\ndescription: electrode off after 0.2 s\n"
        "events:\n  - {at_s: 0.2, kind: electrode_off, channel: 1}\n"
    )
    sim = tenssim_factory(scenario=scenario)
    _ramp(sim, [1, 2])
    assert [e["kind"] for e in sim.log.entries("inject")] == ["electrode_off"]
    assert sim.log.output_ma(1) == 0 and sim.log.faults(1)


def test_faults_are_injected_through_the_control_socket(tenssim_factory) -> None:
    sim = tenssim_factory(control=True)
    driver = open_driver(sim.url)
    try:
        driver.identify()
        driver.configure(1, ChannelSettings(frequency_hz=40, pulse_width_us=200))
        driver.start([1])
        driver.set_amplitude(1, 1)
        assert sim.inject(kind="electrode_off", channel=1)["ok"]
        driver.heartbeat()
        time.sleep(0.3)
        driver.heartbeat()
        assert sim.log.output_ma(1) == 0 and sim.log.faults(1)
    finally:
        driver.close()
    assert tenssim_factory().inject is not None
    with pytest.raises(RuntimeError, match="without a control socket"):
        tenssim_factory().inject(kind="electrode_off", channel=1)


def test_a_simulator_that_cannot_start_says_why(tenssim_factory) -> None:
    with pytest.raises(SimulatorFailed, match="unknown personality 'rehastim9'"):
        tenssim_factory(personality="rehastim9")
    with pytest.raises(SimulatorFailed, match="real device"):
        tenssim_factory(profile="hasomed-p24")


def test_every_simulator_is_stopped_even_when_the_test_fails(pytester: pytest.Pytester) -> None:
    """A failing test's simulators are reaped by the factory: their pids are gone after."""
    pids = pytester.path / "pids.txt"
    pytester.makepyfile(
        f"""
        def test_fails(tenssim_factory):
            sims = [tenssim_factory(), tenssim_factory(transport="tcp")]
            with open({str(pids)!r}, "w") as f:
                f.write(" ".join(str(s.pid) for s in sims))
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest_subprocess("-p", "tensctl.testing", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    for pid in map(int, pids.read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_virtual_device_runs_a_session_in_virtual_time(virtual_device: Device) -> None:
    started = time.monotonic()
    with virtual_device.session("brief-intense", intensity=15.0, screened=True) as session:
        assert session.protocol.total_duration_s >= 60
        state = session.run()
    assert state.value == "completed"
    assert time.monotonic() - started < 10  # minutes of protocol, seconds of test


def test_a_misspelt_marker_option_is_named_with_the_known_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.tenssim(personalty="sciencemode4")
        def test_p24(tenssim):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "tensctl.testing", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*tenssim: unknown option 'personalty' (known: personality,*"])
