"""CLI start-up: ``tensctl --help`` and ``tensctl protocols list`` as a ratio to a bare
``python -c pass`` measured in the same run (median of N, interleaved so machine noise hits
all three alike).

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TENSCTL = str(Path(sys.executable).with_name("tensctl"))
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "tensctl --help": [TENSCTL, "--help"],
    "tensctl protocols list": [TENSCTL, "protocols", "list"],
}


def measure(runs: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, cmd in COMMANDS.items():
            started = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls[name].append(time.perf_counter() - started)
    base = statistics.median(walls["python -c pass"])
    return {
        name: {"median_ms": statistics.median(w) * 1000, "ratio": statistics.median(w) / base}
        for name, w in walls.items()
    }


def show(result: dict[str, Any]) -> None:
    for name, r in result.items():
        print(f"{name:<28} {r['median_ms']:>8.0f} ms  {r['ratio']:>5.1f}× python -c pass")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    show(measure(parser.parse_args().runs))
