"""The checks before current flows: the device matches its profile, electrodes are on,
the patient was screened, targets resolve and sit under the ceilings, and the static safety
check passes at them. Functions of a :class:`~tensctl.engine.session.Session`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tensctl.drivers.base import DeviceInfo
from tensctl.engine.plan import resolve_targets
from tensctl.engine.timeline import Timeline
from tensctl.errors import DeviceError, SafetyRefused
from tensctl.model.device import DeviceProfile
from tensctl.model.protocol import Threshold
from tensctl.safety import check_protocol
from tensctl.safety.limits import limit
from tensctl.safety.supervisor import Supervisor

if TYPE_CHECKING:
    from tensctl.engine.session import Session


def match_profile(info: DeviceInfo, profile: DeviceProfile, channels: int) -> None:
    """The connected device must have the channels and no more current than its profile."""
    if info.channels < channels or info.max_amplitude_ma > profile.amplitude.max_ma:
        raise DeviceError(
            f"the device ({info.model}, {info.channels} channels, "
            f"{info.max_amplitude_ma:g} mA) does not match profile '{profile.id}' "
            f"({profile.channels} channels, {profile.amplitude.max_ma:g} mA)"
        )


def run(s: Session) -> None:
    """Impedance, contraindication gate, static safety check at the targets; then the
    ceilings (refusals raise :class:`SafetyRefused`)."""
    open_ohm = limit("open_circuit_ohm").value
    for ch in s.channels:
        z = s.driver.measure_impedance(ch)
        if math.isnan(z):  # the device cannot measure it; it checks the skin on its own
            s.emit("impedance", channel=ch, impedance_ohm=None, measured=False)
            continue
        s.emit("impedance", channel=ch, impedance_ohm=None if math.isinf(z) else z)
        if math.isinf(z) or z > open_ohm:
            raise SafetyRefused(
                f"channel {ch}: electrode not attached (load above {open_ohm:,.0f} Ω)"
            )
    if not s.screened:
        raise SafetyRefused("contraindication screening has not been confirmed for this patient")
    targets = resolve_targets(s.protocol, s.given_ma, s.thresholds)
    s.checked = all(v is not None for v in targets.values())
    upper = {ch: upper_ma(s, ch) for ch in s.channels}
    if not s.checked:
        s.ceilings_ma = upper
        missing = [ch for ch, v in targets.items() if v is None]
        s.emit("warning", rule="titration", message=f"titrate channel(s) {missing} first")
        return
    resolved = {ch: float(v) for ch, v in targets.items() if v is not None}
    above = [f"channel {ch}: {v:g} mA" for ch, v in resolved.items() if v > upper[ch]]
    if above:
        listed = ", ".join(f"channel {ch} {upper[ch]:g} mA" for ch in s.channels)
        raise SafetyRefused(f"target above the ceiling ({'; '.join(above)}; ceilings: {listed})")
    s.targets_ma = resolved
    report = check_protocol(
        s.protocol,
        s.device,
        s.targets_ma,
        s.safety.electrodes,
        s.safety.acknowledged,
    )
    if not report.ok:
        s.checked = False
        lines = "; ".join(f"{f.rule} at {f.path}: {f.message}" for f in report.violations)
        raise SafetyRefused(f"protocol '{s.protocol.id}' refused at {s.targets_ma}: {lines}")
    s.ceilings_ma = ceilings(s, upper)
    s.supervisor = Supervisor(s.device, s.ceilings_ma)
    s.timeline = Timeline(s.protocol, s.targets_ma)
    thresholds = {ch: {k.value: v for k, v in found.items()} for ch, found in s.thresholds.items()}
    s.emit("checked", targets_ma=s.targets_ma, ceilings_ma=s.ceilings_ma, thresholds_ma=thresholds)


def upper_ma(s: Session, ch: int) -> float:
    """The most channel ``ch`` may ever get: device, operator, protocol and N threshold."""
    channel = next(c for c in s.protocol.channels if c.id == ch)
    candidates = [s.device.amplitude.max_ma, s.given_ceiling_ma.get(ch, math.inf)]
    candidates.append(s.protocol.channel_ceiling_ma(channel) or math.inf)
    noxious = s.thresholds.get(ch, {}).get(Threshold.N)
    if noxious is not None:
        candidates.append(noxious)
    # NaN compares false with everything, so min() would skip it (a NaN noxious level would
    # silently drop its cap): anything that is not a number ≥ 0 makes the ceiling 0
    if any(math.isnan(c) or c < 0 for c in candidates):
        return 0.0
    return min(candidates)


def ceilings(s: Session, upper: dict[int, float]) -> dict[int, float]:
    """Per channel, the highest amplitude the static check passes at (others at their
    targets); if all channels at those ceilings together fail, the targets."""
    ceilings = {
        ch: max(s.targets_ma[ch], s.safety.checked_ceiling(ch, upper[ch], s.targets_ma))
        for ch in s.channels
    }
    if s.safety.passes(ceilings):
        return ceilings
    s.emit("warning", rule="ceiling", message="ceilings held at the targets (shared sites)")
    return dict(s.targets_ma)
