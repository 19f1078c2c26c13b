"""Device URLs → drivers.

| URL | driver |
|---|---|
| ``sim://PROFILE?scenario=ID&seed=N&log=FILE&telemetry_ms=N`` | in-process simulator |
| ``/dev/ttyUSB0``, ``COM3``, ``serial:///dev/ttyUSB0`` | native protocol over a serial port |
| ``socket://HOST:PORT`` | native protocol over TCP (the simulator's ``--tcp``) |
| ``sciencemode2://PORT`` | Hasomed RehaStim2 (ScienceMode2, channel list mode) |
| ``sciencemode4://PORT`` | Hasomed P24 (ScienceMode4, mid level) |

Other packages add schemes through the ``tensctl.drivers`` entry-point group: the entry
point's name is the scheme and its value a callable ``(url, options) -> Driver``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from tensctl.drivers.base import Driver, DriverOptions, Opener
from tensctl.drivers.errors import UnknownScheme
from tensctl.drivers.native import NativeDriver
from tensctl.drivers.port import Port, open_serial_port
from tensctl.errors import InputError, Problem
from tensctl.model.library import DEFAULT_DEVICE, find_device

if TYPE_CHECKING:
    from tenssim.device import SimDevice

ENTRY_POINT_GROUP = "tensctl.drivers"


def open_sim(url: str, options: DriverOptions) -> Driver:
    from tenssim.device import SimDevice
    from tenssim.inprocess import SimPort
    from tenssim.log import JsonLog
    from tenssim.scenario import load_scenario

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


class SimDriver(NativeDriver):
    """The native driver on the in-process simulator; :attr:`device` lets tests look in."""

    def __init__(self, port: Port, url: str, device: SimDevice, options: DriverOptions) -> None:
        super().__init__(port, url, options.timeout_s, options.retries)
        self.device = device


def open_serial(url: str, options: DriverOptions) -> Driver:
    port = open_serial_port(url.removeprefix("serial://"), options.line)
    return NativeDriver(port, url, options.timeout_s, options.retries)


def open_sciencemode2(url: str, options: DriverOptions) -> Driver:
    from tensctl.drivers.sciencemode2 import open_sciencemode2 as opener

    return opener(url, options)


def open_sciencemode4(url: str, options: DriverOptions) -> Driver:
    from tensctl.drivers.sciencemode4 import open_sciencemode4 as opener

    return opener(url, options)


BUILTIN: dict[str, Opener] = {
    "sim": open_sim,
    "serial": open_serial,
    "socket": open_serial,
    "sciencemode2": open_sciencemode2,
    "sciencemode4": open_sciencemode4,
}


def schemes() -> dict[str, Opener]:
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.load())
    return found


def open_driver(url: str, options: DriverOptions | None = None) -> Driver:
    """The driver for ``url``; a bare path (``/dev/ttyUSB0``, ``COM3``) is a serial port."""
    options = options or DriverOptions()
    scheme = url.split("://", 1)[0] if "://" in url else "serial"
    known = schemes()
    if scheme not in known:
        listing = ", ".join(f"{s}://" for s in sorted(known))
        raise UnknownScheme(f"no driver for '{scheme}://' in {url!r} (known: {listing})")
    return known[scheme](url, options)
