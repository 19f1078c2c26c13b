"""``tensctl run --device sciencemodeN://PTY``: the whole controller, a subprocess, against
the simulator speaking the Hasomed protocol behind a pseudo-terminal — checked against what
the simulator's output stage logged, not against what the controller believes."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tensctl.testing import SimulatorFactory, read_until, run_command, run_to_end, start_run

pytestmark = pytest.mark.timeout(90)
HERE = Path(__file__).resolve().parent
SHORT_40HZ = HERE.parent / "data" / "protocols" / "e2e-short-40hz.yaml"  # 6 s, 5 mA, 40 Hz
SHORT = HERE.parent / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA, 80 Hz


def outputs(log: list[dict[str, Any]], channel: int = 1) -> list[int]:
    return [e["amplitude_ua"] for e in log if e["event"] == "output" and e["channel"] == channel]


@pytest.mark.parametrize("personality", ["sciencemode2", "sciencemode4"])
def test_a_short_protocol_runs_to_completion(
    personality: str, tmp_path: Path, tenssim_factory: SimulatorFactory
) -> None:
    with tenssim_factory(personality=personality) as sim:
        url = sim.url
        done = run_to_end(
            run_command(url, "--db", str(tmp_path / "s.sqlite3"), protocol=SHORT_40HZ)
        )
        time.sleep(0.2)
        log = sim.log()
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    states = [e["state"] for e in events if e["event"] == "state"]
    assert states[-1] == "completed"
    delivered = outputs(log)
    assert max(delivered) == 5000 and delivered[-1] == 0
    assert all(b - a <= 1000 for a, b in itertools.pairwise(delivered))  # host slew limit
    impedance = [e for e in events if e["event"] == "impedance"]
    assert impedance and impedance[0]["measured"] is False  # the device cannot measure it


def test_a_shipped_protocol_runs_on_the_p24_until_the_user_stops_it(
    tmp_path: Path, tenssim_factory: SimulatorFactory
) -> None:
    """conventional-hf (100 Hz, 200 µs, 30 min) on the P24: it ramps up and stimulates; the
    first Ctrl-C ramps down and exits 7 (stopped by the user), the output back at 0."""
    with tenssim_factory(personality="sciencemode4") as sim:
        proc = start_run(
            sim.url,
            "--db",
            str(tmp_path / "s.sqlite3"),
            "--intensity",
            "1=4",
            protocol=Path("conventional-hf"),  # a shipped protocol, by its id
        )
        try:
            events = read_until(proc, lambda ev: ev[-1].get("state") == "stimulating")
            time.sleep(1.0)  # stimulating: keep-alives must hold the output on
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=30)
        finally:  # never leave a controller running behind a failed test
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.2)
        log = sim.log()
    assert code == 7, proc.stderr.read() if proc.stderr else ""
    assert events[-1]["state"] == "stimulating"
    delivered = outputs(log)
    assert max(delivered) == 4000 and delivered[-1] == 0
    top = delivered.index(max(delivered))
    assert len(delivered[top:]) > 2  # ramped down, not dropped
    updates = [e for e in log if e["event"] == "command" and e["result"] == "ack"]
    assert updates


def test_a_protocol_the_rehastim2_cannot_express_is_refused_before_any_output(
    tmp_path: Path, tenssim_factory: SimulatorFactory
) -> None:
    """The short test protocol runs at 80 Hz; the RehaStim2 goes to 50 Hz: exit 4, nothing
    is sent."""
    with tenssim_factory(personality="sciencemode2") as sim:
        done = subprocess.run(
            [
                *run_command(sim.url, "--intensity", "1=4", protocol=SHORT),
                "--db",
                str(tmp_path / "s.sqlite3"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        log = sim.log()
    assert done.returncode == 4, done.stderr
    assert "envelope.frequency" in done.stderr or "50 Hz" in done.stderr
    assert all(a == 0 for a in outputs(log))
