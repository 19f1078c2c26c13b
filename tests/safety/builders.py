"""Build protocols and device profiles for the safety tests, legal or not.

`model_construct` is used on purpose: the safety check must refuse values the file models
would also refuse (defence in depth), so the sweeps feed it those values directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tensctl.model.device import AmplitudeSpec, DeviceProfile, SlewSpec
from tensctl.model.electrodes import Electrode, Site
from tensctl.model.loader import load_device
from tensctl.model.modes import Continuous
from tensctl.model.protocol import (
    Channel,
    IntensityTarget,
    Phase,
    Protocol,
    SecondaryPhase,
    SessionLimits,
    Waveform,
)
from tensctl.safety import LIMITS, Finding, Severity
from tensctl.safety.supervisor import Reading

ROOT = Path(__file__).resolve().parents[2]
SIM = load_device(ROOT / "devices" / "tenssim-2ch.yaml")


def device(**update: Any) -> DeviceProfile:
    if "max_ma" in update:
        update["amplitude"] = AmplitudeSpec(max_ma=update.pop("max_ma"), resolution_ua=1)
    if "slew_step" in update or "slew_rate" in update:
        update["slew"] = SlewSpec.model_construct(
            max_step_ma=update.pop("slew_step", 1.0),
            max_rate_ma_per_s=update.pop("slew_rate", 4.0),
        )
    return SIM.model_copy(update=update)


def electrodes(site: Site = Site.forearm_left, area: float = 25.0) -> list[Electrode]:
    pad = Electrode.model_construct(site=site, area_cm2=area, catalogue=None)
    return [pad, pad]


def phase(
    freq: float | None = 100.0,
    width: float | None = 200.0,
    duration: float = 600.0,
    mode: Any = None,
    secondary: tuple[float, float] | None = None,
) -> Phase:
    return Phase.model_construct(
        name="p",
        duration_s=duration,
        waveform=Waveform.asymmetric_biphasic if secondary else Waveform.symmetric_biphasic,
        secondary_phase=SecondaryPhase.model_construct(
            amplitude_ratio=secondary[0], width_ratio=secondary[1]
        )
        if secondary
        else None,
        frequency_hz=freq,
        pulse_width_us=width,
        mode=mode or Continuous(),
        ramp_up_s=0.0,
        ramp_down_s=0.0,
        cycling=None,
    )


def channel(
    cid: int = 1, pads: list[Electrode] | None = None, ceiling: float | None = None
) -> Channel:
    return Channel.model_construct(
        id=cid, label=None, electrodes=pads or electrodes(), intensity=None, ceiling_ma=ceiling
    )


def protocol(
    phases: list[Phase] | None = None,
    channels: list[Channel] | None = None,
    timer: float = 1800.0,
    daily: float | None = 7200.0,
    ceiling: float | None = None,
) -> Protocol:
    return Protocol.model_construct(
        format_version=1,
        id="t",
        name="T",
        description="",
        indications=[],
        references=[],
        notes=None,
        channels=channels or [channel()],
        intensity=IntensityTarget(relative_to="SC2"),
        ceiling_ma=ceiling,
        phases=phases or [phase()],
        session=SessionLimits.model_construct(
            max_duration_s=timer, daily_cap_s=daily, retitrate_every_s=None
        ),
    )


def reading(**changes: float | bool) -> Reading:
    """A telemetry reading of a channel working as it should, with ``changes``."""
    base = {
        "on": True,
        "commanded_ma": 20.0,
        "delivered_ma": 20.0,
        "impedance_ohm": 2000.0,
        "frequency_hz": 100.0,
        "pulse_width_us": 200.0,
    }
    return Reading(**(base | changes))  # type: ignore[arg-type]


def cite(key: str) -> str:
    return LIMITS[key].cite()


def lim(key: str) -> float:
    return LIMITS[key].value


def expect(
    rule: str,
    severity: Severity,
    message: str,
    path: str,
    value: float | str | None = None,
    limit: float | str | None = None,
    unit: str = "",
    source: str = "",
    channel: int | None = None,
    rel: float = 1e-6,
) -> Finding:
    """A finding to compare with; numbers compare to within ``rel`` (float noise)."""

    def approx(x: float | str | None) -> float | str | None:
        if isinstance(x, float):
            return pytest.approx(x, rel=rel, abs=1e-12)  # type: ignore[no-any-return]
        return x

    return Finding(
        rule, severity, message, path, approx(value), approx(limit), unit, source, channel
    )
