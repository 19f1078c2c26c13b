"""``pytest tests/conformance --device URL`` as a person with a stimulator would type it:
skipped with the reason without a device, refused without the test-load confirmation, and
run and passed against the simulator's pty given as if it were the hardware."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tensctl.testing import SimulatorFactory

pytestmark = pytest.mark.timeout(120)
HERE = Path(__file__).resolve().parent


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "test_device.py"),
            "-p",
            "no:cacheprovider",
            "-rs",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=HERE.parents[1],
    )


def test_without_a_device_every_test_is_skipped_with_the_reason() -> None:
    done = run_pytest()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 skipped" in done.stdout and "passed" not in done.stdout
    assert "no --device URL given" in done.stdout


def test_a_device_without_the_test_load_confirmation_is_a_usage_error() -> None:
    done = run_pytest("--device", "sciencemode4:///dev/ttyUSB0")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    said = " ".join(done.stderr.split())
    assert "test load" in said and "never to a person" in said and "--test-load-connected" in said
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("personality", ["native", "sciencemode2", "sciencemode4"])
def test_the_simulator_s_pty_given_as_hardware_passes(
    tenssim_factory: SimulatorFactory, personality: str
) -> None:
    sim = tenssim_factory(personality=personality)
    done = run_pytest("--device", sim.url, "--test-load-connected")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "7 passed" in done.stdout and "skipped" not in done.stdout
    # the device was driven at its lowest amplitude, and by no more than that
    resolution_ua = {"native": 1, "sciencemode2": 1000, "sciencemode4": 500}[personality]
    assert sim.log.max_delivered_ma(1) <= resolution_ua / 1000
    assert max(e["amplitude_ua"] for e in sim.log.outputs(1)) == resolution_ua
    assert sim.log.watchdog_trips()  # the silent-host test made the device's watchdog act
    assert sim.log.output_ma(1) == 0
