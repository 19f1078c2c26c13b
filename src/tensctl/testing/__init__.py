"""A pytest plugin for tensctl's device simulator, registered in the ``pytest11`` group: a
project that installs tensctl (with pytest) gets these fixtures without any import. See
docs/testing.md.

Fixtures:

``tenssim_factory``
    ``tenssim_factory(personality="native", transport="pty", profile=None, scenario=None,
    control=False, serial=None, extra=())`` starts ``tensctl sim`` as a real process (a
    pseudo-terminal, or TCP on 127.0.0.1) and returns a :class:`Simulator`; every one it
    started is stopped when the test ends, whatever its outcome.
``tenssim``
    One started simulator, set by ``@pytest.mark.tenssim(personality=..., ...)`` (the
    factory's arguments) or by indirect parametrization with a dict of them.
``virtual_device``
    ``tensctl.connect("sim://", virtual=True, journal=False)``: the in-process simulator on
    a virtual clock, for fast tests; closed (every output at 0) after the test.

    def test_stops_at_zero(tenssim):
        with tensctl.connect(tenssim.url, journal=False) as device: ...
        assert tenssim.log.output_ma(1) == 0
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tensctl.testing.runs import read_until, run_command, run_to_end, start_run
from tensctl.testing.simlog import SimLog
from tensctl.testing.simulator import PERSONALITIES, Simulator, SimulatorFailed, Transport

if TYPE_CHECKING:
    from tensctl.api import Device

__all__ = [
    "PERSONALITIES",
    "SimLog",
    "Simulator",
    "SimulatorFactory",
    "SimulatorFailed",
    "Transport",
    "read_until",
    "run_command",
    "run_to_end",
    "start_run",
    "tenssim",
    "tenssim_factory",
    "virtual_device",
]

OPTIONS = ("personality", "transport", "profile", "scenario", "control", "serial", "extra")
SimulatorFactory = Callable[..., Simulator]  # the type of tenssim_factory, for annotations


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tenssim(personality='native', transport='pty', profile=None, scenario=None, "
        "control=False, serial=None, extra=()): how the tenssim fixture starts the simulator",
    )


@pytest.fixture
def tenssim_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorFactory]:
    """Start simulators as real processes: ``tenssim_factory(personality="native",
    transport="pty", profile=None, scenario=None, control=False, serial=None, extra=())``
    returns a started :class:`Simulator` (``.url``, ``.log``); each is stopped at the end of
    the test, whatever its outcome."""
    started: list[Simulator] = []
    folder = tmp_path_factory.mktemp("tenssim")

    def start(
        personality: str = "native",
        transport: Transport = "pty",
        profile: str | None = None,
        scenario: str | Path | None = None,
        control: bool = False,
        serial: str | None = None,
        extra: tuple[str, ...] | list[str] = (),
    ) -> Simulator:
        n = len(started)
        simulator = Simulator(
            folder / f"sim-{n}.jsonl",
            personality=personality,
            transport=transport,
            profile=profile,
            scenario=scenario,
            control=folder / f"control-{n}.sock" if control else None,
            serial=serial,
            extra=tuple(extra),
        )
        started.append(simulator)
        return simulator

    try:
        yield start
    finally:
        for simulator in started:
            simulator.stop()


@pytest.fixture
def tenssim(request: pytest.FixtureRequest, tenssim_factory: SimulatorFactory) -> Simulator:
    """A started simulator: ``@pytest.mark.tenssim(...)`` or an indirect parameter (a dict
    of :func:`tenssim_factory`'s arguments) say which; the native one on a pty otherwise."""
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("tenssim")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.tenssim takes keyword arguments only")
        options.update(marker.kwargs)
    options.update(getattr(request, "param", None) or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise pytest.UsageError(
            f"tenssim: unknown option {', '.join(map(repr, unknown))} (known: {', '.join(OPTIONS)})"
        )
    return tenssim_factory(**options)


@pytest.fixture
def virtual_device() -> Iterator[Device]:
    """The in-process simulator on a virtual clock (``sim://``, no session record)."""
    import tensctl

    with tensctl.connect("sim://", virtual=True, journal=False) as device:
        yield device
