"""The dose a session delivered, per channel, from the device's telemetry in its record.

The session writes a telemetry summary about once a second while output may be on; each
summary holds, per channel, what the device measured (``delivered_ma``, its ``state``; for a
device that does not measure its current, ``measured: false`` and what was commanded), the
session's target then (``target_ma``) and the device's counters since boot (``pulses``,
``charge_uc`` — the absolute charge of both phases of every pulse). Each summary stands for
the time until the next one, at most :data:`MAX_GAP_S` (a gap in telemetry is not counted as
stimulation). Total charge is the sum of the counter's increases, so a device reboot
mid-session (its counters restart at 0) loses nothing already counted.

Titration is not the session's dose: the summaries written while a channel is being
titrated (state ``titrating``, before the session's own time starts: all at ``elapsed_s``
0) are left out — of the time and the peak; the pulses and charge count from the last
of them on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

MAX_GAP_S = 2.0
AT_TARGET_TOLERANCE_MA = 0.1  # or 2 % of the target, whichever is larger


@dataclass(frozen=True)
class ChannelDose:
    channel: int
    stimulated_min: float  # device output on, with current above 0
    mean_ma: float  # time-weighted over the stimulated time
    peak_ma: float
    charge_uc: float
    pulses: int
    at_target_min: float  # delivered at or above the target then

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Sum:
    on_s: float = 0.0
    ma_s: float = 0.0
    peak_ma: float = 0.0
    at_target_s: float = 0.0
    charge_uc: float = 0.0
    pulses: int = 0
    last_charge: float | None = None
    last_pulses: int | None = None

    def counters(self, charge_uc: float, pulses: int) -> None:
        if self.last_charge is not None and self.last_pulses is not None:
            self.charge_uc += (
                charge_uc - self.last_charge if charge_uc >= self.last_charge else charge_uc
            )
            self.pulses += pulses - self.last_pulses if pulses >= self.last_pulses else pulses
        self.last_charge, self.last_pulses = charge_uc, pulses


def _at_target(delivered_ma: float, target_ma: float | None) -> bool:
    if target_ma is None or target_ma <= 0:
        return False
    return delivered_ma >= target_ma - max(AT_TARGET_TOLERANCE_MA, 0.02 * target_ma)


def delivered_ma(reading: Mapping[str, Any]) -> float:
    """What a telemetry summary says a channel delivered: the device's measurement, or what
    was commanded when the device does not measure its current (``measured: false``)."""
    if reading.get("measured") is False:
        return float(reading.get("commanded_ma") or 0.0)
    return float(reading.get("delivered_ma") or 0.0)


def measured(events: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the device measured the current it delivered (a P24 does not: its telemetry
    says ``measured: false``, and the dose is what was commanded, its pulses and charge the
    host's estimate)."""
    return not any(
        reading.get("measured") is False
        for e in events
        if e["kind"] == "telemetry"
        for reading in e["data"].get("channels", {}).values()
    )


def session_telemetry(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The telemetry summaries of the session itself, in order: those written while a
    channel was being titrated left out."""
    found, titrating = [], False
    for e in events:
        if e["kind"] == "state":
            titrating = e["data"].get("state") == "titrating"
        elif e["kind"] == "telemetry" and not titrating:
            found.append(e)
    return found


def delivered_dose(events: Iterable[Mapping[str, Any]]) -> list[ChannelDose]:
    """Per channel, from a session's events (``kind``, ``elapsed_s``, parsed ``data``);
    titration is not counted: its summaries only move the counters' baseline, so pulses
    and charge count from the last one on."""
    every = [e for e in events if e["kind"] in ("telemetry", "state")]
    session = {id(e) for e in session_telemetry(every)}
    samples = [
        (float(e["elapsed_s"]), e["data"].get("channels", {}), id(e) in session)
        for e in every
        if e["kind"] == "telemetry"
    ]
    sums: dict[int, _Sum] = {}
    for i, (t, channels, counted) in enumerate(samples):
        span = min(MAX_GAP_S, samples[i + 1][0] - t) if i + 1 < len(samples) else 0.0
        span = max(0.0, span)
        for key, reading in channels.items():
            total = sums.setdefault(int(key), _Sum())
            charge_uc, pulses = (
                float(reading.get("charge_uc") or 0.0),
                int(reading.get("pulses") or 0),
            )
            if not counted:  # titration: where the counters stand, nothing more
                total.last_charge, total.last_pulses = charge_uc, pulses
                continue
            delivered = delivered_ma(reading)
            total.peak_ma = max(total.peak_ma, delivered)
            total.counters(charge_uc, pulses)
            if reading.get("state") == "on" and delivered > 0:
                total.on_s += span
                total.ma_s += delivered * span
                if _at_target(delivered, reading.get("target_ma")):
                    total.at_target_s += span
    return [
        ChannelDose(
            channel=ch,
            stimulated_min=round(s.on_s / 60, 4),
            mean_ma=round(s.ma_s / s.on_s, 3) if s.on_s > 0 else 0.0,
            peak_ma=round(s.peak_ma, 3),
            charge_uc=round(s.charge_uc, 3),
            pulses=s.pulses,
            at_target_min=round(s.at_target_s / 60, 4),
        )
        for ch, s in sorted(sums.items())
    ]
