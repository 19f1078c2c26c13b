"""``sciencemode2:///dev/ttyUSB0`` → a :class:`ScienceMode2Driver` on that serial port,
with the line settings of the RehaStim2 profile (460800 baud, 8E1) unless the options give
others. Blocks until the device's Init has been answered (up to 4 s)."""

from __future__ import annotations

import os

from tensctl.drivers.base import Driver
from tensctl.drivers.errors import DeviceBusy, DeviceNotFound
from tensctl.drivers.registry import DriverOptions
from tensctl.drivers.sciencemode2.driver import ScienceMode2Driver
from tensctl.errors import InputError, Problem
from tensctl.model.library import find_device

PROFILE = "hasomed-rehastim2"
SCHEME = "sciencemode2://"


def open_sciencemode2(url: str, options: DriverOptions) -> Driver:
    import serial

    if not url.startswith(SCHEME) or not url.removeprefix(SCHEME):
        raise InputError([Problem(f"expected {SCHEME}/dev/PORT, found {url!r}", url)])
    target = url.removeprefix(SCHEME)
    profile, _ = find_device(options.extra.get("profile", PROFILE))
    line = options.line or profile.serial
    assert line is not None, "the RehaStim2 profile gives its serial settings"
    try:
        port = serial.serial_for_url(
            target,
            baudrate=line.baudrate,
            bytesize=line.bytesize,
            parity=line.parity,
            stopbits=line.stopbits,
            timeout=0.01,
            write_timeout=1.0,
            exclusive=True,
        )
    except serial.SerialException as exc:
        text = str(exc)
        if "exclusively lock" in text:
            raise DeviceBusy(f"{target} is in use by another program") from None
        reason = os.strerror(exc.errno) if isinstance(exc.errno, int) else text
        raise DeviceNotFound(f"cannot open {target}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise DeviceNotFound(f"cannot open {target}: {exc}") from None
    return ScienceMode2Driver(port, url, profile, options.timeout_s, options.retries)
