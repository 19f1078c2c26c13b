"""Timeline accuracy in real time: a 60 s session with a phase boundary every 0.5 s (the
frequency alternates 80/100 Hz), on the real clock, through the native driver and the
in-process simulator. For each boundary: when the engine entered the phase (its ``phase``
event, stamped with ``time.monotonic()``) minus when the protocol says it begins (session
start + the phase's offset). Drift: the same for the session's planned end.

    python bench/timeline.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import percentiles, protocol_yaml

import tensctl
from tensctl.engine.events import SessionEvent
from tensctl.model.loader import parse_protocol

PHASE_S = 0.5


def protocol_text(seconds: float) -> str:
    phases = [
        {
            "name": f"p{i}",
            "duration_s": PHASE_S,
            "frequency_hz": 80 if i % 2 else 100,
            "pulse_width_us": 200,
        }
        for i in range(int(seconds / PHASE_S))
    ]
    return protocol_yaml("bench-boundaries", phases)


def measure(seconds: float) -> dict[str, Any]:
    protocol = parse_protocol(protocol_text(seconds), "<bench>")
    seen: list[tuple[float, SessionEvent]] = []
    with (
        tensctl.connect("sim://", journal=False) as device,
        device.session(protocol, intensity=5, screened=True) as session,
    ):
        session.subscribe(lambda e: seen.append((time.monotonic(), e)))
        session.run()
        start = session.control.started_s
        completed = session.end_reason == "completed"
    if start is None or not completed:
        raise RuntimeError(f"the benchmark session did not complete: {session.fault_detail}")
    entered = [(t, e.data["index"]) for t, e in seen if e.kind == "phase"]
    errors = [t - (start + index * PHASE_S) for t, index in entered[1:]]
    finished = next(t for t, e in seen if e.kind == "state" and e.data["state"] == "ramping_down")
    return {
        "boundaries": len(errors),
        "boundary_error_ms": percentiles(errors, 1000),
        "end_drift_ms": (finished - (start + seconds)) * 1000,
    }


def show(result: dict[str, Any]) -> None:
    e = result["boundary_error_ms"]
    print(
        f"phase boundary error ({result['boundaries']} boundaries): p50 {e['p50']:.2f} ms, "
        f"p99 {e['p99']:.2f} ms, max {e['max']:.2f} ms; end drift {result['end_drift_ms']:.2f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    show(measure(parser.parse_args().seconds))
