"""ScienceMode2, the serial protocol of the Hasomed RehaStim2 (channel list mode). Pure.

Framing in :mod:`~tensctl.wire.sciencemode2.framing`, typed messages in
:mod:`~tensctl.wire.sciencemode2.messages`; golden vectors in ``tests/hasomed``.
"""

from __future__ import annotations

from tensctl.wire.sciencemode2.codes import (
    Command,
    PulseGroup,
    RangeError,
    Result,
    StimulationErrorCode,
    StimulationMode,
)
from tensctl.wire.sciencemode2.decoding import ACKS, MESSAGES, decode
from tensctl.wire.sciencemode2.framing import (
    Deframer,
    FrameError,
    FrameErrorKind,
    Packet,
    build_frame,
    crc8,
    encode_packet,
    stuff,
    unstuff,
)
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
    ChannelEntry,
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

__all__ = [
    "ACKS",
    "MESSAGES",
    "ChannelEntry",
    "Command",
    "DecodeError",
    "Deframer",
    "FrameError",
    "FrameErrorKind",
    "GetStimulationMode",
    "GetStimulationModeAck",
    "Init",
    "InitAck",
    "InitChannelListMode",
    "InitChannelListModeAck",
    "Message",
    "OtherCommand",
    "Packet",
    "PulseGroup",
    "RangeError",
    "Result",
    "SimIdentify",
    "SimIdentifyAck",
    "SinglePulse",
    "SinglePulseAck",
    "StartChannelListMode",
    "StartChannelListModeAck",
    "StimulationError",
    "StimulationErrorCode",
    "StimulationMode",
    "StopChannelListMode",
    "StopChannelListModeAck",
    "UnknownCommand",
    "Watchdog",
    "build_frame",
    "crc8",
    "decode",
    "encode_packet",
    "stuff",
    "unstuff",
]
