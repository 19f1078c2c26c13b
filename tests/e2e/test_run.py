"""``tensctl run`` as a subprocess against ``tensctl sim --pty``: exit codes checked against
what the simulator's own log says was delivered."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path
from typing import Any

from tensctl.testing import SimulatorFactory, read_until, run_command, run_to_end, start_run

SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


def run(address: str, *extra: str, timeout: float = 60) -> tuple[int, list[dict[str, Any]], str]:
    done = run_to_end(run_command(address, *extra, protocol=SHORT), timeout=timeout)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, events, done.stderr


def stimulating(events: list[dict[str, Any]]) -> bool:
    return events[-1].get("state") == "stimulating"


def outputs(log: list[dict[str, Any]]) -> list[int]:
    return [e["amplitude_ua"] for e in log if e["event"] == "output" and e["channel"] == 1]


def test_completed_session_delivers_the_protocol(tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory() as sim:
        code, events, err = run(sim.url)
        log = sim.log()
    assert code == 0, err
    states = [e["state"] for e in events if e["event"] == "state"]
    assert states[-1] == "completed"
    assert events[-1]["event"] == "telemetry"  # the last word: the device's final counters
    delivered = outputs(log)
    assert max(delivered) == 5000 and delivered[-1] == 0
    assert all(b - a <= 1000 for a, b in itertools.pairwise(delivered))  # slew
    starts = [e for e in log if e["event"] == "command" and e["type"] == "START"]
    assert starts and all(e["result"] == "ack" for e in starts)


def test_fault_scenario_exits_6_with_output_at_zero(
    tenssim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    scenario = tmp_path / "off.yaml"
    scenario.write_text(
        "format_version: 1\nid: electrode-gone\n"
        "events:\n  - {at_s: 2.5, kind: electrode_off, channel: 1}\n"
    )
    with tenssim_factory(scenario=scenario) as sim:
        code, events, err = run(sim.url)
        log = sim.log()
    assert code == 6, err
    assert "open_circuit" in err
    assert any(e["event"] == "fault" for e in events)
    assert outputs(log)[-1] == 0
    assert [e["fault"] for e in log if e["event"] == "fault"][:1] == ["OPEN_CIRCUIT"]


def test_first_ctrl_c_ramps_down_and_exits_7(tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory() as sim:
        proc = start_run(sim.url, protocol=SHORT)
        read_until(proc, stimulating)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        time.sleep(0.2)
        log = sim.log()
    assert code == 7
    delivered = outputs(log)
    top = delivered.index(max(delivered))
    assert len(delivered[top:]) > 2 and delivered[-1] == 0  # ramped down, not dropped


def test_second_ctrl_c_stops_at_once_and_the_controller_exits(
    tenssim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """The second Ctrl-C is an emergency stop, sent from a thread: the handler runs on the
    main thread, which may hold the locks the stop needs (it used to hang there)."""
    db = tmp_path / "s.sqlite3"
    with tenssim_factory() as sim:
        proc = start_run(sim.url, "--db", str(db), protocol=SHORT)
        read_until(proc, stimulating)
        for _ in range(2):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        code = proc.wait(timeout=30)
        time.sleep(0.2)
        log = sim.log()
    assert code == 7
    assert outputs(log)[-1] == 0
    stops = [e for e in log if e["event"] == "command" and e["type"] == "EMERGENCY_STOP"]
    assert stops


def test_refused_by_safety_exits_4_and_nothing_is_delivered(
    tenssim_factory: SimulatorFactory,
) -> None:
    with tenssim_factory() as sim:
        code, _, err = run(sim.url, "--intensity", "1=150")
        log = sim.log()
    assert code == 4 and "above the ceiling" in err
    assert outputs(log) == []


def test_speed_is_refused_off_the_simulator(tenssim_factory: SimulatorFactory) -> None:
    with tenssim_factory() as sim:
        code, _, err = run(sim.url, "--speed", "10")
    assert code == 2 and "only to the built-in simulator" in err


def test_missing_device_exits_5() -> None:
    code, _, err = run("/dev/tensctl-no-such-port")
    assert code == 5 and "No such file or directory" in err
