"""Telemetry and events from Ml_get_current_data, the only live data the P24 sends.

The device reports which channels run and a per-channel error (electrode, pulse timeout,
low current). It measures neither current nor impedance, so telemetry says so (``nan``), and
it counts no pulses: pulses and charge are the host's estimate — the commanded pulse at the
configured rate over the time between two reports in which the device said the channel ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensctl.drivers.base import ChannelTelemetry, DeviceEvent, DeviceInfo
from tensctl.drivers.sciencemode4.shapes import Shape
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode4 import (
    ChannelError,
    GetDeviceIdAck,
    GetExtendedVersionAck,
    MlGetCurrentDataAck,
)

ERROR_NAMES = {
    ChannelError.ELECTRODE: "electrode",
    ChannelError.PULSE_TIMEOUT: "pulse_timeout",
    ChannelError.LOW_CURRENT: "low_current",
}


def error_name(code: int) -> str:
    try:
        return ERROR_NAMES[ChannelError(code)]
    except (ValueError, KeyError):
        return f"channel_error_{code}"


@dataclass
class Counters:
    pulses: float = 0.0
    charge_uc: float = 0.0
    net_nc: float = 0.0
    seen_on_s: float | None = None  # the last report that said the channel ran


def account(
    counters: Counters, on: bool, now_s: float, shape: Shape | None, amplitude_ma: float
) -> None:
    """Add the pulses since the last report if the device said the channel ran at both."""
    if on and counters.seen_on_s is not None and shape is not None:
        n = (now_s - counters.seen_on_s) * shape.frequency_hz
        try:
            total_nc, net_nc = shape.charge_per_pulse_nc(amplitude_ma)
        except ValueError:
            total_nc = net_nc = 0.0
        counters.pulses += n
        counters.charge_uc += n * total_nc / 1000
        counters.net_nc += n * net_nc
    counters.seen_on_s = now_s if on else None


def report_channel(
    channel: int,
    now_s: float,
    ack: MlGetCurrentDataAck | None,
    shape: Shape | None,
    amplitude_ma: float,
    counters: Counters,
    latched: frozenset[str],
) -> ChannelTelemetry:
    on = ack is not None and channel <= len(ack.active) and ack.active[channel - 1]
    error = ack.errors[channel - 1] if ack is not None and channel <= len(ack.errors) else 0
    faults = latched | ({error_name(error)} if error else set())
    state = "fault" if faults else "on" if on else "off"
    return ChannelTelemetry(
        time_s=now_s,
        channel=channel,
        state=state,
        commanded_ma=amplitude_ma if on else 0.0,
        delivered_peak_ma=math.nan if on else 0.0,
        pulse_width_us=float(shape.width_us) if shape else 0.0,
        frequency_hz=shape.frequency_hz if shape else 0.0,
        impedance_ohm=math.nan,
        pulses=round(counters.pulses),
        delivered_charge_uc=counters.charge_uc,
        net_charge_nc=counters.net_nc,
        faults=frozenset(faults),
    )


def device_info(
    p: DeviceProfile, ident: GetDeviceIdAck, version: GetExtendedVersionAck
) -> DeviceInfo:
    """Who the device says it is; its limits are the profile's (the P24 reports none)."""
    fw, sm = version.firmware, version.science_mode
    return DeviceInfo.of_profile(
        p, f"{fw[0]}.{fw[1]}.{fw[2]} (ScienceMode {sm[0]}.{sm[1]}.{sm[2]})", ident.device_id
    )


def observe(
    ack: MlGetCurrentDataAck,
    now_s: float,
    running: dict[int, float],
    latched: dict[int, set[str]],
    counters: dict[int, Counters],
    shapes: dict[int, Shape],
) -> tuple[dict[int, ChannelTelemetry], list[DeviceEvent]]:
    """One current-data report: a channel the host runs that the device reports stopped
    (with its error, or none: the keep-alive ran out) or in error leaves ``running`` and
    latches a fault; telemetry for every channel of ``counters``."""
    telemetry: dict[int, ChannelTelemetry] = {}
    events: list[DeviceEvent] = []
    for ch in counters:
        on, error = ack.active[ch - 1], ack.errors[ch - 1]
        if ch in running and (error or not on):
            kind = frozenset({error_name(error)} if error else {"watchdog"})
            del running[ch]
            latched.setdefault(ch, set()).update(kind)
            events.append(DeviceEvent("fault", ch, kind, now_s, error))
        amplitude = running.get(ch, 0.0)
        account(counters[ch], on, now_s, shapes.get(ch), amplitude)
        fixed = frozenset(latched.get(ch, ()))
        telemetry[ch] = report_channel(
            ch, now_s, ack, shapes.get(ch), amplitude, counters[ch], fixed
        )
    return telemetry, events
