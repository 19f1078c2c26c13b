"""The checks before current flows: the device matches its profile, electrodes are on,
the patient was screened, targets resolve and sit under the ceilings, and the static safety
check passes at them. They read the operator's :class:`~tensctl.engine.plan.Orders` and
return a :class:`~tensctl.engine.plan.Plan`, or refuse."""

from __future__ import annotations

import math
from collections.abc import Mapping

from tensctl.drivers.base import DeviceInfo, Driver
from tensctl.engine.events import Emit
from tensctl.engine.plan import Orders, Plan, resolve_targets
from tensctl.errors import DeviceError, SafetyRefused
from tensctl.model.device import DeviceProfile
from tensctl.safety import check_protocol
from tensctl.safety.limits import limit


def match_profile(info: DeviceInfo, profile: DeviceProfile, channels: int) -> None:
    """The connected device must have the channels and no more current than its profile."""
    if info.channels < channels or info.max_amplitude_ma > profile.amplitude.max_ma:
        raise DeviceError(
            f"the device ({info.model}, {info.channels} channels, "
            f"{info.max_amplitude_ma:g} mA) does not match profile '{profile.id}' "
            f"({profile.channels} channels, {profile.amplitude.max_ma:g} mA)"
        )


def run(orders: Orders, driver: Driver, emit: Emit) -> Plan:
    """Impedance, contraindication gate, static safety check at the targets; then the
    ceilings. Refusals raise :class:`SafetyRefused`; a plan without targets (titrate first)
    has every channel's ceiling at its upper bound."""
    protocol = orders.protocol
    channels = [c.id for c in protocol.channels]
    open_ohm = limit("open_circuit_ohm").value
    for ch in channels:
        z = driver.measure_impedance(ch)
        if math.isnan(z):  # the device cannot measure it; it checks the skin on its own
            emit("impedance", channel=ch, impedance_ohm=None, measured=False)
            continue
        emit("impedance", channel=ch, impedance_ohm=None if math.isinf(z) else z)
        if math.isinf(z) or z > open_ohm:
            raise SafetyRefused(
                f"channel {ch}: electrode not attached (load above {open_ohm:,.0f} Ω)"
            )
    if not orders.screened:
        raise SafetyRefused("contraindication screening has not been confirmed for this patient")
    targets = resolve_targets(protocol, orders.intensity_ma, orders.thresholds)
    upper = {ch: orders.upper_ma(ch) for ch in channels}
    missing = [ch for ch, v in targets.items() if v is None]
    if missing:
        emit("warning", rule="titration", message=f"titrate channel(s) {missing} first")
        return Plan.of(protocol, {}, upper)
    resolved = {ch: float(v) for ch, v in targets.items() if v is not None}
    above = [f"channel {ch}: {v:g} mA" for ch, v in resolved.items() if v > upper[ch]]
    if above:
        listed = ", ".join(f"channel {ch} {upper[ch]:g} mA" for ch in channels)
        raise SafetyRefused(f"target above the ceiling ({'; '.join(above)}; ceilings: {listed})")
    safety = orders.safety
    report = check_protocol(
        protocol, orders.device, resolved, safety.electrodes, safety.acknowledged
    )
    if not report.ok:
        lines = "; ".join(f"{f.rule} at {f.path}: {f.message}" for f in report.violations)
        raise SafetyRefused(f"protocol '{protocol.id}' refused at {resolved}: {lines}")
    plan = Plan.of(protocol, resolved, _ceilings(orders, resolved, upper, emit), orders.end_s)
    thresholds = {
        ch: {k.value: v for k, v in found.items()} for ch, found in orders.thresholds.items()
    }
    emit(
        "checked",
        targets_ma=dict(plan.targets_ma),
        ceilings_ma=dict(plan.ceilings_ma),
        thresholds_ma=thresholds,
    )
    return plan


def _ceilings(
    orders: Orders, targets: Mapping[int, float], upper: Mapping[int, float], emit: Emit
) -> dict[int, float]:
    """Per channel, the highest amplitude the static check passes at (others at their
    targets); if all channels at those ceilings together fail, the targets."""
    safety = orders.safety
    ceilings = {
        ch: max(targets[ch], safety.checked_ceiling(ch, upper[ch], targets)) for ch in targets
    }
    if safety.passes(ceilings):
        return ceilings
    emit("warning", rule="ceiling", message="ceilings held at the targets (shared sites)")
    return dict(targets)
