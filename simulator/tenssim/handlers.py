"""What the firmware does with each request. Each handler returns the ACK payload, or the
NACK error code having changed nothing (a refused command leaves the output as it was)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from tensctl.wire.codes import ErrorCode, EventCode, Fault
from tensctl.wire.messages import (
    Configure,
    EmergencyStop,
    Event,
    Heartbeat,
    Identify,
    MeasureImpedance,
    Message,
    ResetFault,
    SetAmplitude,
    Start,
    Stop,
)
from tenssim import monitor
from tenssim.limits import rms_rise_ua

if TYPE_CHECKING:
    from tenssim.firmware import Firmware

Result: TypeAlias = bytes | ErrorCode


def _identify(fw: Firmware, m: Identify, now_s: float) -> Result:
    """A new host session (its number chosen by :meth:`Firmware.handle`): whatever the old
    one left running goes to 0 and stops (zero start); the sequence check restarts from this
    frame."""
    for ch in fw.channels:
        ch.zero()
    return fw.identity()


def _configure(fw: Firmware, m: Configure, now_s: float) -> Result:
    if not fw.limits.channel_ok(m.channel):
        return ErrorCode.BAD_CHANNEL
    ch = fw.channel(m.channel)
    if ch.faults:
        return ErrorCode.FAULT_LATCHED
    error = fw.limits.check_configure(m, ch.amplitude_ua)
    if error:
        return error
    if ch.output_on and ch.config is not None:
        risen = ch.rms_risen_within(now_s)
        error = fw.limits.check_reconfigure(ch.config, m, ch.amplitude_ua, risen)
        if error:
            return error
        rise = rms_rise_ua(ch.config, m, ch.amplitude_ua)
        if rise > 0:
            ch.rms_rises.append((now_s, rise))
    ch.config = m
    return b""


def _set_amplitude(fw: Firmware, m: SetAmplitude, now_s: float) -> Result:
    if not fw.limits.channel_ok(m.channel):
        return ErrorCode.BAD_CHANNEL
    ch = fw.channel(m.channel)
    if m.amplitude_ua <= ch.amplitude_ua:  # decreases are never refused or delayed
        ch.amplitude_ua = m.amplitude_ua
        return b""
    if ch.faults & Fault.LOCKED:
        return ErrorCode.CHANNEL_LOCKED
    if ch.faults:
        return ErrorCode.FAULT_LATCHED
    if ch.config is None:
        return ErrorCode.NOT_CONFIGURED
    if not ch.running:
        return ErrorCode.NOT_STARTED
    error = fw.limits.check_output(ch.config, m.amplitude_ua)  # peaks, charges, r.m.s.
    if error:
        return error
    step = m.amplitude_ua - ch.amplitude_ua
    error = fw.limits.check_increase(step, ch.increase_in_window(now_s))
    if error:
        return error
    ch.increases.append((now_s, step))
    ch.amplitude_ua = m.amplitude_ua
    return b""


def _channels(fw: Firmware, mask: int) -> list[int]:
    return [n for n in range(1, fw.limits.channels + 1) if mask & (1 << (n - 1))]


def _start(fw: Firmware, m: Start, now_s: float) -> Result:
    if not fw.limits.mask_ok(m.channel_mask):
        return ErrorCode.BAD_CHANNEL
    chosen = [fw.channel(n) for n in _channels(fw, m.channel_mask)]
    for ch in chosen:  # all or nothing
        if ch.faults & Fault.LOCKED:
            return ErrorCode.CHANNEL_LOCKED
        if ch.faults:
            return ErrorCode.FAULT_LATCHED
        if fw.battery_low:
            return ErrorCode.LOW_BATTERY
        if ch.config is None:
            return ErrorCode.NOT_CONFIGURED
        if ch.amplitude_ua != 0:
            return ErrorCode.NOT_AT_ZERO
    for ch in chosen:
        if not ch.running:
            ch.running, ch.started_s = True, now_s
            z = fw.impedance(ch, now_s)
            ch.baseline_ohm = z if z != float("inf") else None
            ch.baseline_width_us = monitor.pulse_width_us(ch, now_s)
    return b""


def _stop(fw: Firmware, m: Stop, now_s: float) -> Result:
    if not fw.limits.mask_ok(m.channel_mask):
        return ErrorCode.BAD_CHANNEL
    for n in _channels(fw, m.channel_mask):
        fw.channel(n).zero()
    return b""


def _emergency_stop(fw: Firmware, m: EmergencyStop, now_s: float) -> Result:
    fw.pushed += fw.trip_all(Fault.EMERGENCY_STOP, now_s)
    return b""


def _heartbeat(fw: Firmware, m: Heartbeat, now_s: float) -> Result:
    return b""


def _measure(fw: Firmware, m: MeasureImpedance, now_s: float) -> Result:
    if not fw.limits.channel_ok(m.channel):
        return ErrorCode.BAD_CHANNEL
    return fw.impedance_payload(m.channel, now_s)


def _reset(fw: Firmware, m: ResetFault, now_s: float) -> Result:
    if not fw.limits.mask_ok(m.channel_mask):
        return ErrorCode.BAD_CHANNEL
    chosen = [fw.channel(n) for n in _channels(fw, m.channel_mask)]
    for ch in chosen:
        if ch.faults & Fault.LOCKED:
            return ErrorCode.CHANNEL_LOCKED
        if ch.faults and not fw.reset_ready(ch, now_s):
            return ErrorCode.RESET_TOO_EARLY
    for ch in chosen:
        if ch.faults:
            ch.zero()
            ch.faults = Fault.NONE
            fw.log({"t": now_s, "event": "fault_reset", "channel": ch.number})
            fw.pushed.append(Event(fw.ms(now_s), ch.number, EventCode.FAULT_RESET, 0))
    return b""


Handler = Callable[["Firmware", Message, float], Result]
HANDLERS: dict[type[Message], Callable[..., Result]] = {
    Identify: _identify,
    Configure: _configure,
    SetAmplitude: _set_amplitude,
    Start: _start,
    Stop: _stop,
    EmergencyStop: _emergency_stop,
    Heartbeat: _heartbeat,
    MeasureImpedance: _measure,
    ResetFault: _reset,
}


def dispatch(fw: Firmware, message: Message, now_s: float) -> Result:
    handler = HANDLERS.get(type(message))
    if handler is None:  # a device → host type sent to the device
        return ErrorCode.UNKNOWN_TYPE
    return handler(fw, message, now_s)
