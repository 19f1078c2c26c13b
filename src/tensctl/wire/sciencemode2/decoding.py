"""Packets → typed ScienceMode2 messages (never raises)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from tensctl.wire.sciencemode2.codes import Command
from tensctl.wire.sciencemode2.framing import Packet
from tensctl.wire.sciencemode2.messages import (
    DecodeError,
    GetStimulationMode,
    GetStimulationModeAck,
    Init,
    InitAck,
    Message,
    OtherCommand,
    SimIdentify,
    SimIdentifyAck,
    UnknownCommand,
    Watchdog,
)
from tensctl.wire.sciencemode2.stimulation import (
    InitChannelListMode,
    InitChannelListModeAck,
    SinglePulse,
    SinglePulseAck,
    StartChannelListMode,
    StartChannelListModeAck,
    StimulationError,
    StopChannelListMode,
    StopChannelListModeAck,
)

MESSAGES: dict[int, type[Message]] = {
    cls.COMMAND: cls
    for cls in (
        Init,
        InitAck,
        UnknownCommand,
        Watchdog,
        GetStimulationMode,
        GetStimulationModeAck,
        InitChannelListMode,
        InitChannelListModeAck,
        StartChannelListMode,
        StartChannelListModeAck,
        StopChannelListMode,
        StopChannelListModeAck,
        SinglePulse,
        SinglePulseAck,
        StimulationError,
        SimIdentify,
        SimIdentifyAck,
    )
}
ACKS: dict[int, Callable[[int, int], Message]] = {
    Command.INIT_CHANNEL_LIST_MODE: InitChannelListModeAck,
    Command.START_CHANNEL_LIST_MODE: StartChannelListModeAck,
    Command.STOP_CHANNEL_LIST_MODE: StopChannelListModeAck,
    Command.SINGLE_PULSE: SinglePulseAck,
}
"""The host commands answered with a bare result, and the ack that carries it."""


def decode(packet: Packet) -> Message | OtherCommand | DecodeError:
    cls = MESSAGES.get(packet.command)
    if cls is None:
        return OtherCommand(packet.packet_number, packet.command, packet.data)
    if cls.SIZE is not None and len(packet.data) != cls.SIZE:
        detail = f"{len(packet.data)} data bytes, expected {cls.SIZE}"
        return DecodeError(packet.packet_number, packet.command, detail)
    try:
        return cls.parse(packet.packet_number, packet.data)
    except (ValueError, IndexError, struct.error) as exc:
        return DecodeError(packet.packet_number, packet.command, str(exc))
