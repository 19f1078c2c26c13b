"""The simulator as a separate process: its command line, signals, exclusive ports, and
its own watchdog when the controller process is killed outright."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tensctl.drivers.errors import DeviceBusy, LinkLost
from tensctl.drivers.registry import open_driver
from tensctl.testing import SimulatorFactory

CONTROLLER = """
import sys, time
from tensctl.drivers.registry import open_driver
from tensctl.drivers.base import ChannelSettings
d = open_driver(sys.argv[1])
d.identify()
d.configure(1, ChannelSettings(100, 200))
d.start([1])
for level in (1, 2, 3):
    d.set_amplitude(1, level)
    time.sleep(0.26)
print("stimulating", flush=True)
while True:
    d.heartbeat()
    time.sleep(0.1)
"""


def test_sigkilled_controller_leaves_output_at_zero_within_the_watchdog(
    tenssim_factory: SimulatorFactory,
) -> None:
    with tenssim_factory() as sim:
        controller = subprocess.Popen(
            [sys.executable, "-c", CONTROLLER, sim.address], stdout=subprocess.PIPE, text=True
        )
        assert controller.stdout is not None
        assert controller.stdout.readline().strip() == "stimulating"
        time.sleep(0.3)
        controller.send_signal(signal.SIGKILL)
        controller.wait()
        time.sleep(1.0)
        log = sim.log()
    outputs = [e for e in log if e["event"] == "output" and e["channel"] == 1]
    assert [e["amplitude_ua"] for e in outputs] == [0, 1000, 2000, 3000, 0]
    zeroed = outputs[-1]
    assert zeroed["cause"] == "watchdog" and zeroed["running"] is False
    last_frame = max(e["t"] for e in log if e["event"] == "command")
    assert 0.5 <= zeroed["t"] - last_frame <= 0.5 + 0.005  # watchdog period + one frame time


def test_second_controller_on_the_same_port_is_refused(tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory() as sim:
        first = open_driver(sim.address)
        try:
            first.identify()
            with pytest.raises(DeviceBusy, match="in use"):
                open_driver(sim.address)
            first.heartbeat()  # the first controller is undisturbed
        finally:
            first.close()


def test_tcp_serves_one_controller_at_a_time(tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory(transport="tcp") as sim:
        first = open_driver(sim.address)
        try:
            first.identify()
            second = open_driver(sim.address)
            with pytest.raises(LinkLost):
                second.identify()
            second.close()
            first.heartbeat()
        finally:
            first.close()


def test_sim_exits_0_on_sigint_and_removes_its_link(tmp_path: Path) -> None:
    link = tmp_path / "tenssim"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensctl", "sim", "--pty", "--link", str(link)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    assert path.startswith("/dev/") and link.resolve() == Path(path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert not link.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--tcp", "0.0.0.0:7777"], 2, "not a loopback address"),
        (["--tcp", "localhost"], 3, "expected HOST:PORT"),
        (["--tcp", "127.0.0.1:99999"], 3, "port must be a number"),
        (["--pty", "--tcp", "127.0.0.1:0"], 2, "choose one of"),
        (["--scenario", "no-such-scenario"], 3, "no-such-scenario"),
        (["--profile", "no-such-device"], 3, "no device profile with id"),
        (["--personality", "sciencemode3"], 3, "unknown personality 'sciencemode3'"),
        (["--profile", "hasomed-p24"], 2, "native simulator needs a simulated one"),
        (
            ["--personality", "sciencemode2", "--profile", "hasomed-p24"],
            2,
            "driven over sciencemode4://, not sciencemode2://",
        ),
    ],
)
def test_sim_rejects_bad_options_clearly(cli, args: list[str], code: int, message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("sim", *args)
    assert result.code == code
    assert message in result.err
    assert "Traceback" not in result.err
