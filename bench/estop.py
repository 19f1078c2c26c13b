"""Emergency-stop latency: from the host's call to the simulator's output reaching 0.

The simulator runs as its own process behind a pseudo-terminal and behind TCP
(``tensctl sim``), opened through pyserial like a real device. Each trial sets channel 1 to
a current, then calls ``Driver.emergency_stop()`` — what ``Session.emergency_stop()`` does
first, before it takes any lock — and notes ``time.monotonic()``. The simulator logs the
moment its output went to 0 on its own clock, whose zero it logs as a CLOCK_MONOTONIC value,
so the two compare directly (same machine). Also reported: the round trip until the
device's acknowledgement is back at the host. The same for the Hasomed drivers against the
simulator's ScienceMode4 (P24) and ScienceMode2 (RehaStim2) personalities over a pty.

    python bench/estop.py [--trials 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import percentiles
from tenssim.process import SimProcess

from tensctl.drivers.base import ChannelSettings
from tensctl.drivers.registry import open_driver

TARGETS = {  # label: (transport, personality, URL scheme)
    "pty": ("pty", "native", ""),
    "tcp": ("tcp", "native", ""),
    "p24 pty": ("pty", "sciencemode4", "sciencemode4://"),
    "rehastim2 pty": ("pty", "sciencemode2", "sciencemode2://"),
}


def trials(label: str, count: int, workdir: Path) -> dict[str, Any]:
    transport, personality, scheme = TARGETS[label]
    log_path = workdir / f"estop-{label.replace(' ', '-')}.jsonl"
    calls, acks = [], []
    # the firmware's 3 s reset hold-off would make 1,000 trials take an hour; latency is
    # not affected by it
    extra = ("--reset-clear-ms", "0", "--personality", personality)
    with SimProcess(transport, log_path, *extra) as sim:
        driver = open_driver(scheme + sim.address)
        try:
            driver.identify()
            for _ in range(count):
                driver.reset_fault([1])
                driver.configure(1, ChannelSettings(40, 200))  # within every device's range
                driver.start([1])
                driver.set_amplitude(1, 1.0)
                called = time.monotonic()
                driver.emergency_stop()
                acks.append(time.monotonic() - called)
                calls.append(called)
        finally:
            driver.close()
        log = sim.log()
    zero = next(e["monotonic_zero_s"] for e in log if e["event"] == "listening")
    stops = sorted(
        zero + e["t"]
        for e in log
        if e["event"] == "output" and e["channel"] == 1 and e["amplitude_ua"] == 0
    )
    latencies, i = [], 0
    for called in calls:  # the first zero at or after each call
        while i < len(stops) and stops[i] < called:
            i += 1
        if i == len(stops):
            raise RuntimeError(f"{label}: no output change to 0 after a call at {called}")
        latencies.append(stops[i] - called)
        i += 1
    return {
        "to_output_zero_ms": {
            k: v * 1000 if k != "n" else v for k, v in percentiles(latencies).items()
        },
        "round_trip_ms": {k: v * 1000 if k != "n" else v for k, v in percentiles(acks).items()},
    }


def measure(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return {label: trials(label, count, Path(tmp)) for label in TARGETS}


def show(results: dict[str, Any]) -> None:
    print(f"{'e-stop latency':<32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'trials':>7}")
    for transport, found in results.items():
        for what, label in (
            ("to_output_zero_ms", "call → output 0"),
            ("round_trip_ms", "call → ack"),
        ):
            r = found[what]
            print(
                f"{transport + ' ' + label:<32} {r['p50']:>8.2f} {r['p99']:>8.2f} "
                f"{r['max']:>8.2f} {r['n']:>7}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    show(measure(parser.parse_args().trials))
