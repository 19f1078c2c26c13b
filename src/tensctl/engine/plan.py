"""What the engine works out before any current flows: what the operator asked for
(:class:`Orders`), each channel's target and ceiling once the checks passed (:class:`Plan`,
immutable), and the device settings of each phase."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from tensctl.drivers.base import AlternationStep, ChannelSettings
from tensctl.engine.timeline import Setpoint, Timeline, pulse_parameters
from tensctl.model.device import DeviceProfile
from tensctl.model.electrodes import Electrode
from tensctl.model.modes import Alternating, Burst
from tensctl.model.protocol import Phase, Protocol, Threshold
from tensctl.safety import check_protocol

BISECTION_STEPS = 24


@dataclass(frozen=True)
class SafetyInputs:
    protocol: Protocol
    device: DeviceProfile
    electrodes: Mapping[int, Sequence[Electrode]] | None = None
    acknowledged: Collection[str] = ()

    def passes(self, intensities_ma: Mapping[int, float]) -> bool:
        report = check_protocol(
            self.protocol, self.device, intensities_ma, self.electrodes, self.acknowledged
        )
        return report.ok

    def checked_ceiling(self, channel: int, upper_ma: float, others: Mapping[int, float]) -> float:
        """The highest amplitude ≤ ``upper_ma`` on ``channel`` at which the static check
        passes with the other channels at ``others`` (0 if none does)."""

        def ok(x: float) -> bool:
            return self.passes({**others, channel: x})

        if ok(upper_ma):
            return upper_ma
        lo, hi = 0.0, upper_ma
        for _ in range(BISECTION_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo


@dataclass(frozen=True)
class Orders:
    """What the operator asked for: intensities, ceilings and thresholds per channel, and
    whether the patient was screened. Replaced, never changed, when a titration adds to it."""

    safety: SafetyInputs
    intensity_ma: Mapping[int, float] = field(default_factory=dict)
    ceiling_ma: Mapping[int, float] = field(default_factory=dict)
    thresholds: Mapping[int, Mapping[Threshold, float]] = field(default_factory=dict)
    screened: bool = False
    end_s: float | None = None
    """The session ends here, before its protocol does, ramping down (the daily cap)."""

    @property
    def protocol(self) -> Protocol:
        return self.safety.protocol

    @property
    def device(self) -> DeviceProfile:
        return self.safety.device

    def upper_ma(self, ch: int) -> float:
        """The most channel ``ch`` may ever get: device, operator, protocol and N threshold."""
        channel = next(c for c in self.protocol.channels if c.id == ch)
        candidates = [self.device.amplitude.max_ma, self.ceiling_ma.get(ch, math.inf)]
        candidates.append(self.protocol.channel_ceiling_ma(channel) or math.inf)
        noxious = self.thresholds.get(ch, {}).get(Threshold.N)
        if noxious is not None:
            candidates.append(noxious)
        # NaN compares false with everything, so min() would skip it (a NaN noxious level
        # would silently drop its cap): anything that is not a number ≥ 0 makes it 0
        if any(math.isnan(c) or c < 0 for c in candidates):
            return 0.0
        return min(candidates)


@dataclass(frozen=True)
class Plan:
    """What the checks before current flows have passed, and nothing else: every channel's
    target (empty until every target is known), its ceiling, and the timeline at the targets.
    The supervisor of a run is built from :attr:`ceilings_ma`."""

    targets_ma: Mapping[int, float]
    ceilings_ma: Mapping[int, float]
    timeline: Timeline

    @classmethod
    def of(
        cls,
        protocol: Protocol,
        targets_ma: Mapping[int, float],
        ceilings_ma: Mapping[int, float],
        end_s: float | None = None,
    ) -> Plan:
        """``end_s``: the timeline ends there, before the protocol does (the daily cap)."""
        return cls(
            MappingProxyType(dict(targets_ma)),
            MappingProxyType(dict(ceilings_ma)),
            Timeline(protocol, MappingProxyType(dict(targets_ma)), end_s),
        )

    @classmethod
    def unchecked(cls, protocol: Protocol, device: DeviceProfile) -> Plan:
        """Before any check: no target, every ceiling at the device's maximum."""
        return cls.of(protocol, {}, {c.id: device.amplitude.max_ma for c in protocol.channels})

    @property
    def complete(self) -> bool:
        """Every channel has a checked target: the session may start."""
        return bool(self.targets_ma)


def resolve_targets(
    protocol: Protocol,
    given_ma: Mapping[int, float],
    thresholds: Mapping[int, Mapping[Threshold, float]],
) -> dict[int, float | None]:
    """Each channel's target in mA, or None while it still needs titration."""
    out: dict[int, float | None] = {}
    for channel in protocol.channels:
        target = protocol.channel_intensity(channel)
        found = thresholds.get(channel.id, {})
        if channel.id in given_ma:
            out[channel.id] = given_ma[channel.id]
        elif target.target_ma is not None:
            out[channel.id] = target.target_ma
        elif target.relative_to is not None and target.relative_to in found:
            out[channel.id] = found[target.relative_to] * target.scale
        else:
            out[channel.id] = None
    return out


def settings_for(phase: Phase, point: Setpoint | None = None) -> ChannelSettings:
    """The device settings of ``phase`` (at ``point`` for host-driven modulation)."""
    mode = phase.mode
    secondary = phase.secondary_phase
    shape = replace(
        ChannelSettings(0.0, 0.0),
        waveform=phase.waveform.value,
        secondary_amplitude_ratio=secondary.amplitude_ratio if secondary else 1.0,
        secondary_width_ratio=secondary.width_ratio if secondary else 1.0,
    )
    if isinstance(mode, Alternating):
        width = phase.pulse_width_us
        steps = tuple(
            AlternationStep(s.frequency_hz, s.pulse_width_us or width or 0.0, s.dwell_s)
            for s in mode.steps
        )
        first = steps[0]
        return replace(
            shape,
            frequency_hz=first.frequency_hz,
            pulse_width_us=first.pulse_width_us,
            mode="alternating",
            steps=steps,
        )
    frequency, width = (
        (point.frequency_hz, point.pulse_width_us) if point else pulse_parameters(phase, 0.0)
    )
    shape = replace(shape, frequency_hz=frequency, pulse_width_us=width)
    if isinstance(mode, Burst):
        return replace(
            shape,
            mode="burst",
            pulses_per_train=mode.pulses_per_train,
            train_rate_hz=mode.train_rate_hz,
        )
    return shape


def fixed_train(phase: Phase) -> bool:
    """True when the device runs one fixed frequency and width all phase long (so
    telemetry can be compared with them)."""
    return phase.mode.type in ("continuous", "burst")
