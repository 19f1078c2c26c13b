"""Device profiles: what a stimulator can do and the limits it enforces itself."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from tensctl.model.base import (
    LongText,
    PositiveFloat,
    Range,
    Reference,
    ShortText,
    Slug,
    StrictModel,
)
from tensctl.model.modes import ModeType
from tensctl.model.protocol import Waveform


class UseClass(StrEnum):
    home = "home"
    clinic = "clinic"
    research = "research"


class AmplitudeSpec(StrictModel):
    max_ma: PositiveFloat
    """Highest peak amplitude the device can be commanded to (the minimum is 0)."""
    resolution_ua: PositiveFloat
    """Smallest amplitude step in µA."""


class SlewSpec(StrictModel):
    """How fast the output may rise. Decreases are never limited."""

    max_step_ma: PositiveFloat
    """Largest increase in one command."""
    max_rate_ma_per_s: PositiveFloat
    """Largest increase over any 1 s window."""


class LiveParameter(StrEnum):
    amplitude = "amplitude"
    pulse_width = "pulse_width"
    frequency = "frequency"


class SerialSettings(StrictModel):
    baudrate: int = Field(ge=300, le=12_000_000)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    rtscts: bool = False
    """Hardware (RTS/CTS) flow control."""


class DeviceProfile(StrictModel):
    format_version: Literal[1]
    id: Slug
    model: ShortText
    vendor: ShortText
    description: LongText = ""
    datasheet: Reference | None = None
    """The published document the numbers below come from (required for real devices)."""
    simulated: bool = False
    use_class: UseClass = UseClass.clinic
    driver_scheme: Slug
    """URL scheme of the driver, e.g. ``sim`` or ``serial``."""
    channels: int = Field(ge=1, le=16)
    amplitude: AmplitudeSpec
    pulse_width_us: Range
    frequency_hz: Range
    max_charge_per_phase_uc: PositiveFloat
    compliance_voltage_v: PositiveFloat
    """Highest voltage the output stage can drive (open-circuit peak)."""
    worst_case_impedance_ohm: PositiveFloat
    """Highest load impedance the static power-density check assumes."""
    waveforms: list[Waveform] = Field(min_length=1)
    modes: list[ModeType] = Field(min_length=1)
    watchdog_ms: PositiveFloat
    """The device zeroes every output after this long without a valid frame."""
    slew: SlewSpec
    max_session_s: PositiveFloat
    """Longest single session the device (or its use class) allows."""
    live_parameters: list[LiveParameter] = Field(
        default_factory=lambda: list(LiveParameter), min_length=1
    )
    """What an update can change while the output is on without interrupting it (default:
    all three). Host-driven modulation of anything else is refused by the static check."""
    min_update_interval_ms: PositiveFloat | None = None
    """Shortest time between parameter updates the device accepts (limits modulation)."""
    serial: SerialSettings | None = None
    """Serial line settings; absent for in-process devices."""

    @model_validator(mode="after")
    def _real_devices_cite(self) -> DeviceProfile:
        if not self.simulated and self.datasheet is None:
            raise ValueError("a profile of a real device must cite its 'datasheet'")
        return self
