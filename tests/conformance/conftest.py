"""One device under test, three ways: the simulator in-process (``sim://``), behind a real
pseudo-terminal and behind a TCP socket (both ``tensctl sim`` in its own process), always
reached through the registry and the native driver. Each bench exposes the simulator's
JSON-lines log, so tests check what the device actually did, not what the host believes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from simbench import Bench

from tensctl.drivers.registry import open_driver
from tensctl.testing import Simulator

TRANSPORTS = ["inprocess", "pty", "tcp"]


@pytest.fixture(params=TRANSPORTS)
def make_bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Bench]]:
    made: list[Bench] = []

    def make(scenario: Path | None = None) -> Bench:
        log = tmp_path / f"sim-{len(made)}.jsonl"
        process = None
        if request.param == "inprocess":
            url = f"sim://?log={log}" + (f"&scenario={scenario}" if scenario else "")
        else:
            process = Simulator(log, transport=request.param, scenario=scenario)
            url = process.url
        bench = Bench(request.param, url, log, open_driver(url), process)
        made.append(bench)
        return bench

    yield make
    for bench in made:
        try:
            bench.quiet()
            bench.driver.close()
        finally:  # a failing close must not leave a simulator process behind
            if bench.process is not None:
                assert bench.process.stop() == 0, "the simulator must exit 0 on SIGTERM"


@pytest.fixture
def bench(make_bench: Callable[..., Bench]) -> Bench:
    b = make_bench()
    b.driver.identify()
    return b
