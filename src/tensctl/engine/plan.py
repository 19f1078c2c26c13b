"""What the engine works out before any current flows: each channel's target, its
ceiling, and the device settings of each phase."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from tensctl.drivers.base import AlternationStep, ChannelSettings
from tensctl.engine.timeline import Setpoint, pulse_parameters
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
