"""Every personality serves connection after connection on one pty or TCP port, as a
device does that stays plugged in while programs come and go."""

from __future__ import annotations

import json
import os
import termios
import tty
from pathlib import Path
from typing import Any

import pytest
import serial

from tensctl.drivers.errors import DeviceNotFound
from tensctl.drivers.port import open_serial_port
from tensctl.drivers.registry import open_driver
from tensctl.model.library import find_device
from tensctl.testing import SimulatorFactory

MODELS = {"native": "tenssim 2-channel", "sciencemode2": "RehaStim2", "sciencemode4": "P24"}


def _url(personality: str, address: str) -> str:
    return address if personality == "native" else f"{personality}://{address}"


def test_the_rehastim2_simulator_answers_ten_probes_in_a_row_on_one_pty(
    tenssim_factory: SimulatorFactory, cli: Any
) -> None:
    with tenssim_factory(personality="sciencemode2") as sim:
        results = [
            cli("devices", "probe", f"sciencemode2://{sim.address}", "--json") for _ in range(10)
        ]
    assert [r.code for r in results] == [0] * 10, [r.err for r in results if r.code]
    assert {json.loads(r.out)["model"] for r in results} == {"RehaStim2"}


@pytest.mark.parametrize(
    ("personality", "transport"),
    [(p, t) for p in sorted(MODELS) for t in ("pty", "tcp") if (p, t) != ("sciencemode2", "pty")],
)  # the RehaStim2 on a pty: through the command line, above
def test_every_personality_serves_ten_connections_in_a_row(
    tenssim_factory: SimulatorFactory, personality: str, transport: str, tmp_path: Path
) -> None:
    """Back to back, with no pause between a close and the next open."""
    with tenssim_factory(personality=personality, transport=transport) as sim:
        models = []
        for _ in range(10):
            with open_driver(_url(personality, sim.address)) as driver:
                models.append(driver.identify().model)
    assert models == [MODELS[personality]] * 10


def test_a_host_keeps_its_line_settings_while_connected(
    tenssim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """The simulator rests the pty's baud rate between hosts; the bytes of the host that is
    connected flow all the same, whatever it asked for."""
    with (
        tenssim_factory(personality="sciencemode2") as sim,
        open_driver(f"sciencemode2://{sim.address}") as driver,
    ):
        first = driver.identify()
        fd = os.open(sim.address, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            line = termios.tcgetattr(fd)
        finally:
            os.close(fd)
        assert line[4] == line[5] == termios.B50  # the host's 460800 has been rested
        assert line[3] & (termios.ICANON | termios.ECHO) == 0  # its raw mode has not
        assert driver.identify() == first


def test_a_port_that_refuses_its_line_settings_is_a_device_error() -> None:
    """Without the simulator's resting baud rate a pty refuses a second 460800 8E1; the
    host says so in words (it used to be an internal error)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    line = find_device("hasomed-rehastim2")[0].serial
    try:
        open_serial_port(path, line).close()
        try:
            again = open_serial_port(path, line)
        except DeviceNotFound as exc:
            assert (
                str(exc) == f"cannot open {path}: it refused the line settings (Invalid argument)"
            )
        else:  # a kernel that drops the parity bit without refusing: nothing to report
            again.close()
            pytest.skip("this kernel accepts a repeated 8E1 on a pty")
    finally:
        os.close(master)
        os.close(slave)


def test_a_refused_line_setting_is_named_whatever_the_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise termios.error(22, "Invalid argument")

    monkeypatch.setattr(serial, "serial_for_url", refuse)
    with pytest.raises(
        DeviceNotFound,
        match=r"^cannot open /dev/x: it refused the line settings \(Invalid argument\)$",
    ):
        open_serial_port("/dev/x", None)
