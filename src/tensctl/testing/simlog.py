"""The simulator's own log, read back for assertions: what the output stage delivered, as
the simulator recorded it (one JSON object a line; see :mod:`tenssim.log`), not what the
host believes it commanded.

Times (``t``) are the simulator's seconds since it started; :meth:`SimLog.sim_time` turns a
``time.monotonic()`` reading of the test into that clock."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tenssim.log import read_log

# what each personality logs when its watchdog stops the output (tenssim.firmware,
# tenssim.sciencemode2.personality, tenssim.sciencemode4.personality)
WATCHDOG_EVENTS = frozenset({"watchdog", "sm2_watchdog", "keep_alive_timeout"})


class SimLog:
    """A reader of one simulator log file; every call reads the file afresh, so it sees what
    the simulator has written up to now. Calling it gives every entry."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> list[dict[str, Any]]:
        return self.entries()

    def entries(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every complete entry, or only those of one ``event`` kind."""
        found = read_log(self.path) if self.path.exists() else []
        return found if event is None else [e for e in found if e["event"] == event]

    def outputs(self, channel: int) -> list[dict[str, Any]]:
        """The output changes of ``channel``, in order (``amplitude_ua``, ``delivered_ua``,
        ``running``, ``pulses``, ``cause``)."""
        return [e for e in self.entries("output") if e["channel"] == channel]

    def output_ma(self, channel: int) -> float:
        """The amplitude ``channel`` is set to now (0 before any output)."""
        outputs = self.outputs(channel)
        return outputs[-1]["amplitude_ua"] / 1000 if outputs else 0.0

    def output_at(self, channel: int, t_s: float) -> float:
        """The amplitude in mA ``channel`` was set to at simulator time ``t_s``: the last
        output change at or before it (0 before the first)."""
        level_ua = 0
        for entry in self.outputs(channel):
            if entry["t"] > t_s:
                break
            level_ua = entry["amplitude_ua"] if entry["running"] else 0
        return level_ua / 1000

    def max_delivered_ma(self, channel: int) -> float:
        """The highest current the output stage delivered into the load on ``channel``, in
        mA, over every output change and single pulse logged."""
        delivered = [
            e["delivered_ua"]
            for e in self.entries()
            if e["event"] in ("output", "pulse") and e.get("channel") == channel
        ]
        return max(delivered, default=0) / 1000

    def pulses(self, channel: int) -> int:
        """How many pulses ``channel`` had delivered by its last logged change."""
        counts = [
            e["pulses"]
            for e in self.entries()
            if e["event"] in ("output", "pulse") and e.get("channel") == channel
        ]
        return int(counts[-1]) if counts else 0

    def watchdog_trips(self) -> list[dict[str, Any]]:
        """Every time the device's watchdog stopped the output because the host went silent
        (whatever the personality calls it)."""
        return [e for e in self.entries() if e["event"] in WATCHDOG_EVENTS]

    def faults(self, channel: int) -> set[str]:
        """The fault names the output stage latched on ``channel``."""
        return {e["fault"] for e in self.entries("fault") if e["channel"] == channel}

    def commands(self) -> list[dict[str, Any]]:
        """Every command the device received, in order (``type`` names it)."""
        return self.entries("command")

    def sim_time(self, monotonic_s: float | None = None) -> float:
        """``monotonic_s`` (default: now) of this machine's ``time.monotonic()`` on the
        simulator's clock, from the zero it logged when it started listening."""
        listening = self.entries("listening")
        if not listening or "monotonic_zero_s" not in listening[0]:
            raise LookupError(f"{self.path} has no start entry to compare clocks with")
        now = time.monotonic() if monotonic_s is None else monotonic_s
        return now - float(listening[0]["monotonic_zero_s"])
