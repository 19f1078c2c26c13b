"""ScienceMode4 (Hasomed P24), general and mid-level commands: framing, CRC-16, typed
messages. Pure, no I/O. Source: the P24 Instructions for Use, pp. 16-26."""

from __future__ import annotations

from tensctl.wire.sciencemode4.base import Message
from tensctl.wire.sciencemode4.codes import (
    ChannelError,
    Command,
    Result,
    StimStatus,
    result_name,
    result_reason,
)
from tensctl.wire.sciencemode4.frame import (
    Deframer,
    FrameError,
    FrameErrorKind,
    Packet,
    crc16_xmodem,
    encode_frame,
)
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
from tensctl.wire.sciencemode4.messages import MessageError, decode_message
from tensctl.wire.sciencemode4.midlevel import (
    MlChannel,
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlInit,
    MlInitAck,
    MlStop,
    MlStopAck,
    MlUpdate,
    MlUpdateAck,
    Point,
)

__all__ = [
    "ChannelError",
    "Command",
    "Deframer",
    "FrameError",
    "FrameErrorKind",
    "GeneralError",
    "GetDeviceId",
    "GetDeviceIdAck",
    "GetExtendedVersion",
    "GetExtendedVersionAck",
    "GetStimStatus",
    "GetStimStatusAck",
    "Message",
    "MessageError",
    "MlChannel",
    "MlGetCurrentData",
    "MlGetCurrentDataAck",
    "MlInit",
    "MlInitAck",
    "MlStop",
    "MlStopAck",
    "MlUpdate",
    "MlUpdateAck",
    "Packet",
    "Point",
    "Result",
    "StimStatus",
    "UnknownCommand",
    "crc16_xmodem",
    "decode_message",
    "encode_frame",
    "result_name",
    "result_reason",
]
