"""Answers to packets that are not channel list commands: MOTOmed commands (no MOTOmed is
attached), unknown command numbers, and modelled commands with the wrong number of data
bytes ("too many / few parameters": the parameter error, section 5.2)."""

from __future__ import annotations

from typing import Any

from tensctl.wire.sciencemode2 import (
    ACKS,
    Command,
    DecodeError,
    GetStimulationModeAck,
    OtherCommand,
    Result,
    UnknownCommand,
)
from tensctl.wire.sciencemode2.framing import build_frame

MOTOMED_WITH_ACK = frozenset({50, 52, 54, 56, 70, 72, 74, 76, 80, 82, 84, 86})
GET_MOTOMED_MODE = 12

Reply = tuple[bytes | None, str, dict[str, Any]]
"""(the frame to send or None, the result to log, the fields to log)"""


def other(message: OtherCommand) -> Reply:
    fields: dict[str, Any] = {"data": message.data}
    number, command = message.packet_number, message.command
    if command in MOTOMED_WITH_ACK:
        reply = build_frame(number, command + 1, bytes((Result.MOTOMED_CONNECTION & 0xFF,)))
        return reply, "nack:MOTOMED_CONNECTION", fields
    if command == GET_MOTOMED_MODE:  # result 0, mode −1: MOTOmed connection error
        return build_frame(number, command + 1, b"\x00\xff"), "ack", fields
    return UnknownCommand(number, command).encode(), "unknown", fields


def malformed(message: DecodeError) -> Reply:
    fields: dict[str, Any] = {"detail": message.detail}
    number, command = message.packet_number, message.command
    if command in ACKS:
        reply = ACKS[command](number, Result.PARAMETER_ERROR).encode()
        return reply, "nack:PARAMETER_ERROR", fields
    if command == Command.GET_STIMULATION_MODE:
        reply = GetStimulationModeAck(number, Result.PARAMETER_ERROR, None).encode()
        return reply, "nack:PARAMETER_ERROR", fields
    if command == Command.WATCHDOG:
        return None, "ack", fields
    if command == Command.INIT_ACK:
        return None, "ignored", fields
    return UnknownCommand(number, command).encode(), "unknown", fields
