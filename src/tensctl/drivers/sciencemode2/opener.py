"""``sciencemode2:///dev/ttyUSB0`` → a :class:`ScienceMode2Driver` on that serial port,
with the line settings of the RehaStim2 profile (460800 baud, 8E1) unless the options give
others. Blocks until the device's Init has been answered (up to 4 s)."""

from __future__ import annotations

from tensctl.drivers.base import Driver, DriverOptions
from tensctl.drivers.port import open_serial_port
from tensctl.drivers.sciencemode2.driver import ScienceMode2Driver
from tensctl.errors import InputError, Problem
from tensctl.model.library import find_device

PROFILE = "hasomed-rehastim2"
SCHEME = "sciencemode2://"


def open_sciencemode2(url: str, options: DriverOptions) -> Driver:
    if not url.startswith(SCHEME) or not url.removeprefix(SCHEME):
        raise InputError([Problem(f"expected {SCHEME}/dev/PORT, found {url!r}", url)])
    target = url.removeprefix(SCHEME)
    profile, _ = find_device(options.extra.get("profile", PROFILE))
    port = open_serial_port(target, options.line or profile.serial)
    return ScienceMode2Driver(port, url, profile, options.timeout_s, options.retries)
