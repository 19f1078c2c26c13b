"""Between the driver interface's physical units and the native wire protocol's integers."""

from __future__ import annotations

import math
from functools import lru_cache

from tensctl.drivers.base import (
    ChannelSettings,
    ChannelTelemetry,
    DeviceEvent,
    DeviceInfo,
)
from tensctl.errors import InputError, Problem
from tensctl.wire.codes import ErrorCode, EventCode, Fault, ModeCode, OutputState, WaveformCode
from tensctl.wire.messages import AltStep, Configure, Event, Telemetry
from tensctl.wire.replies import OPEN_CIRCUIT_OHM, Identity

WAVEFORMS = {
    "symmetric_biphasic": WaveformCode.SYMMETRIC_BIPHASIC,
    "asymmetric_biphasic": WaveformCode.ASYMMETRIC_BIPHASIC,
}
MODES = {
    "continuous": ModeCode.CONTINUOUS,
    "burst": ModeCode.BURST,
    "alternating": ModeCode.ALTERNATING,
}
REASONS = {
    ErrorCode.UNKNOWN_TYPE: "the device does not know this command",
    ErrorCode.BAD_LENGTH: "the command was malformed",
    ErrorCode.OUT_OF_RANGE: "a value is outside the device's limits",
    ErrorCode.BAD_CHANNEL: "no such channel",
    ErrorCode.SLEW_LIMIT: "the increase is faster than the device's slew limit",
    ErrorCode.NOT_AT_ZERO: "the output must be at 0 first",
    ErrorCode.FAULT_LATCHED: "a fault is latched; reset it first",
    ErrorCode.NOT_CONFIGURED: "the channel is not configured",
    ErrorCode.STALE_SEQUENCE: "the frame repeated an old sequence number",
    ErrorCode.STALE_SESSION: (
        "the device has begun a new session since this controller identified it (it "
        "restarted, or another controller connected): start a new session"
    ),
    ErrorCode.RESET_TOO_EARLY: "the fault's cause has not been gone long enough",
    ErrorCode.LOW_BATTERY: "the battery is too low",
    ErrorCode.CHANNEL_LOCKED: "too many trips: the channel is locked",
    ErrorCode.UNSUPPORTED: "the device cannot do this waveform or mode",
    ErrorCode.NOT_STARTED: "the channel is not started",
}
EVENT_KINDS = {
    EventCode.BOOT: "boot",
    EventCode.FAULT: "fault",
    EventCode.OUTPUT_ZEROED: "output_zeroed",
    EventCode.FAULT_RESET: "fault_reset",
    EventCode.LOW_BATTERY: "low_battery",
}
STATES = {OutputState.OFF: "off", OutputState.ON: "on", OutputState.FAULT: "fault"}


def refusal(code: int) -> tuple[str, str]:
    """(name, reason) of a NACK error code, including codes this host does not know."""
    try:
        known = ErrorCode(code)
    except ValueError:
        return f"ERROR_{code:#04x}", "an error code this version of tensctl does not know"
    return known.name, REASONS.get(known, "")


@lru_cache(maxsize=256)
def fault_names(flags: int) -> frozenset[str]:
    return frozenset(f.name.lower() for f in Fault if f and f.name and flags & f)


def _int(value: float, scale: float, name: str, bits: int) -> int:
    scaled = value * scale
    if not math.isfinite(scaled) or not 0 <= round(scaled) < 2**bits:
        raise InputError([Problem(f"{value!r} cannot be sent to the device", "<api>", path=name)])
    return round(scaled)


def to_configure(channel: int, s: ChannelSettings) -> Configure:
    problems = []
    if s.waveform not in WAVEFORMS:
        problems.append(Problem(f"unknown waveform {s.waveform!r}", "<api>", path="waveform"))
    if s.mode not in MODES:
        problems.append(Problem(f"unknown mode {s.mode!r}", "<api>", path="mode"))
    if problems:
        raise InputError(problems)
    steps = tuple(
        AltStep(
            _int(st.frequency_hz, 1000, f"steps[{i}].frequency_hz", 32),
            _int(st.pulse_width_us, 1, f"steps[{i}].pulse_width_us", 16),
            _int(st.dwell_s, 1000, f"steps[{i}].dwell_s", 32),
        )
        for i, st in enumerate(s.steps)
    )
    return Configure(
        _int(channel, 1, "channel", 8),
        WAVEFORMS[s.waveform],
        MODES[s.mode],
        _int(s.frequency_hz, 1000, "frequency_hz", 32),
        _int(s.pulse_width_us, 1, "pulse_width_us", 16),
        _int(s.secondary_amplitude_ratio, 1000, "secondary_amplitude_ratio", 16),
        _int(s.secondary_width_ratio, 1000, "secondary_width_ratio", 16),
        _int(s.pulses_per_train, 1, "pulses_per_train", 8),
        _int(s.train_rate_hz, 1000, "train_rate_hz", 32),
        steps,
    )


def amplitude_ua(amplitude_ma: float) -> int:
    return _int(amplitude_ma, 1000, "amplitude_ma", 32)


def channel_mask(channels: list[int]) -> int:
    mask = 0
    for ch in channels:
        if not isinstance(ch, int) or not 1 <= ch <= 8:
            raise InputError([Problem(f"{ch!r} is not a channel (1–8)", "<api>", path="channels")])
        mask |= 1 << (ch - 1)
    if not mask:
        raise InputError([Problem("no channel given", "<api>", path="channels")])
    return mask


def ohm(value: int) -> float:
    return math.inf if value == OPEN_CIRCUIT_OHM else float(value)


def info(i: Identity) -> DeviceInfo:
    return DeviceInfo(
        model=i.model,
        firmware=i.firmware,
        serial=i.serial,
        channels=i.channels,
        max_amplitude_ma=i.max_amplitude_ua / 1000,
        pulse_width_us=(i.pulse_width_min_us, i.pulse_width_max_us),
        frequency_hz=(i.frequency_min_mhz / 1000, i.frequency_max_mhz / 1000),
        max_charge_per_phase_uc=i.max_charge_nc / 1000,
        compliance_voltage_v=i.compliance_v,
        watchdog_ms=i.watchdog_ms,
        slew_step_ma=i.slew_step_ua / 1000,
        slew_rate_ma_per_s=i.slew_rate_ua_per_s / 1000,
    )


def telemetry(t: Telemetry) -> ChannelTelemetry:
    return ChannelTelemetry(
        time_s=t.time_ms / 1000,
        channel=t.channel,
        state=STATES[OutputState(t.state)] if t.state in (0, 1, 2) else "fault",
        commanded_ma=t.commanded_ua / 1000,
        delivered_peak_ma=t.delivered_peak_ua / 1000,
        pulse_width_us=t.pulse_width_us,
        frequency_hz=t.frequency_mhz / 1000,
        impedance_ohm=ohm(t.impedance_ohm),
        pulses=t.pulses,
        delivered_charge_uc=t.delivered_charge_nc / 1000,
        net_charge_nc=t.net_charge_pc / 1000,
        faults=fault_names(t.fault_flags),
    )


def event(e: Event) -> DeviceEvent:
    try:
        kind = EVENT_KINDS[EventCode(e.code)]
    except ValueError:
        kind = f"event_{e.code}"
    return DeviceEvent(
        kind=kind,
        channel=None if e.channel == 0xFF else e.channel,
        faults=fault_names(e.fault_flags),
        time_s=e.time_ms / 1000,
        detail=e.detail,
    )
