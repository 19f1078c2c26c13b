"""README's Quick start on a loaded machine: ``tensctl run brief-intense --intensity 15
--yes`` in an 80×24 pseudo-terminal while two busy-loop processes keep both cores busy, and
the run's process stopped outright for half a second a third of the way in (the worst a
scheduler can do, made certain). It completes, unattended, with no fault: on ``--speed N``
the host and the simulated device share one paced virtual clock, so neither sees a late
tick. (At ``--speed 100`` to keep the test short; ``bench/quickstart_load.py`` runs the
Quick start's own ``--speed 5``.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "quickstart_load.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quick_start_completes_with_both_cores_busy_and_a_stall() -> None:
    result = _bench().measure("100", stall_s=0.5)
    assert result["exit"] == 0, result
    assert result["end_reason"] == "completed"
    assert result["faults"] == []
    assert not result["host_watchdog"]
    assert result["simulated_s"] >= 900
