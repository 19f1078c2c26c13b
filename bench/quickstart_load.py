"""The Quick start's first command on a loaded machine: ``tensctl run brief-intense
--intensity 15 --yes --speed 5`` in a terminal (a pseudo-terminal of 80×24, so the live
display draws and the keys are read, as for a therapist) while two busy-loop processes keep
both cores busy. Printed: the exit code, how the session ended, whether it faulted, and its
wall time against the protocol's simulated time.

    python bench/quickstart_load.py [--speed 5] [--stall 0]

``--stall S`` also stops the run's process for S seconds a third of the way in (SIGSTOP,
then SIGCONT): the worst a scheduler can do, made certain.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

# exactly README's Quick start: no patient, so a demonstration that asks nothing after --yes
QUICK_START = ["run", "brief-intense", "--intensity", "15", "--yes"]
PROTOCOL_S = 900.0  # brief-intense, simulated
BUSY = "while True: pass"


def measure(speed: str = "5", stall_s: float = 0.0) -> dict[str, Any]:
    tensctl = str(Path(sys.executable).with_name("tensctl"))
    with tempfile.TemporaryDirectory(prefix="tensctl-bench-") as tmp:
        db = str(Path(tmp) / "sessions.sqlite3")
        env = {**os.environ, "TENSCTL_DB": db, "TERM": "xterm-256color"}
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
        try:
            code, wall_s, screen = _in_terminal(
                [tensctl, *QUICK_START, "--speed", speed], env, stall_s
            )
        finally:
            for loop in busy:
                loop.kill()
                loop.wait()
        shown = subprocess.run(
            [tensctl, "sessions", "show", "1", "--json"], env=env, capture_output=True, text=True
        )
        record = json.loads(shown.stdout) if shown.returncode == 0 else {}
    return {
        "command": "tensctl " + " ".join([*QUICK_START, "--speed", speed]),
        "load": "2 busy-loop processes",
        "stall_s": stall_s,
        "exit": code,
        "end_reason": record.get("end_reason"),
        "simulated_s": record.get("duration_s"),
        "faults": record.get("faults", []),
        "host_watchdog": "host_watchdog" in screen,
        "wall_s": round(wall_s, 1),
    }


def _in_terminal(command: list[str], env: dict[str, str], stall_s: float) -> tuple[int, float, str]:
    """``command`` on a new 80×24 pseudo-terminal, its screen drained until it exits."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True
    )
    os.close(follower)
    out = bytearray()
    speed = float(command[-1]) if command[-1] != "max" else 1e9
    stall_at = started + PROTOCOL_S / speed / 3 if stall_s else None  # a third of the way in
    while True:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is gone
                chunk = b""
            if not chunk and proc.poll() is not None:
                break
            out += chunk
        elif proc.poll() is not None:
            break
        if stall_at is not None and time.perf_counter() >= stall_at:
            proc.send_signal(signal.SIGSTOP)
            time.sleep(stall_s)
            proc.send_signal(signal.SIGCONT)
            stall_at = None
    code = proc.wait()
    os.close(leader)
    return code, time.perf_counter() - started, out.decode("utf-8", "replace")


def show(r: dict[str, Any]) -> None:
    faults = ", ".join(str(f) for f in r["faults"]) or "none"
    stall = f", stopped {r['stall_s']:g} s once" if r["stall_s"] else ""
    print(f"{r['command']}  (under {r['load']}{stall})")
    print(
        f"exit {r['exit']}, {r['end_reason']}, {r['simulated_s']:.0f} s simulated in "
        f"{r['wall_s']:.0f} s wall; faults: {faults}; host_watchdog: "
        f"{'yes' if r['host_watchdog'] else 'no'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", default="5")
    parser.add_argument("--stall", type=float, default=0.0)
    args = parser.parse_args()
    result = measure(args.speed, args.stall)
    show(result)
    return 0 if result["exit"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
