"""Resolve a protocol's intensity targets to milliamps per channel.

At run time relative targets resolve against the patient's titrated thresholds. Where a
value is not known (validating a protocol without a patient), the worst case stands in: the
channel's ceiling if the protocol sets one, else the device's maximum amplitude. Each result
says which basis it came from, so a report can say what it was computed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tensctl.errors import InputError, Problem
from tensctl.model.device import DeviceProfile
from tensctl.model.protocol import Protocol, Threshold


@dataclass(frozen=True)
class Resolved:
    amplitude_ma: float
    basis: str  # e.g. "target", "SC2 × 1.1", "ceiling (worst case)", "given"


def resolve_intensities(
    protocol: Protocol,
    device: DeviceProfile,
    given_ma: Mapping[int, float] | None = None,
    thresholds_ma: Mapping[Threshold, float] | None = None,
) -> dict[int, Resolved]:
    given = dict(given_ma or {})
    unknown = sorted(set(given) - {c.id for c in protocol.channels})
    if unknown:
        ids = [c.id for c in protocol.channels]
        raise InputError(
            [
                Problem(
                    f"no channel {ch} in protocol '{protocol.id}' (channels: {ids})", "--intensity"
                )
                for ch in unknown
            ]
        )
    out: dict[int, Resolved] = {}
    for channel in protocol.channels:
        target = protocol.channel_intensity(channel)
        if channel.id in given:
            out[channel.id] = Resolved(given[channel.id], "given")
        elif target.target_ma is not None:
            out[channel.id] = Resolved(target.target_ma, "protocol target")
        elif thresholds_ma and target.relative_to in thresholds_ma:
            assert target.relative_to is not None
            value = thresholds_ma[target.relative_to] * target.scale
            out[channel.id] = Resolved(value, f"{target.relative_to} × {target.scale:g}")
        else:
            ceiling = protocol.channel_ceiling_ma(channel)
            if ceiling is not None:
                out[channel.id] = Resolved(ceiling, "ceiling (worst case)")
            else:
                out[channel.id] = Resolved(device.amplitude.max_ma, "device maximum (worst case)")
    return out
