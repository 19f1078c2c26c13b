"""The Hasomed P24 (ScienceMode4, general and mid-level commands) personality of the
simulator."""

from __future__ import annotations

from tenssim.sciencemode4.personality import ScienceMode4

__all__ = ["ScienceMode4"]
