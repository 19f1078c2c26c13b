"""Serial ports, as every driver opens and uses them.

:class:`Port` is what a driver needs of one (pyserial's ``Serial`` and the simulator's
in-process port both are); :class:`InProcessPort` is what the in-process simulator's port
offers besides (a device that answers inside ``write``); :func:`open_serial_port` opens a
real one with a profile's line settings, exclusively, and turns pyserial's failures into
readable driver errors.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol, runtime_checkable

from tensctl.drivers.errors import DeviceBusy, DeviceNotFound
from tensctl.model.device import SerialSettings

READ_TIMEOUT_S = 0.01  # reader threads poll: short reads keep close() prompt
WRITE_TIMEOUT_S = 1.0


class Port(Protocol):
    """What a driver needs of a port: pyserial's ``Serial`` and the in-process port."""

    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...
    def read(self, size: int = 1, /) -> bytes: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int:
        """How many bytes can be read now without waiting."""
        ...


@runtime_checkable
class InProcessPort(Port, Protocol):
    """A port whose device runs in this process (``tenssim.inprocess.SimPort``)."""

    synchronous: bool
    """The device answers inside :meth:`write`: the driver reads the answer itself with
    :meth:`read_available` (no reader thread)."""
    ticking: bool
    """The device also runs on its own (a thread advances it in real time), so it may have
    news between two requests."""

    def read_available(self) -> bytes:
        """Everything the device has sent by now, without waiting."""
        ...


def open_serial_port(target: str, line: SerialSettings | None) -> Port:
    """``target`` (a device path, ``COM3``, or a pyserial URL such as ``socket://``) opened
    with ``line`` (115200 8N1 if none). Device paths are opened exclusively, so a second
    controller on the same port gets :class:`DeviceBusy`."""
    import serial

    line_refused: tuple[type[Exception], ...] = ()
    if sys.platform != "win32":  # pyserial lets the terminal's own error through
        import termios

        line_refused = (termios.error,)
    try:
        if target.startswith("socket://"):  # a TCP stream has no line settings or locks
            port = serial.serial_for_url(
                target, timeout=READ_TIMEOUT_S, write_timeout=WRITE_TIMEOUT_S
            )
        else:
            settings = (line or SerialSettings(baudrate=115200)).model_dump()
            port = serial.serial_for_url(
                target,
                **settings,
                timeout=READ_TIMEOUT_S,
                write_timeout=WRITE_TIMEOUT_S,
                exclusive=True,
            )
    except serial.SerialException as exc:
        text = str(exc)
        if "exclusively lock" in text:
            raise DeviceBusy(
                f"{target} is in use by another program (another controller?)"
            ) from None
        reason = os.strerror(exc.errno) if isinstance(exc.errno, int) else text
        raise DeviceNotFound(f"cannot open {target}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise DeviceNotFound(f"cannot open {target}: {exc}") from None
    except line_refused as exc:
        errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        reason = os.strerror(errno) if errno is not None else str(exc)
        raise DeviceNotFound(
            f"cannot open {target}: it refused the line settings ({reason})"
        ) from None
    opened: Port = port
    return opened
