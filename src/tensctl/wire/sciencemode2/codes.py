"""ScienceMode2 numbers: commands, results, modes, ranges (ScienceMode2 Description and
Protocol v1.24, sections 3–5)."""

from __future__ import annotations

from enum import IntEnum

PROTOCOL_VERSION = 1  # the Init version byte the RehaStim2 sends (README example: 01)
MAX_CURRENT_MA = 130
MAX_PULSE_WIDTH_US = 500
MIN_PULSE_WIDTH_US = 20  # "in current version [20, 500] µs, if (pw < 20) then pw = 20"
MAX_LOW_FREQUENCY_FACTOR = 7
MAX_MAIN_INTERVAL_CODE = 2048
CHANNELS = 8


class Command(IntEnum):
    INIT = 1
    INIT_ACK = 2
    UNKNOWN_COMMAND = 3
    WATCHDOG = 4
    GET_STIMULATION_MODE = 10
    GET_STIMULATION_MODE_ACK = 11
    INIT_CHANNEL_LIST_MODE = 30
    INIT_CHANNEL_LIST_MODE_ACK = 31
    START_CHANNEL_LIST_MODE = 32
    START_CHANNEL_LIST_MODE_ACK = 33
    STOP_CHANNEL_LIST_MODE = 34
    STOP_CHANNEL_LIST_MODE_ACK = 35
    SINGLE_PULSE = 36
    SINGLE_PULSE_ACK = 37
    STIMULATION_ERROR = 38
    # not ScienceMode2: the tensctl simulator's own identity query (a RehaStim2 answers it
    # with UnknownCommand, as it answers every command number it does not know; section 3)
    SIM_IDENTIFY = 0xE0
    SIM_IDENTIFY_ACK = 0xE1


class Result(IntEnum):
    """Results of the response commands (section 5.1)."""

    OK = 0
    TRANSFER_ERROR = -1
    PARAMETER_ERROR = -2
    WRONG_MODE = -3
    MOTOMED_CONNECTION = -4
    INCOMPATIBLE_VERSION = -5
    INVALID_TRAINER = -6
    MOTOMED_BUSY = -7
    BUSY = -8


class StimulationErrorCode(IntEnum):
    EMERGENCY_SWITCH = -1
    ELECTRODE = -2
    MODULE = -3


class StimulationMode(IntEnum):
    START = 0
    INITIALISED = 1
    STARTED = 2


class PulseGroup(IntEnum):
    SINGLE = 0
    DOUBLET = 1
    TRIPLET = 2


class RangeError(ValueError):
    """A message with a field outside the document's range cannot be encoded."""

    def __init__(self, message: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{message}: " + "; ".join(problems))


def signed(value: int) -> int:
    return value - 256 if value >= 128 else value


def check(problems: list[str], name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        problems.append(f"{name} {value} outside [{low}, {high}]")
