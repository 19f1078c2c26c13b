"""Fault-injection scenarios: a YAML file of timed events the simulator plays back.

Times (``at_s``) count from the first START the device accepts (``clock: start``, the
default, so a scenario is repeatable however long the host takes to connect) or from
power-up (``clock: boot``). Files are read with tensctl's restricted YAML reader and
validated with the same located messages as protocol files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from tensctl.model.base import LongText, OptionalDelayS, PositiveFloat, Slug, StrictModel
from tensctl.model.library import library_files, resolve
from tensctl.model.loader import validate_document
from tensctl.model.yamlsafe import read_yaml_file

Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
ChannelNo = Annotated[int, Field(ge=1, le=16)]


class _At(StrictModel):
    at_s: OptionalDelayS
    """When it happens, in seconds from the scenario clock's zero."""


class ElectrodeOff(_At):
    kind: Literal["electrode_off"]
    channel: ChannelNo


class ElectrodeOn(_At):
    kind: Literal["electrode_on"]
    channel: ChannelNo


class PeelEvent(_At):
    kind: Literal["peel"]
    channel: ChannelNo
    duration_s: PositiveFloat
    """How long the contact area takes to shrink."""
    area_fraction: Annotated[float, Field(ge=0, lt=1)]
    """The fraction of the contact area left at the end."""


class ImpedanceStep(_At):
    kind: Literal["impedance_step"]
    channel: ChannelNo
    series_ohm: PositiveFloat
    parallel_ohm: PositiveFloat


class ShortEvent(_At):
    kind: Literal["short"]
    channel: ChannelNo


class OverCurrent(_At):
    kind: Literal["over_current"]
    channel: ChannelNo
    active: bool = True


class LinkSilence(_At):
    kind: Literal["link_silence"]
    duration_ms: PositiveFloat
    """Nothing crosses the link, either way, for this long."""


class LinkQuality(_At):
    kind: Literal["link_quality"]
    corruption_rate: Rate = 0.0
    """Probability that each byte, either way, has one bit flipped."""
    drop_rate: Rate = 0.0
    """Probability that a frame, either way, is lost."""
    duplicate_rate: Rate = 0.0
    """Probability that a frame, either way, arrives twice."""
    delay_ms: Annotated[float, Field(ge=0, le=10_000)] = 0.0
    """Extra delay before each reply leaves the device."""


class Reboot(_At):
    kind: Literal["reboot"]
    offline_ms: Annotated[float, Field(ge=0, le=60_000)] = 200.0
    """How long the device is deaf and mute while it restarts."""


class Battery(_At):
    kind: Literal["battery"]
    low: bool


class InitialLoad(StrictModel):
    series_ohm: PositiveFloat = 500.0
    parallel_ohm: PositiveFloat = 5000.0
    capacitance_nf: PositiveFloat = 100.0


ScenarioEvent = Annotated[
    ElectrodeOff
    | ElectrodeOn
    | PeelEvent
    | ImpedanceStep
    | ShortEvent
    | OverCurrent
    | LinkSilence
    | LinkQuality
    | Reboot
    | Battery,
    Field(discriminator="kind"),
]


class Scenario(StrictModel):
    format_version: Literal[1]
    id: Slug
    description: LongText = ""
    clock: Literal["start", "boot"] = "start"
    loads: dict[ChannelNo, InitialLoad] = Field(default_factory=dict)
    """Each channel's electrode–skin load at power-up (default for channels not listed)."""
    events: list[ScenarioEvent] = Field(default_factory=list)

    def timeline(self) -> list[ScenarioEvent]:
        return sorted(self.events, key=lambda e: e.at_s)


SCENARIO_DIRS = [
    Path(__file__).resolve().parent / "_scenarios",  # installed from a wheel
    Path(__file__).resolve().parents[1] / "scenarios",  # source checkout
]


def scenario_files() -> dict[str, Path]:
    return library_files([d for d in SCENARIO_DIRS if d.is_dir()])


def load_scenario(ref: str) -> Scenario:
    """A scenario by file path or by the id of a shipped one."""
    path = resolve(ref, [d for d in SCENARIO_DIRS if d.is_dir()], "scenario")
    return validate_document(read_yaml_file(path), Scenario)
