"""Virtual-time throughput: simulated seconds per wall second, through the engine, the
supervisor, the native driver, the in-process simulator and the session record (a scratch
store), on a virtual clock. The headline: a 30-minute two-channel 100 Hz protocol; then
every shipped protocol, whole.

    python bench/virtual_time.py [--runs 3] [--headline-only]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import protocol_yaml

import tensctl
from tensctl.engine.runner import run
from tensctl.model.library import find_protocol, library_files, protocol_dirs
from tensctl.model.loader import parse_protocol
from tensctl.model.protocol import Protocol

TWO_CHANNEL_100HZ = {
    "name": "stimulation",
    "duration_s": 1800,
    "frequency_hz": 100,
    "pulse_width_us": 200,
    "ramp_up_s": 10,
    "ramp_down_s": 10,
}


def one(protocol: Protocol, store: Path) -> tuple[float, float, int]:
    """(wall seconds, simulated seconds, ticks) for one whole session."""
    with tensctl.connect("sim://", virtual=True, journal=store) as device:
        intensity = {c.id: 12.0 for c in protocol.channels}
        with device.session(protocol, intensity=intensity, screened=True) as session:
            ticks = [0]
            started = time.perf_counter()
            run(session, on_tick=lambda: ticks.__setitem__(0, ticks[0] + 1))
            wall = time.perf_counter() - started
            if session.end_reason != "completed":
                raise RuntimeError(f"{protocol.id}: {session.fault_detail or session.end_reason}")
            return wall, session.elapsed_s(), ticks[0]


def row(name: str, protocol: Protocol, runs: int, store: Path) -> dict[str, Any]:
    wall, simulated, ticks = min(one(protocol, store) for _ in range(runs))
    return {
        "protocol": name,
        "simulated_s": round(simulated, 1),
        "wall_s": round(wall, 3),
        "speedup": round(simulated / wall),
        "ticks": ticks,
    }


def measure(runs: int = 3, headline_only: bool = False) -> dict[str, Any]:
    headline = parse_protocol(
        protocol_yaml("two-channel-100hz", [TWO_CHANNEL_100HZ], channels=2, target_ma=12),
        "<bench>",
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "sessions.sqlite3"
        result: dict[str, Any] = {"headline": row("2 ch 100 Hz, 30 min", headline, runs, store)}
        if not headline_only:
            result["library"] = [
                row(name, find_protocol(name)[0], runs, store)
                for name in library_files(protocol_dirs())
            ]
    return result


def show(result: dict[str, Any]) -> None:
    print(
        f"{'protocol':<22} {'simulated':>10} {'wall (best)':>12} {'× real time':>12} {'ticks':>7}"
    )
    for r in [result["headline"], *result.get("library", [])]:
        print(
            f"{r['protocol']:<22} {r['simulated_s']:>9.0f}s {r['wall_s']:>11.3f}s "
            f"{r['speedup']:>11}× {r['ticks']:>7}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--headline-only", action="store_true")
    args = parser.parse_args()
    show(measure(args.runs, args.headline_only))
