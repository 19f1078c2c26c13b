"""The limits the simulated firmware enforces on its own, taken from the device profile.

These checks run inside the device whatever the host did: a host whose own checks are
bypassed (or buggy) still cannot get an out-of-range output. Each check returns the NACK
error code, or ``None`` when the command is within limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensctl.model.device import DeviceProfile
from tensctl.wire.codes import ErrorCode, ModeCode, WaveformCode
from tensctl.wire.messages import Configure

OPEN_CIRCUIT_OHM = 10_000.0  # load above this trips as an open circuit
SHORT_CIRCUIT_OHM = 100.0
OVER_CURRENT_FACTOR, OVER_CURRENT_MARGIN_UA = 1.1, 1000.0
COMPLIANCE_FRACTION = 0.8  # delivered below 80 % of commanded: saturation
PEEL_TRIP_RATIO = 2.0  # impedance at or above twice its value at start
BALANCE_TOLERANCE = 0.01  # asymmetric: secondary charge within 1 % of primary
MAX_PULSES_PER_TRAIN = 100
MAX_STEPS = 16

_WAVEFORMS = {
    "symmetric_biphasic": WaveformCode.SYMMETRIC_BIPHASIC,
    "asymmetric_biphasic": WaveformCode.ASYMMETRIC_BIPHASIC,
}
_MODES = {"continuous": ModeCode.CONTINUOUS, "burst": ModeCode.BURST}
_MODES["alternating"] = ModeCode.ALTERNATING


@dataclass(frozen=True)
class Limits:
    channels: int
    max_amplitude_ua: int
    pulse_width_min_us: int
    pulse_width_max_us: int
    frequency_min_mhz: int
    frequency_max_mhz: int
    max_charge_pc: int
    compliance_v: float
    watchdog_s: float
    slew_step_ua: int
    slew_rate_ua_per_s: int
    waveforms: frozenset[int]
    modes: frozenset[int]

    @classmethod
    def from_profile(cls, p: DeviceProfile) -> Limits:
        return cls(
            channels=p.channels,
            max_amplitude_ua=round(p.amplitude.max_ma * 1000),
            pulse_width_min_us=round(p.pulse_width_us.min),
            pulse_width_max_us=round(p.pulse_width_us.max),
            frequency_min_mhz=round(p.frequency_hz.min * 1000),
            frequency_max_mhz=round(p.frequency_hz.max * 1000),
            max_charge_pc=round(p.max_charge_per_phase_uc * 1e6),
            compliance_v=p.compliance_voltage_v,
            watchdog_s=p.watchdog_ms / 1000,
            slew_step_ua=round(p.slew.max_step_ma * 1000),
            slew_rate_ua_per_s=round(p.slew.max_rate_ma_per_s * 1000),
            waveforms=frozenset(_WAVEFORMS[w.value] for w in p.waveforms),
            # modulation is host-driven re-configuration, so it needs no device mode
            modes=frozenset(_MODES[m.value] for m in p.modes if m.value in _MODES),
        )

    def channel_ok(self, channel: int) -> bool:
        return 1 <= channel <= self.channels

    def mask_ok(self, mask: int) -> bool:
        return 0 < mask < (1 << self.channels)

    def _timing_ok(self, frequency_mhz: int, pulse_width_us: int) -> bool:
        return (
            self.frequency_min_mhz <= frequency_mhz <= self.frequency_max_mhz
            and self.pulse_width_min_us <= pulse_width_us <= self.pulse_width_max_us
        )

    def check_configure(self, c: Configure, amplitude_ua: int) -> ErrorCode | None:
        if not self.channel_ok(c.channel):
            return ErrorCode.BAD_CHANNEL
        if c.waveform not in self.waveforms or c.mode not in self.modes:
            return ErrorCode.UNSUPPORTED
        if not self._timing_ok(c.frequency_mhz, c.pulse_width_us):
            return ErrorCode.OUT_OF_RANGE
        if c.waveform == WaveformCode.ASYMMETRIC_BIPHASIC:
            amp, width = c.secondary_amplitude_permille, c.secondary_width_permille
            if amp == 0 or width == 0 or abs(amp * width / 1e6 - 1) > BALANCE_TOLERANCE:
                return ErrorCode.OUT_OF_RANGE
        if c.mode == ModeCode.BURST:
            if not (1 <= c.pulses_per_train <= MAX_PULSES_PER_TRAIN and c.train_rate_mhz > 0):
                return ErrorCode.OUT_OF_RANGE
            train_s = (c.pulses_per_train - 1) / (c.frequency_mhz / 1000)
            if train_s * c.train_rate_mhz / 1000 >= 1:  # a train would run into the next
                return ErrorCode.OUT_OF_RANGE
        if c.mode == ModeCode.ALTERNATING and not (
            1 <= len(c.steps) <= MAX_STEPS
            and all(
                s.dwell_ms > 0 and self._timing_ok(s.frequency_mhz, s.pulse_width_us)
                for s in c.steps
            )
        ):
            return ErrorCode.OUT_OF_RANGE
        return self.check_charge(c, amplitude_ua)

    def check_charge(self, c: Configure, amplitude_ua: int) -> ErrorCode | None:
        widths = [c.pulse_width_us] + [s.pulse_width_us for s in c.steps]
        if amplitude_ua * max(widths) > self.max_charge_pc:
            return ErrorCode.OUT_OF_RANGE
        return None

    def check_increase(self, step_ua: int, window_ua: int) -> ErrorCode | None:
        """An increase of ``step_ua`` on top of ``window_ua`` already risen in the last 1 s."""
        if step_ua > self.slew_step_ua or window_ua + step_ua > self.slew_rate_ua_per_s:
            return ErrorCode.SLEW_LIMIT
        return None
