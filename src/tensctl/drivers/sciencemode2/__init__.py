"""The Hasomed RehaStim2 over ScienceMode2 (``sciencemode2:///dev/ttyUSB0``)."""

from __future__ import annotations

from tensctl.drivers.sciencemode2.driver import ScienceMode2Driver
from tensctl.drivers.sciencemode2.opener import PROFILE, open_sciencemode2

__all__ = ["PROFILE", "ScienceMode2Driver", "open_sciencemode2"]
