"""Pydantic models of tensctl's files: protocols, device profiles, electrodes.

This package is a leaf: it imports nothing else from tensctl except :mod:`tensctl.errors`.
"""

from tensctl.model.device import DeviceProfile
from tensctl.model.electrodes import Electrode, Site
from tensctl.model.protocol import Channel, IntensityTarget, Phase, Protocol, Threshold, Waveform

__all__ = [
    "Channel",
    "DeviceProfile",
    "Electrode",
    "IntensityTarget",
    "Phase",
    "Protocol",
    "Site",
    "Threshold",
    "Waveform",
]
