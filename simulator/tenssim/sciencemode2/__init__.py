"""The RehaStim2 (ScienceMode2, channel list mode) personality of the simulator."""

from __future__ import annotations

from tenssim.sciencemode2.personality import ScienceMode2

__all__ = ["ScienceMode2"]
