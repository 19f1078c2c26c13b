"""One device under test, three ways: the simulator in-process (``sim://``), behind a real
pseudo-terminal and behind a TCP socket (both ``tensctl sim`` in its own process), always
reached through the registry and the native driver. Each bench exposes the simulator's
JSON-lines log, so tests check what the device actually did, not what the host believes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from simproc import SimProcess
from tenssim.log import read_log

from tensctl.drivers.base import ChannelSettings, Driver
from tensctl.drivers.errors import LinkLost
from tensctl.drivers.registry import open_driver

TRANSPORTS = ["inprocess", "pty", "tcp"]


@dataclass
class Bench:
    transport: str
    url: str
    log_path: Path
    driver: Driver
    process: SimProcess | None = None
    _quiet: list[Callable[[], None]] = field(default_factory=list)

    def log(self) -> list[dict[str, Any]]:
        return read_log(self.log_path)

    def outputs(self, channel: int) -> list[dict[str, Any]]:
        return [e for e in self.log() if e["event"] == "output" and e["channel"] == channel]

    def faults(self, channel: int) -> set[str]:
        return {e["fault"] for e in self.log() if e["event"] == "fault" and e["channel"] == channel}

    def run_at(self, channel: int, amplitude_ma: float, settings: ChannelSettings | None = None):
        """Configure, start, and ramp ``channel`` to ``amplitude_ma`` within the slew limit."""
        import time

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
        import time

        stop = threading.Event()

        def beat() -> None:
            while not stop.is_set():
                with contextlib.suppress(LinkLost):
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


@pytest.fixture(params=TRANSPORTS)
def make_bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    made: list[Bench] = []

    def make(scenario: Path | None = None) -> Bench:
        log = tmp_path / f"sim-{len(made)}.jsonl"
        process = None
        if request.param == "inprocess":
            url = f"sim://?log={log}" + (f"&scenario={scenario}" if scenario else "")
        else:
            extra = ["--scenario", str(scenario)] if scenario else []
            process = SimProcess(request.param, log, *extra)
            url = process.address
        bench = Bench(request.param, url, log, open_driver(url), process)
        made.append(bench)
        return bench

    yield make
    for bench in made:
        bench.quiet()
        bench.driver.close()
        if bench.process is not None:
            assert bench.process.stop() == 0, "the simulator must exit 0 on SIGTERM"


@pytest.fixture
def bench(make_bench: Callable[..., Bench]) -> Bench:
    b = make_bench()
    b.driver.identify()
    return b
