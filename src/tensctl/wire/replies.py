"""Payloads carried inside an ACK, by request type, and the message decoder."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tensctl.wire.codes import MsgType
from tensctl.wire.frame import Frame
from tensctl.wire.messages import (
    Ack,
    Configure,
    EmergencyStop,
    Event,
    Heartbeat,
    Identify,
    MeasureImpedance,
    Message,
    Nack,
    Reader,
    ResetFault,
    SetAmplitude,
    Start,
    Stop,
    Telemetry,
    pack_text,
)

MESSAGES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Identify,
        Configure,
        SetAmplitude,
        Start,
        Stop,
        EmergencyStop,
        Heartbeat,
        MeasureImpedance,
        ResetFault,
        Ack,
        Nack,
        Telemetry,
        Event,
    )
}


@dataclass(frozen=True)
class MessageError:
    msg_type: int
    detail: str


def decode_message(frame: Frame) -> Message | MessageError:
    cls = MESSAGES.get(frame.type)
    if cls is None:
        return MessageError(frame.type, "unknown message type")
    reader = Reader(frame.body)
    try:
        message = cls.parse(reader)
        reader.end()
    except (ValueError, struct.error) as exc:
        return MessageError(frame.type, str(exc))
    return message


@dataclass(frozen=True)
class Identity:
    """ACK payload of IDENTIFY: who the device is and the limits it enforces itself."""

    model: str
    firmware: str
    serial: str
    channels: int
    max_amplitude_ua: int
    pulse_width_min_us: int
    pulse_width_max_us: int
    frequency_min_mhz: int
    frequency_max_mhz: int
    max_charge_nc: int
    compliance_v: int
    watchdog_ms: int
    slew_step_ua: int
    slew_rate_ua_per_s: int

    FMT = "<BIHHIIIHHII"

    def pack(self) -> bytes:
        numbers = list(vars(self).values())[3:]
        text = pack_text(self.model) + pack_text(self.firmware) + pack_text(self.serial)
        return text + struct.pack(self.FMT, *numbers)

    @classmethod
    def unpack(cls, payload: bytes) -> Identity:
        r = Reader(payload)
        texts = (r.text(), r.text(), r.text())
        numbers = r.take(cls.FMT[1:])
        r.end()
        return cls(*texts, *numbers)


@dataclass(frozen=True)
class Impedance:
    """ACK payload of MEASURE_IMPEDANCE."""

    channel: int
    impedance_ohm: int  # 0xFFFFFFFF: open circuit

    def pack(self) -> bytes:
        return struct.pack("<BI", self.channel, self.impedance_ohm)

    @classmethod
    def unpack(cls, payload: bytes) -> Impedance:
        r = Reader(payload)
        value = cls(*r.take("BI"))
        r.end()
        return value


OPEN_CIRCUIT_OHM = 0xFFFFFFFF
ACK_PAYLOADS = {MsgType.IDENTIFY: Identity, MsgType.MEASURE_IMPEDANCE: Impedance}
