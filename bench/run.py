"""Every benchmark, one command: prints a table per benchmark and writes a JSON summary.

    python bench/run.py [--quick] [--json bench/results.json]

``--quick`` runs fewer trials and shorter sessions (a smoke run, not figures to publish).
Run on an otherwise idle machine; README shows the latest full run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cpu
import estop
import startup
import timeline
import virtual_time
from common import machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    quick = args.quick
    plan: list[tuple[str, Any, Any]] = [
        ("emergency stop", lambda: estop.measure(50 if quick else 1000), estop.show),
        ("timeline accuracy", lambda: timeline.measure(5 if quick else 60), timeline.show),
        (
            "virtual time",
            lambda: virtual_time.measure(1 if quick else 3, headline_only=quick),
            virtual_time.show,
        ),
        ("CLI start-up", lambda: startup.measure(3 if quick else 15), startup.show),
        ("host CPU", lambda: cpu.measure(5 if quick else 20), cpu.show),
    ]
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
    }
    for name, measure, show in plan:
        print(f"\n== {name}")
        started = time.perf_counter()
        results[name] = measure()
        show(results[name])
        print(f"   ({time.perf_counter() - started:.0f} s)")
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nsummary written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
