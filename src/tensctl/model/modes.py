"""Stimulation modes of a phase: continuous, burst, alternating, modulated.

Each mode is a model with a ``type`` tag, so a file says ``mode: {type: burst, ...}`` and
errors name the mode's own fields.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from tensctl.model.base import DurationS, PositiveFloat, StrictModel


class ModeType(StrEnum):
    continuous = "continuous"
    burst = "burst"
    alternating = "alternating"
    modulated = "modulated"


class Continuous(StrictModel):
    """Pulses at the phase's ``frequency_hz`` for the whole phase."""

    type: Literal["continuous"] = "continuous"


class Burst(StrictModel):
    """Trains of pulses: the phase's ``frequency_hz`` is the rate inside a train."""

    type: Literal["burst"]
    pulses_per_train: int = Field(ge=2, le=100)
    train_rate_hz: PositiveFloat
    """Trains per second."""


class AlternatingStep(StrictModel):
    frequency_hz: PositiveFloat
    pulse_width_us: PositiveFloat | None = None
    """Defaults to the phase's ``pulse_width_us``."""
    dwell_s: DurationS
    """How long this step lasts before the next one starts."""


class Alternating(StrictModel):
    """Steps that repeat in order for the whole phase, e.g. 2 Hz and 100 Hz, 3 s each."""

    type: Literal["alternating"]
    steps: list[AlternatingStep] = Field(min_length=2, max_length=32)


class Shape(StrEnum):
    sine = "sine"
    triangle = "triangle"
    sawtooth = "sawtooth"
    square = "square"


class _Sweep(StrictModel):
    low: PositiveFloat
    high: PositiveFloat
    inverted: bool = False
    """False: starts at ``high``, reaches ``low`` mid-period. True: the opposite."""

    @model_validator(mode="after")
    def _ordered(self) -> _Sweep:
        if self.low >= self.high:
            raise ValueError(f"'low' ({self.low}) must be less than 'high' ({self.high})")
        return self


class FrequencySweep(_Sweep):
    parameter: Literal["frequency_hz"]


class PulseWidthSweep(_Sweep):
    parameter: Literal["pulse_width_us"]


class AmplitudeDepth(StrictModel):
    """Amplitude swings from 100 % of the target down to (100 - depth_percent) %."""

    parameter: Literal["amplitude"]
    depth_percent: float = Field(gt=0, le=100, allow_inf_nan=False)
    inverted: bool = False


Modulation = Annotated[
    FrequencySweep | PulseWidthSweep | AmplitudeDepth, Field(discriminator="parameter")
]


class Modulated(StrictModel):
    """One or more parameters vary periodically with a common period and shape."""

    type: Literal["modulated"]
    period_s: DurationS
    shape: Shape = Shape.triangle
    parameters: list[Modulation] = Field(min_length=1, max_length=3)

    @model_validator(mode="after")
    def _distinct(self) -> Modulated:
        names = [m.parameter for m in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"each parameter may be modulated once, found {names}")
        return self

    def sweep(self, parameter: str) -> FrequencySweep | PulseWidthSweep | None:
        for m in self.parameters:
            if m.parameter == parameter and not isinstance(m, AmplitudeDepth):
                return m
        return None

    def amplitude_depth(self) -> AmplitudeDepth | None:
        for m in self.parameters:
            if isinstance(m, AmplitudeDepth):
                return m
        return None


Mode = Annotated[Continuous | Burst | Alternating | Modulated, Field(discriminator="type")]
