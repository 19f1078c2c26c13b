"""A device that answers a different protocol is named, with the URL to use."""

from __future__ import annotations

import json
import os
import tty
from pathlib import Path
from typing import Any

import pytest

from tensctl.drivers.sniff import split_url
from tensctl.testing import SimulatorFactory


def test_a_p24_probed_with_a_bare_path_is_named_with_its_url(
    tenssim_factory: SimulatorFactory, cli: Any, tmp_path: Path
) -> None:
    with tenssim_factory(personality="sciencemode4") as sim:
        result = cli("devices", "probe", sim.address)
        again = cli("devices", "probe", f"sciencemode4://{sim.address}", "--json")
    assert result.code == 5
    assert f"{sim.address}: no answer to IDENTIFY" in result.err
    assert (
        f"this looks like a ScienceMode4 device (Hasomed P24): use sciencemode4://{sim.address}"
        in result.err
    )
    assert again.code == 0 and json.loads(again.out)["model"] == "P24"  # the URL it said works


def test_a_rehastim2_probed_as_a_p24_is_named_from_its_own_init(
    tenssim_factory: SimulatorFactory, cli: Any, tmp_path: Path
) -> None:
    with tenssim_factory(personality="sciencemode2") as sim:
        result = cli("devices", "probe", f"sciencemode4://{sim.address}", "--json")
        log = sim.log()
    data = json.loads(result.out)
    assert result.code == 5 == data["exit_code"] and data["kind"] == "device"
    assert data["error"].endswith(
        f"this looks like a ScienceMode2 device (Hasomed RehaStim2): use sciencemode2://{sim.address}"
    )
    # recognised by listening: nothing but the P24's and the native requests was sent
    assert not [e for e in log if e["event"] == "command"]


def test_a_native_device_probed_as_a_p24_is_named_with_its_path(
    tenssim_factory: SimulatorFactory, cli: Any, tmp_path: Path
) -> None:
    with tenssim_factory(transport="tcp") as sim:
        result = cli("devices", "probe", f"sciencemode4://{sim.address}")
    assert result.code == 5
    assert f"this looks like a device of tensctl's own protocol: use {sim.address}" in result.err


def test_a_port_where_nothing_answers_keeps_its_own_error(cli: Any) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        result = cli("devices", "probe", os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
    assert result.code == 6 and "no answer to IDENTIFY" in result.err
    assert "looks like" not in result.err


@pytest.mark.parametrize(
    ("url", "split"),
    [
        ("/dev/ttyUSB0", ("native", "/dev/ttyUSB0")),
        ("serial:///dev/ttyUSB0", ("native", "/dev/ttyUSB0")),
        ("socket://127.0.0.1:7777", ("native", "socket://127.0.0.1:7777")),
        ("sciencemode4:///dev/ttyACM0", ("sciencemode4", "/dev/ttyACM0")),
        ("sciencemode2://socket://127.0.0.1:7", ("sciencemode2", "socket://127.0.0.1:7")),
        ("sim://", None),
        ("sciencemode2://", None),
        ("acme://x", None),
    ],
)
def test_which_port_a_url_names(url: str, split: tuple[str, str] | None) -> None:
    assert split_url(url) == split


def test_run_names_the_url_too_and_sends_no_stimulation(
    tenssim_factory: SimulatorFactory, cli: Any, tmp_path: Path
) -> None:
    short = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"
    with tenssim_factory(personality="sciencemode4") as sim:
        result = cli("run", str(short), "--device", sim.address, "--yes", "--json")
        log = sim.log()
    data = json.loads(result.out.splitlines()[-1])
    assert result.code == 5 == data["exit_code"] and data["event"] == "exit"
    assert data["error"].endswith(f"use sciencemode4://{sim.address}")
    assert not [e for e in log if e["event"] == "output" and e.get("amplitude_ua")]
