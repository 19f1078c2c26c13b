"""Shared by the benchmarks: percentiles, scratch stores, generated protocols."""

from __future__ import annotations

import os
import platform
from typing import Any

ELECTRODES = (
    "    electrodes:\n"
    "      - {site: forearm_left, catalogue: square-50x50}\n"
    "      - {site: forearm_left, catalogue: square-50x50}\n"
)


def percentiles(values: list[float], scale: float = 1.0) -> dict[str, float]:
    """p50, p99 and max of ``values`` (times ``scale``), and how many."""
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale  # noqa: E731
    return {"p50": at(0.50), "p99": at(0.99), "max": ordered[-1] * scale, "n": len(ordered)}


def protocol_yaml(
    id_: str, phases: list[dict[str, Any]], channels: int = 1, target_ma: float = 5
) -> str:
    """A protocol file for a benchmark (not a clinical protocol)."""
    listed = "\n".join("  - {" + ", ".join(f"{k}: {v}" for k, v in p.items()) + "}" for p in phases)
    total = sum(float(p["duration_s"]) for p in phases)
    chans = "".join(f"  - id: {n}\n{ELECTRODES}" for n in range(1, channels + 1))
    return (
        f"format_version: 1\nid: {id_}\nname: Benchmark {id_}\nchannels:\n{chans}"
        f"intensity:\n  target_ma: {target_ma}\nphases:\n{listed}\n"
        f"session:\n  max_duration_s: {int(total) + 1}\n  daily_cap_s: {int(total) * 2 + 2}\n"
    )


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
