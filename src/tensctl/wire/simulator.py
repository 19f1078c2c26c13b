"""How a simulator tells the host it is one, whatever protocol it speaks: the serial number
it reports begins with ``SIM-``. No real stimulator reports one (Hasomed's serials are
digits and letters without it; the native protocol reserves the prefix for simulators), so
a host that reads a ``SIM-`` serial records the session as simulated. Pure."""

from __future__ import annotations

SIMULATOR_SERIAL_PREFIX = "SIM-"


def is_simulator_serial(serial: str) -> bool:
    """Whether ``serial`` is a simulator's (``SIM-…``, any letter case)."""
    return serial.upper().startswith(SIMULATOR_SERIAL_PREFIX)


def simulator_serial(text: str) -> str:
    """``text`` as a simulator reports it: with ``SIM-`` in front unless it has it."""
    return text if is_simulator_serial(text) else SIMULATOR_SERIAL_PREFIX + text
