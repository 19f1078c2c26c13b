"""Render a protocol's amplitude, frequency and pulse width over the session (matplotlib).

A parameter that alternates or sweeps faster than the plot can show — fewer than
:data:`MIN_PX_PER_CHANGE` pixels from one change to the next at the plot's width — is drawn
as a band, its minimum to its maximum over one cycle with both edges drawn, and the phase
says in words what it does ("alternates 2 ↔ 100 Hz, 3 s each"); thousands of vertical
strokes would only fill the panel. Slower changes (ramps, a sweep over minutes) are drawn as
lines. The amplitude panel says what intensity it is drawn at: the worst case (the
protocol's ceiling or the device's maximum), an amplitude given in mA, the protocol's own
target, or a patient's last titration.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tensctl.engine.timeline import Setpoint, Timeline, sample
from tensctl.errors import InputError, MissingExtra, Problem
from tensctl.model.intensity import Resolved
from tensctl.model.modes import Alternating, Burst, Modulated
from tensctl.model.protocol import Phase, Protocol

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_IN, DPI = (10.0, 7.5), 100
AXES_PX = 0.86 * SIZE_IN[0] * DPI  # the panels' width in pixels, labels aside
MIN_PX_PER_CHANGE = 4.0
"""A parameter changing more often than once every this many pixels is drawn as a band."""
BAND_BIN_PX = 2.0  # the band's resolution
SAMPLES = 20_000
FIELDS = (
    ("amplitude_ma", "amplitude (mA)", "mA"),
    ("frequency_hz", "frequency (Hz)", "Hz"),
    ("pulse_width_us", "pulse width (µs)", "µs"),
)


@dataclass(frozen=True)
class Intensity:
    """What the amplitude panel is drawn at: ``short`` for the axis label, ``detail`` in
    words above the panel."""

    short: str
    detail: str


def intensity_of(
    resolved: Mapping[int, Resolved], patient: str | None = None, titration: str = ""
) -> Intensity:
    """Say what ``resolved`` (per channel) is: ``patient`` and ``titration`` (e.g. "session
    4, 2026-03-02") when the levels come from a patient's titration."""
    kinds = {ch: _kind(r.basis) for ch, r in resolved.items()}
    shorts = sorted(set(kinds.values()))
    short = shorts[0] if len(shorts) == 1 else "per channel: see above"
    if short == "titration" and patient is not None:
        short = f"patient {patient}"
    said = {ch: _said(kinds[ch], r) for ch, r in sorted(resolved.items())}
    if len(set(said.values())) == 1:
        text = next(iter(said.values())) + (" on every channel" if len(said) > 1 else "")
    else:
        text = "; ".join(f"channel {ch} at {t}" for ch, t in said.items())
    detail = f"amplitude drawn at {text}"
    if patient is not None and "titration" in kinds.values():
        detail += f", from patient {patient}'s last titration" + (
            f" ({titration})" if titration else ""
        )
    return Intensity(short, detail)


def _said(kind: str, r: Resolved) -> str:
    if kind == "worst case":
        what = "the protocol's ceiling" if r.basis.startswith("ceiling") else "the device's maximum"
        return f"the worst case, {what}: {r.amplitude_ma:g} mA"
    if kind == "given":
        return f"{r.amplitude_ma:g} mA, as given"
    if kind == "target":
        return f"the protocol's target, {r.amplitude_ma:g} mA"
    basis = r.basis.removesuffix(" × 1")  # SC2 itself, not "SC2 × 1"
    return f"{basis} = {r.amplitude_ma:g} mA"


def _kind(basis: str) -> str:
    if "worst case" in basis:
        return "worst case"
    if basis == "given":
        return "given"
    if basis == "protocol target":
        return "target"
    return "titration"


# ---- how fast a parameter changes ---------------------------------------------------------------


def change_s(phase: Phase, field: str) -> tuple[float, float] | None:
    """How ``field`` changes in ``phase``: (the shortest time between two changes, one full
    cycle of them), or ``None`` when it does not change periodically (ramps aside)."""
    mode = phase.mode
    if field == "amplitude_ma":
        cycles: list[tuple[float, float]] = []
        if phase.cycling is not None:
            on, off = phase.cycling.on_s, phase.cycling.off_s
            cycles.append((min(on, off), on + off))
        if isinstance(mode, Modulated) and mode.amplitude_depth() is not None:
            cycles.append((mode.period_s / 2, mode.period_s))
        return min(cycles) if cycles else None
    if isinstance(mode, Alternating):
        values = [_step_value(phase, s.frequency_hz, s.pulse_width_us, field) for s in mode.steps]
        if len(set(values)) < 2:
            return None
        cycle = sum(s.dwell_s for s in mode.steps)
        return min(s.dwell_s for s in mode.steps), cycle
    if isinstance(mode, Modulated) and mode.sweep(field) is not None:
        return mode.period_s / 2, mode.period_s
    return None


def _step_value(phase: Phase, frequency_hz: float, width_us: float | None, field: str) -> float:
    if field == "frequency_hz":
        return frequency_hz
    width = width_us if width_us is not None else phase.pulse_width_us
    return float(width or 0.0)


def describe(phase: Phase, field: str, unit: str) -> str:
    """What a banded parameter does, in words."""
    mode = phase.mode
    if field == "amplitude_ma":
        said = []
        if phase.cycling is not None:
            said.append(f"on {phase.cycling.on_s:g} s / off {phase.cycling.off_s:g} s")
        depth = mode.amplitude_depth() if isinstance(mode, Modulated) else None
        if depth is not None and isinstance(mode, Modulated):
            said.append(f"{depth.depth_percent:g} % deeper every {mode.period_s:g} s")
        return ", ".join(said)
    if isinstance(mode, Alternating):
        values = [_step_value(phase, s.frequency_hz, s.pulse_width_us, field) for s in mode.steps]
        dwells = {s.dwell_s for s in mode.steps}
        each = f"{dwells.pop():g} s each" if len(dwells) == 1 else "in steps"
        return f"alternates {' ↔ '.join(f'{v:g}' for v in values)} {unit}, {each}"
    if isinstance(mode, Modulated):
        sweep = mode.sweep(field)
        if sweep is not None:
            return (
                f"{mode.shape.value} sweep {sweep.low:g}–{sweep.high:g} {unit}, "
                f"every {mode.period_s:g} s"
            )
    return ""


# ---- the figure -------------------------------------------------------------------------------


def _figure_class() -> type[Figure]:
    try:
        import matplotlib.figure
    except ImportError:
        raise MissingExtra(
            "plotting needs matplotlib: install the plot extra, e.g. pip install 'tensctl[plot]'"
        ) from None
    return matplotlib.figure.Figure


def protocol_figure(
    protocol: Protocol, intensities_ma: Mapping[int, float], intensity: Intensity
) -> Figure:
    """Amplitude, frequency and pulse width per channel over the whole session."""
    fig = _figure_class()(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    timeline = Timeline(protocol, dict(intensities_ma))
    step_s = max(timeline.duration_s / SAMPLES, 0.01)
    points = sample(timeline, step_s)
    px_per_s = AXES_PX / max(timeline.duration_s, 1e-9)
    bounds = timeline.boundaries_s
    channels = sorted(intensities_ma)
    for ax, (field, label, unit) in zip(axes, FIELDS, strict=True):
        top = 0.0
        for i, group in enumerate(_same_values(points, channels, field)):
            colour = f"C{channels.index(group[0])}"
            named = f"channel {group[0]}" if len(group) == 1 else _channels_text(group)
            for index, phase in enumerate(protocol.phases):
                start, stop = bounds[index], min(bounds[index + 1], timeline.duration_s)
                times, values = _phase_values(points, group[0], field, start, stop)
                if not times:
                    continue
                top = max(top, *values)
                label_ch = named if index == 0 else None
                change = change_s(phase, field)
                if change is not None and change[0] * px_per_s < MIN_PX_PER_CHANGE:
                    middle = _band(
                        ax,
                        times,
                        values,
                        stop,
                        change[1],
                        px_per_s,
                        colour,
                        label_ch,
                        exact=_bounds(phase, field),
                    )
                    if i == 0:
                        _say(ax, (start + stop) / 2 / 60, describe(phase, field, unit), middle)
                else:
                    xs, ys = _changes(times, values, stop)
                    ax.plot(xs, ys, linewidth=1.0, color=colour, label=label_ch)
        if ax is axes[0] or len(channels) > 1:
            ax.legend(loc="lower right", fontsize=8)
        if ax is axes[1]:
            _burst_note(ax, protocol, bounds)
        ax.set_ylabel(label if field != "amplitude_ma" else f"{label}\n{intensity.short}")
        ax.set_ylim(0.0, max(top, 1.0) * 1.18)  # from 0, headroom for the words
        ax.grid(True, alpha=0.3)
        for start in bounds[1:-1]:
            ax.axvline(start / 60.0, color="grey", linestyle="--", linewidth=0.6)
    for start, phase in zip(bounds, protocol.phases, strict=False):
        axes[0].text(
            start / 60.0,
            0.97,
            f" {phase.name}",
            transform=axes[0].get_xaxis_transform(),
            fontsize=8,
            va="top",
            color="dimgrey",
        )
    axes[0].set_title(intensity.detail, fontsize=9, loc="left")
    axes[-1].set_xlabel("time (min)")
    end_min = timeline.duration_s / 60.0
    axes[-1].set_xlim(-0.01 * end_min, 1.01 * end_min)
    fig.suptitle(f"{protocol.name} ({protocol.id})")
    return fig


def _same_values(
    points: Sequence[tuple[float, Mapping[int, Setpoint]]], channels: Sequence[int], field: str
) -> list[list[int]]:
    """The channels grouped by identical ``field`` over the session: drawn once, so that
    one channel does not hide another under it."""
    groups: dict[tuple[float, ...], list[int]] = {}
    for ch in channels:
        key = tuple(float(getattr(sp[ch], field)) if ch in sp else 0.0 for _, sp in points)
        groups.setdefault(key, []).append(ch)
    return list(groups.values())


def _channels_text(group: Sequence[int]) -> str:
    names = [str(ch) for ch in group]
    return f"channels {', '.join(names[:-1])} and {names[-1]}"


def _phase_values(
    points: Sequence[tuple[float, Mapping[int, Setpoint]]],
    ch: int,
    field: str,
    start: float,
    stop: float,
) -> tuple[list[float], list[float]]:
    times, values = [], []
    for t, setpoints in points:
        if start <= t < stop and ch in setpoints:
            times.append(t)
            values.append(float(getattr(setpoints[ch], field)))
    return times, values


def _changes(
    times: list[float], values: list[float], stop: float
) -> tuple[list[float], list[float]]:
    """The line as the points where it changes (a flat stretch is two points, not
    thousands), in minutes, to the phase's end."""
    xs, ys = [times[0] / 60], [values[0]]
    for k in range(1, len(times)):
        if values[k] != values[k - 1] or (k + 1 < len(times) and values[k + 1] != values[k]):
            xs.append(times[k] / 60)
            ys.append(values[k])
    xs.append(stop / 60)
    ys.append(values[-1])
    return xs, ys


def _bounds(phase: Phase, field: str) -> tuple[float, float] | None:
    """The lowest and highest value of a frequency or pulse width that alternates or sweeps
    (known from the mode: the band's edges are exact, not sampled)."""
    mode = phase.mode
    if isinstance(mode, Alternating) and field != "amplitude_ma":
        values = [_step_value(phase, s.frequency_hz, s.pulse_width_us, field) for s in mode.steps]
        return min(values), max(values)
    if isinstance(mode, Modulated) and field != "amplitude_ma":
        sweep = mode.sweep(field)
        if sweep is not None:
            return float(sweep.low), float(sweep.high)
    return None


def _band(
    ax: Axes,
    times: list[float],
    values: list[float],
    stop: float,
    cycle_s: float,
    px_per_s: float,
    colour: str,
    label: str | None,
    exact: tuple[float, float] | None = None,
) -> float:
    """Min to max over one cycle around each point, every :data:`BAND_BIN_PX` pixels (or
    the ``exact`` bounds over the phase), with both edges drawn. Returns the band's middle."""
    if exact is not None:
        xs = [times[0] / 60, stop / 60]
        low, high = [exact[0]] * 2, [exact[1]] * 2
    else:
        bin_s = BAND_BIN_PX / px_per_s
        half = max(cycle_s, bin_s) / 2
        first, last = times[0], times[-1]
        count = max(2, int((last - first) / bin_s) + 1)
        xs, low, high = [], [], []
        for k in range(count + 1):
            t = min(first + k * bin_s, last)
            a, b = bisect_left(times, t - half), bisect_right(times, t + half)
            window = values[a:b] or [values[min(a, len(values) - 1)]]
            xs.append(t / 60)
            low.append(min(window))
            high.append(max(window))
        xs.append(stop / 60)
        low.append(low[-1])
        high.append(high[-1])
    ax.fill_between(xs, low, high, color=colour, alpha=0.25, linewidth=0, label=label)
    ax.plot(xs, low, color=colour, linewidth=0.9)
    ax.plot(xs, high, color=colour, linewidth=0.9)
    return (max(low) + max(high)) / 2


def _say(ax: Axes, x_min: float, text: str, y: float | None = None) -> None:
    """Words in a box at ``x_min`` (minutes), at ``y`` in data units or half-way up."""
    if text:
        ax.text(
            x_min,
            0.5 if y is None else y,
            text,
            transform=ax.get_xaxis_transform() if y is None else ax.transData,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "grey", "alpha": 0.9},
        )


def _burst_note(ax: Axes, protocol: Protocol, bounds: Sequence[float]) -> None:
    """A burst phase's frequency is the rate inside a train: say so, with the train rate."""
    for index, phase in enumerate(protocol.phases):
        mode = phase.mode
        if isinstance(mode, Burst):
            _say(
                ax,
                (bounds[index] + bounds[index + 1]) / 2 / 60,
                f"bursts: trains of {mode.pulses_per_train} pulses at "
                f"{phase.frequency_hz or 0:g} Hz, {mode.train_rate_hz:g} trains per second",
            )


def plot_protocol(
    protocol: Protocol,
    intensities_ma: Mapping[int, float],
    output: Path,
    intensity: Intensity | None = None,
) -> None:
    shown = intensity if intensity is not None else Intensity("", "")
    fig = protocol_figure(protocol, intensities_ma, shown)
    try:
        fig.savefig(output, dpi=DPI, metadata={"Date": None} if output.suffix == ".svg" else None)
    except OSError as exc:
        raise InputError([Problem(f"cannot write image: {exc.strerror}", str(output))]) from None
    finally:
        fig.clear()
