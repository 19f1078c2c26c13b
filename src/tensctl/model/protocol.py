"""The protocol file: what to deliver, on which channels and electrodes, for how long."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from itertools import product
from typing import Literal

from pydantic import Field, model_validator

from tensctl.model.base import (
    DurationS,
    LongText,
    OptionalDelayS,
    PositiveFloat,
    Reference,
    ShortText,
    Slug,
    StrictModel,
)
from tensctl.model.electrodes import Electrode
from tensctl.model.modes import (
    Alternating,
    AmplitudeDepth,
    Burst,
    Continuous,
    Mode,
    Modulated,
)


class Waveform(StrEnum):
    symmetric_biphasic = "symmetric_biphasic"
    asymmetric_biphasic = "asymmetric_biphasic"


class Threshold(StrEnum):
    """Titrated intensities of the SIT procedure, in the order they are found."""

    ST = "ST"  # sensory threshold
    SC1 = "SC1"  # strong but comfortable, on the way up
    N = "N"  # noxious
    SC2 = "SC2"  # strong but comfortable, on the way down (the usual session target)


class IntensityTarget(StrictModel):
    """Either an absolute amplitude, or a multiple of a titrated threshold."""

    target_ma: PositiveFloat | None = None
    relative_to: Threshold | None = None
    scale: float = Field(default=1.0, gt=0, le=1.5, allow_inf_nan=False)
    """Multiplies the threshold, e.g. 1.1 for +10 % (anti-tolerance progression)."""

    @model_validator(mode="after")
    def _one_kind(self) -> IntensityTarget:
        if (self.target_ma is None) == (self.relative_to is None):
            raise ValueError("give exactly one of 'target_ma' or 'relative_to'")
        if self.target_ma is not None and self.scale != 1.0:
            raise ValueError("'scale' applies only with 'relative_to'")
        return self


class SecondaryPhase(StrictModel):
    """The second (charge-recovery) phase of an asymmetric biphasic pulse."""

    amplitude_ratio: float = Field(gt=0, le=1, allow_inf_nan=False)
    """Secondary-phase amplitude as a fraction of the primary."""
    width_ratio: float = Field(ge=1, le=20, allow_inf_nan=False)
    """Secondary-phase width as a multiple of the primary (1 / amplitude_ratio balances)."""


class Cycling(StrictModel):
    """Output on for ``on_s``, off for ``off_s``, repeated (ramps happen inside ``on_s``)."""

    on_s: DurationS
    off_s: DurationS


@dataclass(frozen=True)
class OperatingPoint:
    """One combination of pulse parameters a phase can reach (used for worst-case checks)."""

    frequency_hz: float  # instantaneous pulse frequency
    pulse_width_us: float  # primary phase width
    pulse_rate_hz: float  # mean pulses per second (lower than frequency_hz in bursts)
    frequency_path: str = "frequency_hz"  # where the frequency comes from, inside the phase
    width_path: str = "pulse_width_us"


class Phase(StrictModel):
    name: ShortText
    duration_s: DurationS
    waveform: Waveform = Waveform.symmetric_biphasic
    secondary_phase: SecondaryPhase | None = None
    frequency_hz: PositiveFloat | None = None
    """Pulse frequency; inside a train for burst mode; absent when the mode sets it."""
    pulse_width_us: PositiveFloat | None = None
    """Width of one phase of the pulse (the primary phase when asymmetric)."""
    mode: Mode = Field(default_factory=Continuous)
    ramp_up_s: OptionalDelayS = 0.0
    ramp_down_s: OptionalDelayS = 0.0
    cycling: Cycling | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Phase:
        asym = self.waveform is Waveform.asymmetric_biphasic
        if asym and self.secondary_phase is None:
            raise ValueError("an asymmetric_biphasic waveform needs 'secondary_phase'")
        if not asym and self.secondary_phase is not None:
            raise ValueError("'secondary_phase' applies only to asymmetric_biphasic")
        self._check_parameter_sources()
        span = self.cycling.on_s if self.cycling else self.duration_s
        where = "cycling.on_s" if self.cycling else "duration_s"
        if self.ramp_up_s + self.ramp_down_s > span:
            raise ValueError(
                f"ramp_up_s + ramp_down_s ({self.ramp_up_s + self.ramp_down_s:g} s) "
                f"exceed {where} ({span:g} s)"
            )
        mode = self.mode
        if isinstance(mode, Burst) and self.frequency_hz is not None:
            # a train lasts one full period per pulse, the last one included: trains that
            # fill their interval run back to back, and the device would pulse faster than
            # the phase's frequency where one train meets the next
            train_s = mode.pulses_per_train / self.frequency_hz
            if not train_s < 1.0 / mode.train_rate_hz:
                raise ValueError(
                    f"a train of {mode.pulses_per_train} pulses at {self.frequency_hz:g} Hz "
                    f"lasts {train_s:g} s, not shorter than the {1 / mode.train_rate_hz:g} s "
                    "between trains"
                )
        return self

    def _check_parameter_sources(self) -> None:
        mode = self.mode
        if isinstance(mode, Alternating):
            if self.frequency_hz is not None:
                raise ValueError("alternating steps set the frequency; remove 'frequency_hz'")
            if self.pulse_width_us is None and any(s.pulse_width_us is None for s in mode.steps):
                raise ValueError("set 'pulse_width_us' on the phase or on every step")
            return
        swept = {m.parameter for m in mode.parameters} if isinstance(mode, Modulated) else set()
        for name in ("frequency_hz", "pulse_width_us"):
            present = getattr(self, name) is not None
            if name in swept and present:
                raise ValueError(f"'{name}' is modulated; remove it from the phase")
            if name not in swept and not present:
                raise ValueError(f"'{name}' is required for {mode.type} mode")

    def operating_points(self) -> list[OperatingPoint]:
        """Every parameter combination the phase can reach, or a superset of it."""
        mode = self.mode
        if isinstance(mode, Alternating):
            return [
                OperatingPoint(
                    s.frequency_hz,
                    self._width(s.pulse_width_us),
                    s.frequency_hz,
                    f"mode.steps[{i}].frequency_hz",
                    f"mode.steps[{i}].pulse_width_us" if s.pulse_width_us else "pulse_width_us",
                )
                for i, s in enumerate(mode.steps)
            ]
        if isinstance(mode, Modulated):
            freqs = self._swept(mode, "frequency_hz", self.frequency_hz)
            widths = self._swept(mode, "pulse_width_us", self.pulse_width_us)
            return [
                OperatingPoint(f, w, f, f_path, w_path)
                for (f, f_path), (w, w_path) in product(freqs, widths)
            ]
        rate = self._freq()
        if isinstance(mode, Burst):
            rate = mode.pulses_per_train * mode.train_rate_hz
        return [OperatingPoint(self._freq(), self._width(None), rate)]

    @staticmethod
    def _swept(mode: Modulated, name: str, fixed: float | None) -> list[tuple[float, str]]:
        for k, m in enumerate(mode.parameters):
            if m.parameter == name and not isinstance(m, AmplitudeDepth):
                where = f"mode.parameters[{k}]"
                return [(m.low, f"{where}.low"), (m.high, f"{where}.high")]
        assert fixed is not None
        return [(fixed, name)]

    def _freq(self) -> float:
        assert self.frequency_hz is not None
        return self.frequency_hz

    def _width(self, step_width: float | None) -> float:
        width = step_width if step_width is not None else self.pulse_width_us
        assert width is not None
        return width


class Channel(StrictModel):
    id: int = Field(ge=1, le=16)
    label: str | None = Field(default=None, max_length=100)
    electrodes: list[Electrode] = Field(min_length=2, max_length=4)
    intensity: IntensityTarget | None = None
    """Overrides the protocol's intensity for this channel."""
    ceiling_ma: PositiveFloat | None = None
    """Never exceed this amplitude on this channel."""


class SessionLimits(StrictModel):
    max_duration_s: DurationS
    """The session stops (ramping down) when this much time has passed."""
    daily_cap_s: DurationS | None = None
    """Total stimulation allowed per patient per day, across sessions."""
    retitrate_every_s: DurationS | None = None
    """Remind the therapist to re-titrate (habituation) this often."""


class Protocol(StrictModel):
    format_version: Literal[1]
    id: Slug
    name: ShortText
    description: LongText = ""
    indications: list[ShortText] = Field(default_factory=list, max_length=50)
    references: list[Reference] = Field(default_factory=list, max_length=50)
    notes: LongText | None = None
    """Instructions for the therapist (placement, titration cues)."""
    channels: list[Channel] = Field(min_length=1, max_length=16)
    intensity: IntensityTarget
    ceiling_ma: PositiveFloat | None = None
    """Default ceiling for every channel without its own."""
    phases: list[Phase] = Field(min_length=1, max_length=500)
    session: SessionLimits

    @model_validator(mode="after")
    def _unique_channels(self) -> Protocol:
        ids = [c.id for c in self.channels]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"channel ids must be unique, repeated: {dupes}")
        return self

    @property
    def total_duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    def channel_intensity(self, channel: Channel) -> IntensityTarget:
        return channel.intensity or self.intensity

    def channel_ceiling_ma(self, channel: Channel) -> float | None:
        return channel.ceiling_ma if channel.ceiling_ma is not None else self.ceiling_ma

    def mode_summary(self) -> str:
        kinds = list(dict.fromkeys(p.mode.type for p in self.phases))
        return "+".join(kinds)
