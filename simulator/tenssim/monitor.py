"""The output stage's measurements and the trips they cause (pure functions of a channel).

While a channel's output is above 0 the device watches its load, in this order: open
circuit, short, over-current, compliance saturation, peel (``docs/wire-protocol.md``,
"Device behaviour"). A latched fault's cause is watched too, so a reset can require it to
have been gone for 3 s.
"""

from __future__ import annotations

import math

from tensctl.wire.codes import Fault
from tenssim.channel import Channel, Segment
from tenssim.limits import (
    COMPLIANCE_FRACTION,
    OPEN_CIRCUIT_OHM,
    OVER_CURRENT_FACTOR,
    OVER_CURRENT_MARGIN_UA,
    PEEL_TRIP_RATIO,
    SHORT_CIRCUIT_OHM,
)

PROBE_WIDTH_US = 100  # impedance probe pulse when no pulse width is configured
FAULTY_STAGE_GAIN, FAULTY_STAGE_OFFSET_UA = 1.5, 2000.0  # an injected over-current


def pulse_width_us(ch: Channel, now_s: float) -> int:
    seg = ch.segment(now_s)
    return seg.pulse_width_us if seg else PROBE_WIDTH_US


def impedance(ch: Channel, now_s: float) -> float:
    return ch.load.impedance_ohm(pulse_width_us(ch, now_s), now_s)


def delivered_ua(ch: Channel, compliance_v: float, now_s: float) -> float:
    width = pulse_width_us(ch, now_s)
    return ch.load.delivered_ua(ch.amplitude_ua, width, compliance_v, now_s)


def delivered_at(ch: Channel, compliance_v: float, now_s: float, seg: Segment) -> float:
    """The current one step's pulses carry (its width sets the load's voltage)."""
    return ch.load.delivered_ua(ch.amplitude_ua, seg.pulse_width_us, compliance_v, now_s)


def measured_peak_ua(ch: Channel, compliance_v: float, now_s: float) -> float:
    delivered = delivered_ua(ch, compliance_v, now_s)
    if ch.over_current and ch.output_on:
        return delivered * FAULTY_STAGE_GAIN + FAULTY_STAGE_OFFSET_UA
    return delivered


def load_fault(ch: Channel, compliance_v: float, now_s: float) -> Fault:
    """The trip the load calls for now (``Fault.NONE`` if none, or if the output is off)."""
    if not ch.output_on:
        return Fault.NONE
    z = impedance(ch, now_s)
    commanded = ch.amplitude_ua
    if math.isinf(z) or z > OPEN_CIRCUIT_OHM:
        return Fault.OPEN_CIRCUIT
    if z < SHORT_CIRCUIT_OHM:
        return Fault.SHORT
    limit_ua = commanded * OVER_CURRENT_FACTOR + OVER_CURRENT_MARGIN_UA
    if measured_peak_ua(ch, compliance_v, now_s) > limit_ua:
        return Fault.OVER_CURRENT
    if delivered_ua(ch, compliance_v, now_s) < commanded * COMPLIANCE_FRACTION:
        return Fault.COMPLIANCE
    # peel compares like with like: the load now, at the width the baseline was taken at
    if ch.baseline_ohm:
        z_then_width = ch.load.impedance_ohm(ch.baseline_width_us, now_s)
        if z_then_width >= ch.baseline_ohm * PEEL_TRIP_RATIO:
            return Fault.PEEL
    return Fault.NONE


def cause_present(ch: Channel, battery_low: bool, now_s: float) -> bool:
    """Whether the cause of one of the channel's latched faults is still there."""
    z = impedance(ch, now_s)  # at the configured width, as the trip was judged
    open_now = math.isinf(z) or z > OPEN_CIRCUIT_OHM
    checks = (
        (Fault.OPEN_CIRCUIT | Fault.PEEL, open_now),
        (Fault.PEEL, ch.load.area_fraction(now_s) < 1.0),
        (Fault.SHORT, z < SHORT_CIRCUIT_OHM),
        (Fault.OVER_CURRENT, ch.over_current),
        (Fault.LOW_BATTERY, battery_low),
    )
    return any(bool(ch.faults & flags) and present for flags, present in checks)
