"""Channel list mode on the simulator's output stage (ScienceMode2 sections 1.3 and 4.3).

Each active channel becomes a firmware :class:`~tensctl.wire.messages.Configure`:

- the channel list repeats every main interval t1 (code·0.5 + 1 ms), so a channel pulses
  at 1/t1, or 1/(t1·(factor + 1)) if it is a low-frequency channel (skipped ``factor``
  times out of ``factor + 1``);
- a single pulse is a continuous train at that rate; a doublet (triplet) is a burst of 2
  (3) pulses t2 apart (inter pulse interval, code·0.5 + 1.5 ms) per list period, so the
  channel emits 2 (3) pulses per period and the output stage counts them so;
- pulse width below 20 µs is raised to 20 µs; current is in whole mA.

The document gives 8 ms as the current software's minimum for both intervals; shorter codes
are accepted (they are in the documented code range, and public clients send an inter
pulse interval of 2 ms) and run at 8 ms. ``t1 ≥ nPgr · t2`` (nPgr = pulses in the largest
group) is checked at start, with the intervals as run: a violation is a parameter error.

One-shot channel list mode (main interval code 0) processes the list once per start/update:
its pulses, and those of ``SinglePulse``, are added to the channel's totals at once and
logged as ``pulse`` entries (the output is never left running).
"""

from __future__ import annotations

import math
from typing import Any

from tensctl.wire.codes import ModeCode, WaveformCode
from tensctl.wire.messages import Configure
from tensctl.wire.sciencemode2 import (
    ChannelEntry,
    InitChannelListMode,
    StartChannelListMode,
    StimulationErrorCode,
)
from tensctl.wire.sciencemode2.codes import MIN_PULSE_WIDTH_US
from tenssim.channel import Channel
from tenssim.firmware import Firmware
from tenssim.limits import OPEN_CIRCUIT_OHM, SHORT_CIRCUIT_OHM

MIN_INTERVAL_MS = 8.0  # "in the current software version the minimum ... is 8 ms"


def main_interval_ms(init: InitChannelListMode) -> float | None:
    """The list period as run (None: one-shot)."""
    t1 = init.main_interval_ms
    return None if t1 is None else max(t1, MIN_INTERVAL_MS)


def inter_pulse_ms(init: InitChannelListMode) -> float:
    return max(init.inter_pulse_interval_ms, MIN_INTERVAL_MS)


def start_problems(init: InitChannelListMode, start: StartChannelListMode) -> list[str]:
    """Why ``start`` cannot run on the list ``init`` set up (empty: it can)."""
    problems = start.problems()
    if len(start.entries) != len(init.channels):
        problems.append(f"{len(start.entries)} entries for {len(init.channels)} active channels")
    t1 = main_interval_ms(init)
    groups = max((e.mode + 1 for e in start.entries), default=1)
    if t1 is not None and groups > 1 and t1 < groups * inter_pulse_ms(init):
        problems.append(f"main interval {t1} ms < {groups} × inter pulse {inter_pulse_ms(init)} ms")
    return problems


def entries_by_channel(
    init: InitChannelListMode | None, start: StartChannelListMode
) -> list[dict[str, Any]]:
    """The start command's entries as the log shows them (with channel numbers if known)."""
    numbers: list[int | None] = list(init.channels) if init else []
    numbers += [None] * (len(start.entries) - len(numbers))
    return [
        {
            "channel": n,
            "mode": e.mode,
            "pulse_width_us": e.pulse_width_us,
            "current_ma": e.current_ma,
        }
        for n, e in zip(numbers, start.entries, strict=False)
    ]


def configure_for(init: InitChannelListMode, number: int, entry: ChannelEntry) -> Configure:
    t1 = main_interval_ms(init)
    assert t1 is not None
    skip = init.low_frequency_factor + 1 if init.low_frequency_channels >> (number - 1) & 1 else 1
    rate_mhz = round(1e6 / (t1 * skip))
    width = max(entry.pulse_width_us, MIN_PULSE_WIDTH_US)
    if entry.mode == 0:
        return Configure(
            number, WaveformCode.SYMMETRIC_BIPHASIC, ModeCode.CONTINUOUS, rate_mhz, width
        )
    return Configure(
        number,
        WaveformCode.SYMMETRIC_BIPHASIC,
        ModeCode.BURST,
        round(1e6 / inter_pulse_ms(init)),
        width,
        pulses_per_train=entry.mode + 1,
        train_rate_mhz=rate_mhz,
    )


def run(fw: Firmware, init: InitChannelListMode, start: StartChannelListMode, now_s: float) -> None:
    """Continuous mode: every active channel runs its entry from now (an update keeps
    running channels running; the output stage has accounted up to now already)."""
    for number, entry in zip(init.channels, start.entries, strict=True):
        ch = fw.channel(number)
        config = configure_for(init, number, entry)
        if ch.config != config:
            ch.config = config
        if not ch.running:
            ch.running, ch.started_s = True, now_s
            ch.baseline_ohm = None  # the RehaStim2 tests skin resistance, it has no peel check
        ch.amplitude_ua = entry.current_ma * 1000


def stop_all(fw: Firmware) -> None:
    for ch in fw.channels:
        ch.zero()


def electrode_ok(ch: Channel, pulse_width_us: int, now_s: float) -> bool:
    """The skin resistance test before a pulse (open circuit or short: no pulse)."""
    z = ch.load.impedance_ohm(pulse_width_us, now_s)
    return not (math.isinf(z) or z > OPEN_CIRCUIT_OHM or z < SHORT_CIRCUIT_OHM)


def pulses(
    fw: Firmware, number: int, current_ma: int, width_us: int, count: int, now_s: float, cause: str
) -> StimulationErrorCode | None:
    """Deliver ``count`` biphasic pulses on a channel now (one-shot list, single pulse)."""
    ch = fw.channel(number)
    width = max(width_us, MIN_PULSE_WIDTH_US)
    if current_ma == 0:
        return None
    if not electrode_ok(ch, width, now_s):
        return StimulationErrorCode.ELECTRODE
    delivered = ch.load.delivered_ua(current_ma * 1000, width, fw.limits.compliance_v, now_s)
    ch.pulses += count
    ch.delivered_charge_pc += count * 2 * delivered * width  # both phases, balanced
    fw.log(
        {
            "t": now_s,
            "event": "pulse",
            "channel": number,
            "amplitude_ua": current_ma * 1000,
            "delivered_ua": round(delivered),
            "pulse_width_us": width,
            "count": count,
            "cause": cause,
            "pulses": round(ch.pulses),
        }
    )
    return None


def one_shot(
    fw: Firmware, init: InitChannelListMode, start: StartChannelListMode, now_s: float
) -> StimulationErrorCode | None:
    """One-shot mode: the list once (each channel's group: 1, 2 or 3 pulses)."""
    for number, entry in zip(init.channels, start.entries, strict=True):
        error = pulses(
            fw, number, entry.current_ma, entry.pulse_width_us, entry.mode + 1, now_s, "one_shot"
        )
        if error is not None:
            return error
    return None
