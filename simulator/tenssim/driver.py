"""``sim://``: the simulator as a tensctl driver, the native driver on an in-process device.

This is the simulator's plugin seam: tensctl finds it through the ``tensctl.drivers`` entry
point (``sim = "tenssim.driver:open_sim"`` in pyproject.toml), as it finds any third-party
driver, and never imports tenssim itself. It is the only tenssim module that may import
:mod:`tensctl.drivers` (and :mod:`tensctl.errors`, to refuse a bad URL); the rest of the
simulator sees only :mod:`tensctl.wire` and :mod:`tensctl.model`.

``sim://PROFILE?scenario=ID&seed=N&log=FILE&telemetry_ms=N``: a device of profile
``PROFILE`` (the default device if none), with the scenario ``ID``, random seed ``N``, a JSON
log written to ``FILE`` and telemetry every ``N`` ms.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tensctl.drivers.base import DriverOptions
from tensctl.drivers.native import NativeDriver
from tensctl.errors import InputError, Problem
from tensctl.model.library import DEFAULT_DEVICE, find_device
from tenssim.device import SimDevice
from tenssim.inprocess import SimPort
from tenssim.log import JsonLog
from tenssim.scenario import load_scenario


class SimDriver(NativeDriver):
    """The native driver on the in-process simulator; :attr:`device` lets tests look in."""

    def __init__(self, port: SimPort, url: str, device: SimDevice, options: DriverOptions) -> None:
        super().__init__(port, url, options.timeout_s, options.retries)
        self.device = device


def open_sim(url: str, options: DriverOptions) -> SimDriver:
    """The opener of ``sim://`` URLs (an :data:`~tensctl.drivers.base.Opener`)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    profile, _ = find_device(parts.netloc or DEFAULT_DEVICE)
    scenario = load_scenario(query["scenario"]) if "scenario" in query else None
    seed = query.get("seed", "0")
    if not seed.isdigit():
        raise InputError([Problem(f"seed must be a whole number, found {seed!r}", url)])
    # on a virtual clock, telemetry once a second keeps long sessions cheap to simulate
    telemetry_ms = query.get("telemetry_ms", "100" if options.realtime else "1000")
    if not telemetry_ms.isdigit() or int(telemetry_ms) == 0:
        raise InputError(
            [Problem(f"telemetry_ms must be a whole number > 0, found {telemetry_ms!r}", url)]
        )
    log = JsonLog(Path(query["log"])) if "log" in query else None
    device = SimDevice(
        profile,
        options.clock(),
        scenario=scenario,
        seed=int(seed),
        log=log or (lambda e: None),
        telemetry_interval_s=int(telemetry_ms) / 1000,
        speed=options.speed,
    )
    port = SimPort(device, options.clock)
    if options.realtime:
        port.start_ticking()
    return SimDriver(port, url, device, options)
