"""What can go wrong talking to a device, as typed errors with readable messages."""

from __future__ import annotations

from tensctl.errors import DeviceError, FaultError


class DriverError(DeviceError):
    """Base of every driver error (exit code: device)."""


class DeviceNotFound(DriverError):
    """The port or host does not exist or cannot be opened."""


class DeviceBusy(DriverError):
    """Another controller holds the port."""


class UnknownScheme(DriverError):
    """No driver is registered for the URL's scheme."""


class CommandRefused(DriverError):
    """The device answered NACK: the command was not applied and the output is unchanged."""

    def __init__(self, command: str, code: str, reason: str) -> None:
        self.command, self.code, self.reason = command, code, reason
        super().__init__(f"the device refused {command}: {code} ({reason})")


class LinkLost(FaultError):
    """No answer within the timeout after every retry, or the port closed: treat the
    device's output as unknown and its own watchdog as the only guard (exit code: fault)."""
