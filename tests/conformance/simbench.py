"""A device under test for the conformance suite: a driver, and the simulator's own log."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenssim.log import read_log

from tensctl.drivers.base import ChannelSettings, Driver
from tensctl.drivers.errors import CommandRefused, LinkLost
from tensctl.testing import Simulator


@dataclass
class Bench:
    transport: str
    url: str
    log_path: Path
    driver: Driver
    process: Simulator | None = None
    _quiet: list[Callable[[], None]] = field(default_factory=list)

    def log(self) -> list[dict[str, Any]]:
        return read_log(self.log_path)

    def outputs(self, channel: int) -> list[dict[str, Any]]:
        return [e for e in self.log() if e["event"] == "output" and e["channel"] == channel]

    def faults(self, channel: int) -> set[str]:
        return {e["fault"] for e in self.log() if e["event"] == "fault" and e["channel"] == channel}

    def run_at(self, channel: int, amplitude_ma: float, settings: ChannelSettings | None = None):
        """Configure, start, and ramp ``channel`` to ``amplitude_ma`` within the slew limit."""
        self.driver.configure(channel, settings or ChannelSettings(100, 200))
        self.driver.start([channel])
        level = 0.0
        while level < amplitude_ma:
            if level:
                time.sleep(0.26)  # 1 mA steps at under 4 mA/s
            level = min(amplitude_ma, level + 1)
            self.driver.set_amplitude(channel, level)

    def heartbeat(self) -> Callable[[], None]:
        """Keep the watchdog fed from a thread until the returned function (or
        :meth:`quiet`) is called."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.is_set():
                # a restarted device refuses the old session's heartbeat: the test goes on
                with contextlib.suppress(LinkLost, CommandRefused):
                    self.driver.heartbeat()
                time.sleep(0.1)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()

        def done() -> None:
            stop.set()
            thread.join()

        self._quiet.append(done)
        return done

    def quiet(self) -> None:
        while self._quiet:
            self._quiet.pop()()
