"""Virtual-time throughput: every shipped protocol, whole, through the engine, the
supervisor, the native driver and the in-process simulator on a virtual clock.

    python bench/virtual_time.py [--json bench/virtual_time.json]

Prints simulated seconds per wall second for each protocol (the best of 3 runs) and
writes a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import tensctl
from tensctl.engine.runner import run
from tensctl.model.library import find_protocol, library_files, protocol_dirs

RUNS = 3


def one(protocol: str) -> tuple[float, float, int]:
    """(wall seconds, simulated seconds, ticks) for one whole session."""
    with tensctl.connect("sim://", virtual=True) as device:
        p = find_protocol(protocol)[0]
        intensity = {c.id: 12.0 for c in p.channels}
        with device.session(p, intensity=intensity, screened=True) as session:
            ticks = [0]
            session.subscribe(lambda e: None)
            started = time.perf_counter()

            run(session, on_tick=lambda: ticks.__setitem__(0, ticks[0] + 1))
            wall = time.perf_counter() - started
            return wall, session.elapsed_s(), ticks[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("bench/virtual_time.json"))
    args = parser.parse_args()
    rows = []
    header = ("protocol", "simulated", "wall (best of 3)", "× real time", "ticks")
    print(f"{header[0]:<20} {header[1]:>10} {header[2]:>17} {header[3]:>12} {header[4]:>7}")
    for protocol in library_files(protocol_dirs()):
        runs = [one(protocol) for _ in range(RUNS)]
        wall, simulated, ticks = min(runs)
        rows.append(
            {
                "protocol": protocol,
                "simulated_s": round(simulated, 1),
                "wall_s": round(wall, 3),
                "speedup": round(simulated / wall),
                "ticks": ticks,
            }
        )
        speedup = simulated / wall
        print(f"{protocol:<20} {simulated:>9.0f}s {wall:>16.3f}s {speedup:>11.0f}× {ticks:>7}")
    summary = {
        "benchmark": "virtual_time",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
