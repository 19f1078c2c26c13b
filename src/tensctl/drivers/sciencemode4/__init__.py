"""Hasomed P24 over ScienceMode4 (mid level): ``sciencemode4:///dev/ttyACM0``.

The serial line settings are the ``hasomed-p24`` profile's (IFU Table 1: 3 Mbaud, 8N2,
RTS/CTS) unless the options give a line; the P24's virtual serial port ignores them, and so
does a pseudo-terminal.
"""

from __future__ import annotations

from tensctl.drivers.base import DriverOptions
from tensctl.drivers.errors import DeviceNotFound
from tensctl.drivers.port import open_serial_port
from tensctl.drivers.sciencemode4.driver import ScienceMode4Driver
from tensctl.model.library import find_device

PROFILE = "hasomed-p24"


def open_sciencemode4(url: str, options: DriverOptions) -> ScienceMode4Driver:
    target = url.split("://", 1)[1] if "://" in url else url
    if not target:
        raise DeviceNotFound(f"{url!r} names no serial port")
    profile, _ = find_device(PROFILE)
    port = open_serial_port(target, options.line or profile.serial)
    return ScienceMode4Driver(port, url, profile, options.timeout_s, options.retries)


__all__ = ["ScienceMode4Driver", "open_sciencemode4"]
