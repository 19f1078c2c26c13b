"""Numbers of ScienceMode4 (Hasomed P24, IFU pp. 17-26): commands, results, states."""

from __future__ import annotations

from enum import IntEnum


class Command(IntEnum):
    """Command numbers (10 bits); every request's acknowledge is ``command + 1``."""

    GET_DEVICE_ID = 52
    GET_DEVICE_ID_ACK = 53
    GET_STIM_STATUS = 62
    GET_STIM_STATUS_ACK = 63
    GENERAL_ERROR = 66
    UNKNOWN_COMMAND = 67
    GET_EXTENDED_VERSION = 68
    GET_EXTENDED_VERSION_ACK = 69
    ML_INIT = 30
    ML_INIT_ACK = 31
    ML_UPDATE = 32
    ML_UPDATE_ACK = 33
    ML_STOP = 34
    ML_STOP_ACK = 35
    # The IFU's Table 19 lists Ml_get_current_data as 037/038, which breaks its own
    # request/ack pairing (30/31, 32/33, 34/35); the science-mode-4 client, written against
    # the device, uses 36/37, and so do we.
    ML_GET_CURRENT_DATA = 36
    ML_GET_CURRENT_DATA_ACK = 37


class Result(IntEnum):
    """Result and error codes (IFU Table 27; 3 and 11 as the science-mode-4 client names them)."""

    OK = 0
    TRANSFER_ERROR = 1
    PARAMETER_ERROR = 2
    PROTOCOL_ERROR = 3
    NOT_INITIALIZED = 7
    ELECTRODE_ERROR = 10
    INVALID_COMMAND = 11
    PULSE_TIMEOUT_ERROR = 16
    PULSE_LOW_CURRENT_ERROR = 28


RESULT_REASONS = {
    Result.OK: "executed",
    Result.TRANSFER_ERROR: "checksum or length did not match",
    Result.PARAMETER_ERROR: "a parameter is out of range or missing",
    Result.PROTOCOL_ERROR: "the command is not allowed now",
    Result.NOT_INITIALIZED: "the level is not initialised (or another level is)",
    Result.ELECTRODE_ERROR: "an electrode is not sufficiently connected",
    Result.INVALID_COMMAND: "the device does not know this command",
    Result.PULSE_TIMEOUT_ERROR: "the pulse does not fit its period",
    Result.PULSE_LOW_CURRENT_ERROR: "the measured current is lower than set (compliance)",
}


def result_name(code: int) -> str:
    """The name of a result code, including codes this module does not know."""
    try:
        return Result(code).name
    except ValueError:
        return f"RESULT_{code}"


def result_reason(code: int) -> str:
    try:
        return RESULT_REASONS[Result(code)]
    except ValueError:
        return "a result code this version of tensctl does not know"


class StimStatus(IntEnum):
    """Get_stim_status_ack, second byte (IFU Table 7)."""

    NO_LEVEL = 0
    LOW_LEVEL_INITIALIZED = 1
    MID_LEVEL_INITIALIZED = 2
    MID_LEVEL_RUNNING = 3


HIGH_VOLTAGE_OFF = 1
HIGH_VOLTAGE_150V = 6


class ChannelError(IntEnum):
    """Ml_get_current_data_ack: one nibble per channel (IFU Table 26)."""

    NONE = 0
    ELECTRODE = 1
    PULSE_TIMEOUT = 2
    LOW_CURRENT = 3
