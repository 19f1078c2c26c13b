"""What the ScienceMode2 driver knows of each channel, and the telemetry it synthesizes.

The RehaStim2 reports nothing while it stimulates (no current, no impedance, no pulse
count), so telemetry is the commanded state: the current sent, the width sent, the
frequency the channel list produces, and pulses and charge integrated from those while the
channel is on. ``delivered_peak_ma`` and ``impedance_ohm`` are NaN: not measured (the device
tests the skin resistance before every pulse itself and reports an electrode error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tensctl.drivers.base import ChannelSettings, ChannelTelemetry


@dataclass
class ChannelState:
    number: int
    settings: ChannelSettings | None = None
    width_us: int = 0
    active: bool = False
    current_ma: int = 0
    frequency_hz: float = 0.0  # as the channel list produces it
    faults: frozenset[str] = field(default_factory=frozenset)
    pulses: float = 0.0
    charge_uc: float = 0.0
    accounted_s: float = 0.0

    def account(self, now_s: float) -> None:
        """Integrate the commanded train up to ``now_s``."""
        if self.active and self.current_ma > 0 and now_s > self.accounted_s:
            n = (now_s - self.accounted_s) * self.frequency_hz
            self.pulses += n
            self.charge_uc += n * 2 * self.current_ma * self.width_us / 1000
        self.accounted_s = max(self.accounted_s, now_s)

    def off(self, now_s: float) -> None:
        self.account(now_s)
        self.active, self.current_ma = False, 0

    def telemetry(self, now_s: float) -> ChannelTelemetry:
        self.account(now_s)
        state = "fault" if self.faults else "on" if self.active else "off"
        return ChannelTelemetry(
            time_s=now_s,
            channel=self.number,
            state=state,
            commanded_ma=float(self.current_ma if self.active else 0),
            delivered_peak_ma=math.nan,
            pulse_width_us=float(self.width_us),
            frequency_hz=self.frequency_hz,
            impedance_ohm=math.nan,
            pulses=int(self.pulses),
            delivered_charge_uc=self.charge_uc,
            net_charge_nc=0.0,  # symmetric biphasic: balanced by construction
            faults=self.faults,
        )
