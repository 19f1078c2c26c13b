"""The oracle of the adversarial suite: what the simulated device DELIVERED, rebuilt from the
firmware's own log and judged against the reference limits (shared/reference/safety.md).

Nothing here uses ``tensctl.safety`` or ``tenssim.limits``: the pulse train is rebuilt from
the logged configuration (every acknowledged CONFIGURE) and the logged output (every
``output`` event: running, amplitude), as a pulse generator would emit it:

- a train starts at the channel's START (``running`` false → true) and is a timer: the next
  pulse comes one period after the previous one — continuous ``1/f``; burst ``1/f`` inside
  a train of ``pulses_per_train`` pulses, the next train ``1/train_rate`` after the last
  one began; alternating: the steps repeat from the START and the timer runs on through
  them, each pulse taking the period and width of the step it falls in (a generator that
  restarted its timer at every step boundary could put two pulses closer than either
  step's period: the wire protocol does not say which, see the report of issue 13);
- a pulse carries the amplitude and configuration in force when it begins; pulses at 0 mA
  keep the timer going but deliver nothing and are not counted;
- a pulse is busy for primary width + 20 µs interphase gap + secondary width.

The commanded amplitude is taken as the delivered peak (the load can only lower it, and an
injected over-current — a faulty stage — trips on the device's next tick).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# the reference's numbers, written out here on purpose (not read from tensctl.safety)
ABS_PEAK_MA = 130.0
RMS_MAX_MA = 50.0
CHARGE_MAX_UC = 40.0
DENSITY_MAX_MA_CM2 = 2.0
POWER_DENSITY_MAX_W_CM2 = 0.25
IMPEDANCE_FLOOR_OHM = 500.0
CLINIC_FREQ_MAX_HZ = 200.0
DEVICE_WATCHDOG_ABS_MS = 2000.0
INTERPHASE_US = 20.0
CONTINUOUS, BURST, ALTERNATING = 0, 1, 2
ASYMMETRIC = 1
EPS = 1e-9
WINDOW_S = 1.0 - 1e-9  # a 1 s window, less float noise in the summed pulse times


@dataclass(frozen=True)
class Pulse:
    t: float
    channel: int
    amplitude_ua: int
    width_us: int
    sec_amp: float  # secondary amplitude / primary
    sec_width: float  # secondary width / primary

    @property
    def busy_s(self) -> float:
        return (self.width_us * (1 + self.sec_width) + INTERPHASE_US) * 1e-6

    @property
    def energy_weight(self) -> float:
        """∫ i² dt of the pulse in µA²·s."""
        a = self.amplitude_ua
        return a * a * self.width_us * 1e-6 * (1 + self.sec_amp**2 * self.sec_width)


@dataclass
class _Chan:
    running: bool = False
    amplitude: int = 0
    config: dict[str, Any] | None = None
    started: float = 0.0
    next_t: float | None = None
    train_start: float = 0.0
    in_train: int = 0


def _ratios(c: Mapping[str, Any]) -> tuple[float, float]:
    if c["waveform"] == ASYMMETRIC:
        return c["secondary_amplitude_permille"] / 1000, c["secondary_width_permille"] / 1000
    return 1.0, 1.0


def _steps(c: Mapping[str, Any]) -> list[tuple[float, int, int]]:
    """(dwell s, frequency mHz, width µs) of an alternating configuration."""
    return [
        (s["dwell_ms"] / 1000, s["frequency_mhz"], s["pulse_width_us"])
        if isinstance(s, Mapping)
        else (s.dwell_ms / 1000, s.frequency_mhz, s.pulse_width_us)
        for s in c["steps"]
    ]


def _alt_point(c: Mapping[str, Any], started: float, t: float) -> tuple[float, float, int, int]:
    """(step start, step end, frequency mHz, width µs) of the alternation step at ``t``."""
    steps = _steps(c)
    cycle = sum(d for d, _, _ in steps)
    n, rem = divmod(max(0.0, t - started), cycle)
    base = started + n * cycle
    for dwell, f, w in steps:
        if rem < dwell:
            return base, base + dwell, f, w
        rem -= dwell
        base += dwell
    dwell, f, w = steps[-1]
    return base - dwell, base, f, w


def _emit(ch: _Chan, number: int, until: float, out: list[Pulse]) -> None:
    """Emit the pulses of the train due before ``until`` at the present state."""
    c = ch.config
    if not ch.running or c is None or ch.next_t is None:
        return
    a_ratio, w_ratio = _ratios(c)
    guard = 0
    while ch.next_t < until:
        t = ch.next_t
        guard += 1
        assert guard < 2_000_000, "runaway pulse train in the oracle"
        if c["mode"] == ALTERNATING and c["steps"]:
            _, _, f_mhz, width = _alt_point(c, ch.started, t)
        else:
            f_mhz, width = c["frequency_mhz"], c["pulse_width_us"]
        if ch.amplitude > 0:
            out.append(Pulse(t, number, ch.amplitude, width, a_ratio, w_ratio))
        period = 1000.0 / f_mhz if f_mhz > 0 else math.inf
        if c["mode"] == BURST:
            ch.in_train += 1
            if ch.in_train >= c["pulses_per_train"]:
                rate = c["train_rate_mhz"] / 1000
                ch.train_start += 1 / rate if rate > 0 else math.inf
                ch.in_train = 0
                ch.next_t = ch.train_start
            else:
                ch.next_t = t + period
        else:
            ch.next_t = t + period


def pulses_from_log(log: Iterable[Mapping[str, Any]], until: float) -> dict[int, list[Pulse]]:
    """Every pulse the device delivered, per channel, rebuilt from its log."""
    chans: dict[int, _Chan] = {}
    out: dict[int, list[Pulse]] = {}

    def chan(n: int) -> _Chan:
        out.setdefault(n, [])
        return chans.setdefault(n, _Chan())

    for e in log:
        t = e["t"]
        for n, ch in chans.items():
            _emit(ch, n, t, out[n])
        kind = e["event"]
        if kind in ("boot", "reboot"):
            for ch in chans.values():
                ch.config, ch.running, ch.amplitude, ch.next_t = None, False, 0, None
        elif kind == "command" and e["type"] == "CONFIGURE" and e["result"] == "ack":
            fields = e["fields"]
            ch = chan(fields["channel"])
            ch.config = dict(fields)
        elif kind == "output":
            ch = chan(e["channel"])
            if e["running"] and not ch.running:
                ch.started = ch.train_start = t
                ch.next_t, ch.in_train = t, 0
            ch.running, ch.amplitude = e["running"], e["amplitude_ua"]
            if not ch.running:
                ch.next_t = None
    for n, ch in chans.items():
        _emit(ch, n, until, out[n])
    return out


# ---- the judgement ----------------------------------------------------------------------


@dataclass
class Limits:
    """What the delivered output is judged against."""

    peak_ma: float
    charge_uc: float
    freq_max_hz: float
    watchdog_s: float
    areas: Mapping[int, Mapping[str, float]] | None = None
    """channel → site → smallest electrode area there (cm²); None: no density check."""
    impedance_ohm: Mapping[int, Any] = field(default_factory=dict)
    """channel → callable(width µs) → Ω (the load the device drives)."""


def finite_min(*values: Any) -> float:
    good = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            good.append(f)
    return min(good)


def _windows(pulses: Sequence[Pulse]) -> tuple[list[float], list[float]]:
    times = [p.t for p in pulses]
    prefix = [0.0]
    for p in pulses:
        prefix.append(prefix[-1] + p.energy_weight)
    return times, prefix


def _window_sum(times: list[float], prefix: list[float], start: float) -> float:
    i = bisect.bisect_left(times, start)
    j = bisect.bisect_left(times, start + WINDOW_S)
    return prefix[j] - prefix[i]


def violations(pulses: Mapping[int, Sequence[Pulse]], lim: Limits) -> list[str]:
    """Every way the delivered pulse train broke a limit (empty: within them all)."""
    found: list[str] = []
    peak_ua = lim.peak_ma * 1000
    charge_pc = lim.charge_uc * 1e6
    max_count = math.ceil(lim.freq_max_hz - EPS)
    per_channel: dict[int, tuple[list[float], list[float]]] = {}
    for n, train in pulses.items():
        for p in train:
            if p.amplitude_ua > peak_ua + EPS or p.amplitude_ua * p.sec_amp > peak_ua + EPS:
                found.append(f"ch{n} t={p.t:.4f}: peak {p.amplitude_ua} µA > {peak_ua:g} µA")
                break
        for p in train:
            q1 = p.amplitude_ua * p.width_us
            q2 = q1 * p.sec_amp * p.sec_width
            if max(q1, q2) > charge_pc * (1 + 1e-9):
                found.append(
                    f"ch{n} t={p.t:.4f}: charge per phase {max(q1, q2) / 1e6:g} µC "
                    f"> {lim.charge_uc:g} µC ({p.amplitude_ua} µA, {p.width_us} µs, "
                    f"secondary {p.sec_amp:g}×{p.sec_width:g})"
                )
                break
        for a, b in itertools.pairwise(train):
            if b.t < a.t + a.busy_s - 1e-9:
                found.append(
                    f"ch{n}: pulses overlap at t={a.t:.6f} (busy {a.busy_s * 1e6:.0f} µs) "
                    f"and t={b.t:.6f}"
                )
                break
        times, prefix = _windows(train)
        per_channel[n] = (times, prefix)
        for i, t in enumerate(times):
            j = bisect.bisect_left(times, t + WINDOW_S)
            if j - i > max_count:
                found.append(f"ch{n}: {j - i} pulses in the 1 s from t={t:.4f} > {max_count}")
                break
        for i, t in enumerate(times):
            j = bisect.bisect_left(times, t + WINDOW_S)
            rms_ma = math.sqrt(prefix[j] - prefix[i]) / 1000
            if rms_ma > RMS_MAX_MA * (1 + 1e-9):
                found.append(f"ch{n}: {rms_ma:.3f} mA r.m.s. in the 1 s from t={t:.4f}")
                break
    if lim.areas is not None:
        found += _densities(pulses, per_channel, lim)
    return found


def _densities(
    pulses: Mapping[int, Sequence[Pulse]],
    per_channel: Mapping[int, tuple[list[float], list[float]]],
    lim: Limits,
) -> list[str]:
    assert lim.areas is not None
    sites: dict[str, dict[int, float]] = {}
    for n, by_site in lim.areas.items():
        for site, area in by_site.items():
            sites.setdefault(site, {})[n] = area
    found: list[str] = []
    for site, members in sites.items():
        chans = [n for n in members if pulses.get(n)]
        if not chans:
            continue
        area = min(members[n] for n in chans)
        starts = sorted({p.t for n in chans for p in pulses[n]})
        # power: Σ over channels of ∫ i²·Z dt in the window (Z at each pulse's width)
        power_trains = {n: _windows_power(pulses[n], lim.impedance_ohm.get(n)) for n in chans}
        for s in starts:
            rms_sum = sum(math.sqrt(_window_sum(*per_channel[n], s)) for n in chans) / 1000
            if rms_sum / area > DENSITY_MAX_MA_CM2 * (1 + 1e-9):
                found.append(
                    f"site {site}: {rms_sum:.3f} mA r.m.s. on {area:g} cm² = "
                    f"{rms_sum / area:.3f} mA/cm² in the 1 s from t={s:.4f}"
                )
                break
        for s in starts:
            watts = sum(_window_sum(*power_trains[n], s) for n in chans) * 1e-12
            if watts / area >= POWER_DENSITY_MAX_W_CM2:
                found.append(f"site {site}: {watts / area:.4f} W/cm² in the 1 s from t={s:.4f}")
                break
    return found


def _windows_power(train: Sequence[Pulse], impedance: Any) -> tuple[list[float], list[float]]:
    times = [p.t for p in train]
    prefix = [0.0]
    cache: dict[int, float] = {}
    for p in train:
        if p.width_us not in cache:
            z = impedance(p.width_us) if impedance is not None else IMPEDANCE_FLOOR_OHM
            cache[p.width_us] = max(IMPEDANCE_FLOOR_OHM, z if math.isfinite(z) else 0.0)
        prefix.append(prefix[-1] + p.energy_weight * cache[p.width_us])
    return times, prefix


def watchdog_violations(log: Sequence[Mapping[str, Any]], watchdog_s: float) -> list[str]:
    """Output above 0 longer than ``watchdog_s`` after the last valid frame the device took."""
    found: list[str] = []
    last_frame: float | None = None
    on: dict[int, bool] = {}
    for e in log:
        if e["event"] == "command" and e.get("result") != "nack:STALE_SEQUENCE":
            last_frame = e["t"]
        if e["event"] == "watchdog":
            continue  # logged when the firmware noticed; its zeroing is logged at the deadline
        if last_frame is not None and any(on.values()) and e["t"] > last_frame + watchdog_s + EPS:
            found.append(
                f"output still on at t={e['t']:.4f}, {e['t'] - last_frame:.3f} s after the "
                f"last valid frame (watchdog {watchdog_s:g} s)"
            )
            break
        if e["event"] == "output":
            on[e["channel"]] = bool(e["running"] and e["amplitude_ua"] > 0)
    return found


def on_at_end(log: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Each channel's last logged amplitude while running (0 when off)."""
    last: dict[int, int] = {}
    for e in log:
        if e["event"] == "output":
            last[e["channel"]] = e["amplitude_ua"] if e["running"] else 0
        elif e["event"] in ("boot", "reboot"):
            last = dict.fromkeys(last, 0)
    return last
