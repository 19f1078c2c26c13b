"""ScienceMode4 packets → typed messages. :func:`decode_message` never raises and never
returns a message from bytes that do not fit its layout exactly (IFU pp. 17-26)."""

from __future__ import annotations

from dataclasses import dataclass

from tensctl.wire.sciencemode4.base import Message
from tensctl.wire.sciencemode4.frame import Packet
from tensctl.wire.sciencemode4.general import (
    GeneralError,
    GetDeviceId,
    GetDeviceIdAck,
    GetExtendedVersion,
    GetExtendedVersionAck,
    GetStimStatus,
    GetStimStatusAck,
    UnknownCommand,
)
from tensctl.wire.sciencemode4.midlevel import (
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlInit,
    MlInitAck,
    MlStop,
    MlStopAck,
    MlUpdate,
    MlUpdateAck,
)

MESSAGES: dict[int, type[Message]] = {
    cls.COMMAND: cls
    for cls in (
        GetDeviceId,
        GetDeviceIdAck,
        GetStimStatus,
        GetStimStatusAck,
        GetExtendedVersion,
        GetExtendedVersionAck,
        GeneralError,
        UnknownCommand,
        MlInit,
        MlInitAck,
        MlUpdate,
        MlUpdateAck,
        MlStop,
        MlStopAck,
        MlGetCurrentData,
        MlGetCurrentDataAck,
    )
}


@dataclass(frozen=True)
class MessageError:
    """A packet whose command is unknown (``known`` False) or whose data does not fit."""

    number: int
    command: int
    known: bool
    detail: str


def decode_message(packet: Packet) -> Message | MessageError:
    cls = MESSAGES.get(packet.command)
    if cls is None:
        return MessageError(packet.number, packet.command, False, "unknown command")
    try:
        return cls.parse(packet.data)
    except ValueError as exc:
        return MessageError(packet.number, packet.command, True, str(exc))
