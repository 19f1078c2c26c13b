"""The limits the simulated firmware enforces on its own, taken from the device profile.

These checks run inside the device whatever the host did: a host whose own checks are
bypassed (or buggy) still cannot get an out-of-range output. Each check returns the NACK
error code, or ``None`` when the command is within limits.

Everything is computed from the device's own configuration in the wire's integers (µA, µs,
mHz, permille), so every comparison is exact: no float rounding can move a boundary, and a
non-finite number cannot occur. The r.m.s. current is compared squared, in integers.

A pulse is the primary phase (``pulse_width_us`` at the amplitude), a fixed interphase gap,
then the secondary phase (``secondary_width_permille`` of the width at
``secondary_amplitude_permille`` of the amplitude; both 1000 for a symmetric pulse).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensctl.model.device import DeviceProfile
from tensctl.wire.codes import ErrorCode, ModeCode, WaveformCode
from tensctl.wire.messages import Configure

OPEN_CIRCUIT_OHM = 10_000.0  # load above this trips as an open circuit
SHORT_CIRCUIT_OHM = 100.0
OVER_CURRENT_FACTOR, OVER_CURRENT_MARGIN_UA = 1.1, 1000.0
COMPLIANCE_FRACTION = 0.8  # delivered below 80 % of commanded: saturation
PEEL_TRIP_RATIO = 2.0  # impedance at or above twice its value at start
BALANCE_TOLERANCE_PPM = 10_000  # asymmetric: secondary charge within 1 % of primary
MAX_PULSES_PER_TRAIN = 100
MAX_STEPS = 16
MAX_RMS_UA = 50_000  # IEC 60601-2-10 as quoted in device manuals [Q]
INTERPHASE_GAP_US = 20  # [E] the simulated output stage's fixed gap between the phases
MIN_PULSE_GAP_US = 100  # [E] least quiet time from one pulse's end to the next one's start
PERMILLE = 1000
# host-driven modulation while on: the r.m.s. current may rise only as the amplitude may —
# at most 1 mA per frame and 4 mA over any 1 s [E] (the reference's slew limit, in r.m.s.)
MODULATION_RMS_STEP_UA = 1000
MODULATION_RMS_RATE_UA_PER_S = 4000
# absolute limits no profile raises (tensctl.safety.limits: amplitude_peak_max_ma,
# device_watchdog_abs_max_ms) [E]: the firmware clamps a profile beyond them
ABSOLUTE_MAX_AMPLITUDE_UA = 130_000
ABSOLUTE_MAX_WATCHDOG_MS = 2000
# r.m.s.² in µA² is A² · pulses in 1 s · pw · (1e9 + a‰² · w‰) / 1e15 (see rms_factor)
_RMS_SCALE = 10**15

_WAVEFORMS = {
    "symmetric_biphasic": WaveformCode.SYMMETRIC_BIPHASIC,
    "asymmetric_biphasic": WaveformCode.ASYMMETRIC_BIPHASIC,
}
_MODES = {"continuous": ModeCode.CONTINUOUS, "burst": ModeCode.BURST}
_MODES["alternating"] = ModeCode.ALTERNATING


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def secondary(c: Configure) -> tuple[int, int]:
    """(amplitude‰, width‰) of the secondary phase: (1000, 1000) unless asymmetric."""
    if c.waveform == WaveformCode.ASYMMETRIC_BIPHASIC:
        return c.secondary_amplitude_permille, c.secondary_width_permille
    return PERMILLE, PERMILLE


def trains(c: Configure) -> list[tuple[int, int]]:
    """(frequency mHz, pulse width µs) of every pulse train the configuration names: the
    main one and each alternation step (the main one counts too: fail closed)."""
    return [(c.frequency_mhz, c.pulse_width_us)] + [
        (s.frequency_mhz, s.pulse_width_us) for s in c.steps
    ]


def pulses_in_window(c: Configure, frequency_mhz: int) -> int:
    """The most pulses any 1 s window holds, for a train at ``frequency_mhz``.

    Continuous (and each alternation step): ceil(f · 1 s). Burst, with trains that do not
    overlap (train period T = 1/train_rate): a window holds n = floor(1 s / T) whole periods
    and a rest r = 1 s − n·T, in which at most min(pulses per train, ceil(r · f)) pulses fit
    (no two pulses are closer than 1/f)."""
    if c.mode != ModeCode.BURST:
        return _ceil_div(frequency_mhz, 1000)
    tr, ppt = c.train_rate_mhz, c.pulses_per_train
    if tr <= 0:
        return 0  # refused elsewhere: no trains at all
    whole = tr // 1000
    rest = tr - 1000 * whole  # r = rest / tr seconds
    return whole * ppt + min(ppt, _ceil_div(rest * frequency_mhz, 1000 * tr))


def rms_factor(c: Configure) -> int:
    """r.m.s.² / amplitude², scaled by 1e15, at the configuration's worst train:
    pulses in the worst 1 s window × pw µs × (1e9 + a‰² · w‰). Both phases count; a
    symmetric pulse gives 2e9 × pw × pulses, i.e. I_rms = I · sqrt(2 · pw · f)."""
    a, w = secondary(c)
    phases = 10**9 + a * a * w
    return max(pulses_in_window(c, f) * pw * phases for f, pw in trains(c))


def rms_ua(c: Configure, amplitude_ua: int) -> float:
    """The r.m.s. current in µA at ``amplitude_ua`` (for reports; the checks use integers)."""
    return float((amplitude_ua * amplitude_ua * rms_factor(c) / _RMS_SCALE) ** 0.5)


def rms_rise_ua(old: Configure, new: Configure, amplitude_ua: int) -> int:
    """How much the r.m.s. current at ``amplitude_ua`` rises from ``old`` to ``new``, in
    whole µA rounded up (0 or less: it does not rise)."""
    a2 = amplitude_ua * amplitude_ua
    before = math.isqrt(a2 * rms_factor(old) // _RMS_SCALE)  # rounded down
    after = math.isqrt(a2 * rms_factor(new) // _RMS_SCALE) + 1  # rounded up
    return after - before if rms_factor(new) > rms_factor(old) else 0


def pulses_overlap(c: Configure, frequency_mhz: int, pulse_width_us: int) -> bool:
    """True unless primary + interphase gap + secondary + the minimum quiet time is shorter
    than the period between consecutive pulses (1/f, also inside a burst's train)."""
    _, w = secondary(c)
    busy_ns = pulse_width_us * (PERMILLE + w) + (INTERPHASE_GAP_US + MIN_PULSE_GAP_US) * 1000
    return not busy_ns * frequency_mhz < 10**12  # period_ns = 1e12 / f_mhz


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
    host_modulation: bool = False
    """The profile lists ``modulated``: the host modulates a continuous train by
    re-configuring frequency and pulse width while the output is on."""
    max_rms_ua: int = MAX_RMS_UA

    @classmethod
    def from_profile(cls, p: DeviceProfile) -> Limits:
        return cls(
            channels=p.channels,
            max_amplitude_ua=min(round(p.amplitude.max_ma * 1000), ABSOLUTE_MAX_AMPLITUDE_UA),
            pulse_width_min_us=round(p.pulse_width_us.min),
            pulse_width_max_us=round(p.pulse_width_us.max),
            frequency_min_mhz=round(p.frequency_hz.min * 1000),
            frequency_max_mhz=round(p.frequency_hz.max * 1000),
            max_charge_pc=round(p.max_charge_per_phase_uc * 1e6),
            compliance_v=p.compliance_voltage_v,
            watchdog_s=min(p.watchdog_ms, ABSOLUTE_MAX_WATCHDOG_MS) / 1000,
            slew_step_ua=round(p.slew.max_step_ma * 1000),
            slew_rate_ua_per_s=round(p.slew.max_rate_ma_per_s * 1000),
            waveforms=frozenset(_WAVEFORMS[w.value] for w in p.waveforms),
            # modulation is host-driven re-configuration, so it needs no device mode
            modes=frozenset(_MODES[m.value] for m in p.modes if m.value in _MODES),
            host_modulation=any(m.value == "modulated" for m in p.modes),
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

    def max_pulses_per_s(self) -> int:
        """The most pulses a 1 s window may hold: a continuous train at the top frequency."""
        return _ceil_div(self.frequency_max_mhz, 1000)

    def check_configure(self, c: Configure, amplitude_ua: int) -> ErrorCode | None:
        if not self.channel_ok(c.channel):
            return ErrorCode.BAD_CHANNEL
        if c.waveform not in self.waveforms or c.mode not in self.modes:
            return ErrorCode.UNSUPPORTED
        if not self._timing_ok(c.frequency_mhz, c.pulse_width_us):
            return ErrorCode.OUT_OF_RANGE
        if c.waveform == WaveformCode.ASYMMETRIC_BIPHASIC:
            # the secondary phase is never above the primary's peak, and balances its charge
            amp, width = c.secondary_amplitude_permille, c.secondary_width_permille
            if not (0 < amp <= PERMILLE and width > 0):
                return ErrorCode.OUT_OF_RANGE
            if abs(amp * width - PERMILLE * PERMILLE) > BALANCE_TOLERANCE_PPM:
                return ErrorCode.OUT_OF_RANGE
        if c.mode == ModeCode.BURST:
            if not (1 <= c.pulses_per_train <= MAX_PULSES_PER_TRAIN and c.train_rate_mhz > 0):
                return ErrorCode.OUT_OF_RANGE
            # a train lasts ppt / f and must end before the next: ppt / f · rate < 1
            if not c.pulses_per_train * c.train_rate_mhz < c.frequency_mhz:
                return ErrorCode.OUT_OF_RANGE
        if c.mode == ModeCode.ALTERNATING and not (
            1 <= len(c.steps) <= MAX_STEPS
            and all(
                s.dwell_ms > 0 and self._timing_ok(s.frequency_mhz, s.pulse_width_us)
                for s in c.steps
            )
        ):
            return ErrorCode.OUT_OF_RANGE
        return self.check_rate(c) or self.check_output(c, amplitude_ua)

    def check_rate(self, c: Configure) -> ErrorCode | None:
        """Pulses that overlap, or more pulses in a 1 s window than the top frequency gives."""
        for f, pw in trains(c):
            if pulses_overlap(c, f, pw):
                return ErrorCode.OUT_OF_RANGE
            if not pulses_in_window(c, f) <= self.max_pulses_per_s():
                return ErrorCode.OUT_OF_RANGE
        return None

    def check_output(self, c: Configure, amplitude_ua: int) -> ErrorCode | None:
        """``amplitude_ua`` on configuration ``c``: the peak and the charge of both phases,
        and the r.m.s. current at the worst train."""
        return self.check_charge(c, amplitude_ua) or self.check_rms(c, amplitude_ua)

    def check_charge(self, c: Configure, amplitude_ua: int) -> ErrorCode | None:
        a, w = secondary(c)
        if not amplitude_ua <= self.max_amplitude_ua:
            return ErrorCode.OUT_OF_RANGE
        if not amplitude_ua * a <= self.max_amplitude_ua * PERMILLE:  # secondary peak
            return ErrorCode.OUT_OF_RANGE
        widest = max(pw for _, pw in trains(c))
        if not amplitude_ua * widest <= self.max_charge_pc:
            return ErrorCode.OUT_OF_RANGE
        if not amplitude_ua * widest * a * w <= self.max_charge_pc * PERMILLE * PERMILLE:
            return ErrorCode.OUT_OF_RANGE  # the secondary phase's charge
        return None

    def check_rms(self, c: Configure, amplitude_ua: int) -> ErrorCode | None:
        rms_squared = amplitude_ua * amplitude_ua * rms_factor(c)
        if not rms_squared <= self.max_rms_ua * self.max_rms_ua * _RMS_SCALE:
            return ErrorCode.OUT_OF_RANGE
        return None

    def check_reconfigure(
        self, old: Configure, new: Configure, amplitude_ua: int, risen_ua: int
    ) -> ErrorCode | None:
        """A new configuration while the output is above 0 (already within limits at the
        present amplitude): the waveform and the mode stay, and the r.m.s. current may not
        rise — except host-driven modulation (a profile listing ``modulated``), whose
        continuous train may move frequency and pulse width up only at the r.m.s. slew
        limit: at most 1 mA r.m.s. per frame and 4 mA over any 1 s (``risen_ua`` already
        risen in the last second; see :func:`rms_rise_ua`)."""
        if (old.waveform, old.mode) != (new.waveform, new.mode):
            return ErrorCode.NOT_AT_ZERO
        rise = rms_rise_ua(old, new, amplitude_ua)
        if rise <= 0:
            return None
        modulating = (
            self.host_modulation
            and new.mode == ModeCode.CONTINUOUS
            and secondary(new) == secondary(old)
        )
        if not modulating:
            return ErrorCode.NOT_AT_ZERO
        if rise > MODULATION_RMS_STEP_UA or risen_ua + rise > MODULATION_RMS_RATE_UA_PER_S:
            return ErrorCode.NOT_AT_ZERO
        return None

    def check_increase(self, step_ua: int, window_ua: int) -> ErrorCode | None:
        """An increase of ``step_ua`` on top of ``window_ua`` already risen in the last 1 s."""
        if step_ua > self.slew_step_ua or window_ua + step_ua > self.slew_rate_ua_per_s:
            return ErrorCode.SLEW_LIMIT
        return None
