"""The third-party ``science-mode-4`` client (PyPI), unmodified, in a subprocess against the
P24 personality on a pty. It checks checksums, acknowledge commands, packet numbers and
result codes and gives up after 5 s, so a session it completes is a conformance check; the
simulator's log must then show exactly what it asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sm4_helpers import commands, sim_process

pytestmark = pytest.mark.timeout(90)
CLIENT = Path(__file__).parent / "clients" / "science_mode_4_session.py"


def _run_client(address: str, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(CLIENT), address, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, (steps, done.stderr[-2000:])
    return steps


@pytest.mark.parametrize(
    ("first_ma", "second_ma", "width_us", "period_ms"),
    [(10.0, 20.5, 200, 25), (3.5, 7.0, 1000, 100)],
)
def test_client_session_is_delivered_exactly(
    tmp_path: Path, first_ma: float, second_ma: float, width_us: int, period_ms: int
) -> None:
    with sim_process(tmp_path / "sim.jsonl", "--serial", "SIM-P24-7") as sim:
        steps = _run_client(
            sim.address, str(first_ma), str(second_ma), str(width_us), str(period_ms)
        )
    assert [s["step"] for s in steps] == [
        "connect",
        "init",
        "update",
        "update",
        "current_data",
        "stop",
    ]
    connect = steps[0]
    assert connect["device_id"].rstrip("\0") == "SIM-P24-7"
    assert connect["science_mode"].startswith("4.")
    data = steps[4]
    assert data["result"] == "NO_ERROR" and data["active"] == [True] + [False] * 7
    assert data["errors"] == ["NO_ERROR"] * 8

    log = sim.log()
    asked = commands(log)
    assert [(c["number"], c["type"], c["result"]) for c in asked] == [
        (1, "GET_STIM_STATUS", "ack"),
        (2, "GET_DEVICE_ID", "ack"),
        (3, "GET_EXTENDED_VERSION", "ack"),
        (4, "ML_INIT", "ack"),
        (5, "ML_UPDATE", "ack"),
        (6, "ML_UPDATE", "ack"),
        (7, "ML_GET_CURRENT_DATA", "ack"),
        (8, "ML_STOP", "ack"),
    ]
    for command, amplitude in zip(asked[4:6], (first_ma, second_ma), strict=True):
        assert command["fields"]["channels"] == {
            "1": {
                "points": [[width_us, amplitude], [width_us, -amplitude]],
                "period_ms": float(period_ms),
                "ramp": 0,
                "frequency_hz": 1000 / period_ms,
                "pulse_width_us": width_us,
                "amplitude_ma": amplitude,
                "net_charge_nc": 0.0,
            }
        }
    outputs = [
        (o["channel"], o["running"], o["amplitude_ua"], o["cause"])
        for o in log
        if o["event"] == "output"
    ]
    assert outputs == [
        (1, True, round(first_ma * 1000), "ml_update"),
        (1, True, round(second_ma * 1000), "ml_update"),
        (1, False, 0, "ml_stop"),
    ]
    assert [e["on"] for e in log if e["event"] == "high_voltage"] == [True, False]
