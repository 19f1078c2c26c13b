"""Host CPU per real-time session, with 1 and with 8 simulated devices at once.

Each device is ``tensctl sim --pty`` in its own process; each session is ``tensctl run``
(``--json``, recording to a scratch store) in its own process, as a clinic would run them.
A session's CPU is its process's user + system time (``os.wait4``), over its wall time:
the share of one core it needed. The simulators' own CPU is not counted.

    python bench/cpu.py [--seconds 20] [--devices 1 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import protocol_yaml
from tenssim.process import SimProcess


def sessions(count: int, seconds: float, workdir: Path) -> dict[str, Any]:
    protocol = workdir / "cpu.yaml"
    phase = {
        "name": "stimulation",
        "duration_s": seconds,
        "frequency_hz": 100,
        "pulse_width_us": 200,
        "ramp_up_s": 2,
        "ramp_down_s": 2,
    }
    protocol.write_text(protocol_yaml("bench-cpu", [phase], channels=2, target_ma=10))
    with ExitStack() as stack:
        sims = [
            stack.enter_context(SimProcess("pty", workdir / f"sim{i}.jsonl")) for i in range(count)
        ]
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("tensctl")),
                    "run",
                    str(protocol),
                    "--device",
                    sim.address,
                    "--yes",
                    "--json",
                    "--no-outcomes",
                    "--db",
                    str(workdir / "sessions.sqlite3"),
                ],
                # --json ends a session whose controlling program closed stdin: keep it open
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for sim in sims
        ]
        shares, codes = [], []
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            codes.append(proc.returncode)
            assert proc.stdin is not None
            proc.stdin.close()
            shares.append((usage.ru_utime + usage.ru_stime) / wall)
    if any(codes):
        raise RuntimeError(f"sessions did not all complete: exit codes {codes}")
    return {
        "sessions": count,
        "cpu_per_session_pct": round(100 * sum(shares) / len(shares), 2),
        "cpu_total_pct": round(100 * sum(shares), 2),
    }


def measure(seconds: float, counts: tuple[int, ...] = (1, 8)) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        return [sessions(n, seconds, Path(tmp)) for n in counts]


def show(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        print(
            f"{r['sessions']} real-time session(s): {r['cpu_per_session_pct']:.1f} % of a core "
            f"each, {r['cpu_total_pct']:.1f} % in all"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    show(measure(args.seconds, tuple(args.devices)))
