"""Numbers of the native protocol: message types, error codes, fault flags, enums."""

from __future__ import annotations

from enum import IntEnum, IntFlag


class MsgType(IntEnum):
    # host → device (requests; each gets exactly one ACK or NACK)
    IDENTIFY = 0x01
    CONFIGURE = 0x02
    SET_AMPLITUDE = 0x03
    START = 0x04
    STOP = 0x05
    EMERGENCY_STOP = 0x06
    HEARTBEAT = 0x07
    MEASURE_IMPEDANCE = 0x08
    RESET_FAULT = 0x09
    # device → host
    ACK = 0x80
    NACK = 0x81
    TELEMETRY = 0x90
    EVENT = 0x91


class ErrorCode(IntEnum):
    UNKNOWN_TYPE = 0x01
    BAD_LENGTH = 0x02
    OUT_OF_RANGE = 0x03
    BAD_CHANNEL = 0x04
    SLEW_LIMIT = 0x05
    NOT_AT_ZERO = 0x06  # parameter change or start while output > 0
    FAULT_LATCHED = 0x07
    NOT_CONFIGURED = 0x08
    STALE_SEQUENCE = 0x09
    RESET_TOO_EARLY = 0x0A  # fault cause not gone for long enough
    LOW_BATTERY = 0x0B
    CHANNEL_LOCKED = 0x0C  # too many trips
    UNSUPPORTED = 0x0D
    NOT_STARTED = 0x0E  # an increase on a channel that is not started
    STALE_SESSION = 0x0F  # the frame belongs to another host session than the current one


class Fault(IntFlag):
    NONE = 0
    OPEN_CIRCUIT = 0x0001
    OVER_CURRENT = 0x0002
    WATCHDOG = 0x0004
    COMPLIANCE = 0x0008
    PEEL = 0x0010
    LOW_BATTERY = 0x0020
    LINK = 0x0040
    REBOOT = 0x0080
    EMERGENCY_STOP = 0x0100
    SHORT = 0x0200
    MISMATCH = 0x0400
    LOCKED = 0x0800


class OutputState(IntEnum):
    OFF = 0
    ON = 1
    FAULT = 2


class WaveformCode(IntEnum):
    SYMMETRIC_BIPHASIC = 0
    ASYMMETRIC_BIPHASIC = 1


class ModeCode(IntEnum):
    CONTINUOUS = 0
    BURST = 1
    ALTERNATING = 2


class EventCode(IntEnum):
    BOOT = 1
    FAULT = 2
    OUTPUT_ZEROED = 3
    FAULT_RESET = 4
    LOW_BATTERY = 5
