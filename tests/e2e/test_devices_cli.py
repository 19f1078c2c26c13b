"""``tensctl devices probe`` and ``devices scan`` against the simulator."""

from __future__ import annotations

import json
from typing import Any

from tensctl.testing import SimulatorFactory


def test_probe_shows_identity_limits_and_impedance(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("devices", "probe", "sim://")
    assert result.code == 0
    for text in ("tenssim 2-channel", "0–100 mA", "50–400 µs", "500 ms", "channel 2 impedance"):
        assert text in result.out


def test_probe_json_over_a_pty(cli: Any, tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory(serial="SIM-4242") as sim:
        result = cli("devices", "probe", sim.address, "--json")
    data = json.loads(result.out)
    assert result.code == 0 and data["serial"] == "SIM-4242" and data["channels"] == 2
    assert data["simulated"] is True  # the simulator says so: its SIM- serial
    assert all(1000 < z < 8000 for z in data["impedance_ohm"].values())


def test_probe_of_a_p24_says_its_impedance_is_not_measured(
    cli, tenssim_factory: SimulatorFactory
) -> None:  # type: ignore[no-untyped-def]
    with tenssim_factory(personality="sciencemode4") as sim:
        url = sim.url
        data = json.loads(cli("devices", "probe", url, "--json").out)
        table = cli("devices", "probe", url)
    assert data["model"] == "P24" and data["channels"] == 8
    assert set(data["impedance_ohm"].values()) == {None} and data["impedance_measured"] is False
    assert table.code == 0 and "not measured by this device" in table.out


def test_probe_of_a_missing_port_is_a_device_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("devices", "probe", "/dev/no-such-port")
    assert result.code == 5
    assert "cannot open /dev/no-such-port: No such file or directory" in result.err


def test_probe_of_an_unknown_scheme_names_the_known_ones(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("devices", "probe", "foo://bar")
    assert result.code == 5 and "sim://" in result.err and "socket://" in result.err


def test_scan_finds_the_simulator_and_reports_busy_ports(
    cli, tenssim_factory: SimulatorFactory
) -> None:  # type: ignore[no-untyped-def]
    from tensctl.drivers.registry import open_driver

    with (
        tenssim_factory() as free,
        tenssim_factory() as held,
    ):
        holder = open_driver(held.address)
        try:
            result = cli(
                "devices", "scan", "--port", free.address, "--port", held.address, "--json"
            )
        finally:
            holder.close()
    rows = {r["port"]: r for r in json.loads(result.out)}
    assert result.code == 0
    assert (
        rows[free.address]["status"] == "ok" and rows[free.address]["model"] == "tenssim 2-channel"
    )
    assert rows[held.address]["status"] == "busy"


def test_reset_clears_a_latched_fault_once_its_cause_is_gone(
    cli, tenssim_factory: SimulatorFactory
) -> None:  # type: ignore[no-untyped-def]
    """After an emergency stop the device refuses a reset for its hold-off (exit 5, its own
    reason); after it, `devices reset` clears the latch and output stays at 0."""
    import time

    from tensctl.drivers.registry import open_driver

    with tenssim_factory() as sim:
        with open_driver(sim.address) as driver:
            driver.identify()
            driver.emergency_stop()
        early = cli("devices", "reset", sim.address)
        time.sleep(3.5)  # the simulator's hold-off after an emergency stop (not asserted on)
        done = cli("devices", "reset", sim.address, "--json")
        log = sim.log()
    assert early.code == 5 and "the device kept its fault" in early.err
    assert "RESET_TOO_EARLY" in early.err
    assert done.code == 0 and json.loads(done.out) == {
        "url": sim.address,
        "reset": True,
        "channels": [1, 2],
    }
    assert all(e["amplitude_ua"] == 0 for e in log if e["event"] == "output")
