"""Hasomed P24 over ScienceMode4 (mid level): ``sciencemode4:///dev/ttyACM0``.

The serial line settings are the ``hasomed-p24`` profile's (IFU Table 1: 3 Mbaud, 8N2,
RTS/CTS) unless the options give a line; the P24's virtual serial port ignores them, and so
does a pseudo-terminal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tensctl.drivers.errors import DeviceBusy, DeviceNotFound
from tensctl.drivers.sciencemode4.driver import ScienceMode4Driver
from tensctl.model.library import find_device

if TYPE_CHECKING:
    from tensctl.drivers.registry import DriverOptions

PROFILE = "hasomed-p24"


def open_sciencemode4(url: str, options: DriverOptions) -> ScienceMode4Driver:
    import serial

    target = url.split("://", 1)[1] if "://" in url else url
    if not target:
        raise DeviceNotFound(f"{url!r} names no serial port")
    profile, _ = find_device(PROFILE)
    line = options.line or profile.serial
    settings = line.model_dump() if line is not None else {"baudrate": 3_000_000}
    try:
        port = serial.serial_for_url(
            target, **settings, timeout=0.01, write_timeout=1.0, exclusive=True
        )
    except serial.SerialException as exc:
        if "exclusively lock" in str(exc):
            raise DeviceBusy(f"{target} is in use by another program") from None
        reason = os.strerror(exc.errno) if isinstance(exc.errno, int) else str(exc)
        raise DeviceNotFound(f"cannot open {target}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise DeviceNotFound(f"cannot open {target}: {exc}") from None
    return ScienceMode4Driver(port, url, profile, options.timeout_s, options.retries)


__all__ = ["ScienceMode4Driver", "open_sciencemode4"]
