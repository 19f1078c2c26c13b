"""The third-party client ``pysciencemode`` (PyPI, unmodified) against the RehaStim2
personality over a pty: what it asked for is what the simulated device delivered.

The client checks no CRC and no result, waits forever for a missing reply, and its
keep-alive thread can leave gaps of up to 1.6 s, so the simulator runs with
``--lenient-watchdog`` (3 s). It XORs the packet number and command with 0x55 *without* the
stuffing byte when they equal F0/0F/81/55/0A: a device that follows the document reads
another packet number (it echoes it, the client does not look) — no framing leniency is
needed; see ``clients/pysciencemode_session.py`` for the call sequence.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tensctl.testing import Simulator

SESSION = Path(__file__).resolve().parent / "clients" / "pysciencemode_session.py"


def _commands(log: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == "command" and e["type"] == kind]


@pytest.mark.timeout(90)
def test_pysciencemode_session_delivers_what_it_asked_for(tmp_path: Path) -> None:
    with Simulator(
        tmp_path / "sim.jsonl", personality="sciencemode2", extra=("--lenient-watchdog",)
    ) as sim:
        run = subprocess.run(
            [sys.executable, str(SESSION), sim.address],
            capture_output=True,
            text=True,
            timeout=60,
        )
        log = sim.log()
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["done"] is True
    sequence = [e["type"] for e in log if e["event"] == "command" and e["type"] != "Watchdog"]
    assert sequence == [
        "InitAck",
        "StopChannelListMode",
        "InitChannelListMode",
        "StartChannelListMode",
        "StartChannelListMode",
        "StopChannelListMode",
    ]
    assert all(e["result"] == "ack" for e in log if e["event"] == "command")
    assert not [e for e in log if e["event"] in ("bad_frame", "sm2_watchdog", "stimulation_error")]
    (init,) = _commands(log, "InitChannelListMode")
    assert init["fields"] == {
        "low_frequency_factor": 1,
        "active_channels": 0b10101,
        "low_frequency_channels": 0b10000,
        "inter_pulse_code": 17,  # 10 ms
        "main_interval_code": 78,  # 40 ms
        "execution": 0,
    }
    first, update = (c["fields"]["entries"] for c in _commands(log, "StartChannelListMode"))
    assert first == [
        {"channel": 1, "mode": 0, "pulse_width_us": 250, "current_ma": 12},
        {"channel": 3, "mode": 1, "pulse_width_us": 400, "current_ma": 7},
        {"channel": 5, "mode": 0, "pulse_width_us": 100, "current_ma": 0},
    ]
    assert update == [
        {"channel": 1, "mode": 0, "pulse_width_us": 250, "current_ma": 20},
        {"channel": 3, "mode": 1, "pulse_width_us": 150, "current_ma": 7},
        {"channel": 5, "mode": 0, "pulse_width_us": 100, "current_ma": 3},
    ]
    delivered: dict[int, list[int]] = {}
    for e in log:
        if e["event"] == "output":
            delivered.setdefault(e["channel"], []).append(e["amplitude_ua"])
    assert delivered == {1: [12_000, 20_000, 0], 3: [7_000, 0], 5: [0, 3_000, 0]}
    last = {e["channel"]: e for e in log if e["event"] == "output"}
    assert {n: e["running"] for n, e in last.items()} == {1: False, 3: False, 5: False}
    # pulses from the log's own times: channel 1 at 25 Hz (40 ms list), channel 3 in
    # doublets (2 per period), channel 5 skipped once in two (12.5 Hz) while at 3 mA
    times = {
        n: [e["t"] for e in log if e["event"] == "output" and e["channel"] == n] for n in (1, 3, 5)
    }
    assert last[1]["pulses"] == pytest.approx(25 * (times[1][-1] - times[1][0]), abs=1)
    assert last[3]["pulses"] == pytest.approx(50 * (times[3][-1] - times[3][0]), abs=2)
    assert last[5]["pulses"] == pytest.approx(12.5 * (times[5][-1] - times[5][1]), abs=1)
