"""A session's amplitude over time, as a matplotlib figure (drawn without pyplot).

One panel per channel: the delivered amplitude (solid) and the target (dotted) from the
session's telemetry, titration left out; the protocol's phases as bands, pauses shaded amber;
the titrated thresholds (ST, SC1, N, SC2) and the channel's ceiling as horizontal lines,
named in the right margin; the operator's adjustments as triangles with their labels in
one lane along the top of the panel, and faults and stops as red lines with their labels in
a lane along the bottom. Labels are laid out from their drawn sizes so that none overlaps
another or leaves its panel: adjustments too close together to be labelled one by one are
summarised in one label (``+1 mA ×6``, ``×12: 12→14 mA``), with a bracket under the marks
it stands for.

The time axis is the time since the session started, a pause included for as long as it
lasted on the wall clock (the session's own time, ``elapsed_s``, stands still in a pause).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tensctl.errors import MissingExtra
from tensctl.journal.dose import delivered_ma, session_telemetry
from tensctl.journal.summary import fault_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backend_bases import RendererBase
    from matplotlib.figure import Figure
    from matplotlib.text import Text

Event = Mapping[str, Any]
DPI = 100
WIDTH_IN, PANEL_IN, FRAME_IN = 10.0, 2.7, 1.3
LABEL_GAP_PX = 6.0
ADJUST_LANE_Y, EVENT_LANE_Y, PHASE_LANE_Y = 0.86, 0.03, 0.975
THRESHOLD_STYLE = {"ST": ":", "SC1": "--", "N": "-.", "SC2": (0, (5, 2, 1, 2))}
PAUSE_MIN_FRACTION = 0.004  # a pause too short to see is still drawn this wide
# solid, not hatched: a hatch is lost when the PDF places the plot's SVG
PAUSE_STYLE: dict[str, Any] = {"facecolor": "#f0b429", "alpha": 0.35, "linewidth": 0}


def figure_class() -> type[Figure]:
    try:
        import matplotlib.figure
    except ImportError:
        raise MissingExtra(
            "session reports need matplotlib: install the plot extra, "
            "e.g. pip install 'tensctl[plot]'"
        ) from None
    return matplotlib.figure.Figure


# ---- what is drawn, read off the record -------------------------------------------------------


def _wall_s(stamp: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return None


class Timebase:
    """Session time (pauses excluded) to time since the start (pauses included, as long
    as they lasted on the wall clock); ``pauses`` are (start, end) on that axis."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._shift: list[tuple[int, float]] = []  # (seq, offset from then on)
        offset, since = 0.0, None
        for e in events:
            if e["kind"] != "state":
                continue
            state, wall = e["data"].get("state"), _wall_s(e.get("time_utc"))
            if state == "paused" and since is None:
                since = (float(e["elapsed_s"]) + offset, wall)
            elif state != "paused" and since is not None:
                start, began = since
                lasted = max(0.0, wall - began) if wall is not None and began else 0.0
                self.pauses.append((start, start + lasted))
                offset += lasted
                self._shift.append((int(e.get("seq", 0)), offset))
                since = None
        if since is not None:  # the record ends in a pause
            self.pauses.append((since[0], since[0]))

    def at(self, event: Event) -> float:
        seq, offset = int(event.get("seq", 0)), 0.0
        for after, shift in self._shift:
            if seq >= after:
                offset = shift
        return float(event["elapsed_s"]) + offset


@dataclass
class Channel:
    key: str
    colour: str
    xs: list[float] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    adjustments: list[tuple[float, float, float]] = field(default_factory=list)  # x, old, new
    thresholds: dict[str, float] = field(default_factory=dict)
    ceiling_ma: float | None = None
    names: list[Text] = field(default_factory=list)  # of the lines, in the right margin


def _channels(events: Sequence[Event], time: Timebase) -> list[Channel]:
    found: dict[str, Channel] = {}

    def channel(key: Any) -> Channel:
        k = str(key)
        return found.setdefault(k, Channel(k, ""))

    for e in session_telemetry(events):
        for ch, reading in e["data"].get("channels", {}).items():
            c = channel(ch)
            c.xs.append(time.at(e))
            c.delivered.append(delivered_ma(reading))
            target = reading.get("target_ma")
            c.target.append(float(target) if target is not None else float("nan"))
    for e in events:
        data = e["data"]
        if e["kind"] == "adjust":
            old, new = float(data.get("previous_ma") or 0.0), float(data.get("target_ma") or 0.0)
            channel(data.get("channel")).adjustments.append((time.at(e), old, new))
        elif e["kind"] == "titration":
            channel(data.get("channel")).thresholds[str(data.get("threshold"))] = float(
                data.get("amplitude_ma") or 0.0
            )
        elif e["kind"] == "checked":
            for ch, ceiling in (data.get("ceilings_ma") or {}).items():
                channel(ch).ceiling_ma = float(ceiling)
    for c in found.values():  # nothing is delivered in a pause (no telemetry says so)
        points = sorted(
            [(x, 0, d, t) for x, d, t in zip(c.xs, c.delivered, c.target, strict=True)]
            + [(start, 1, 0.0, float("nan")) for start, _ in time.pauses],
            key=lambda point: (point[0], point[1]),
        )
        c.xs = [x for x, _, _, _ in points]
        c.delivered = [d for _, _, d, _ in points]
        c.target = [t for _, _, _, t in points]
    ordered = sorted(found.values(), key=lambda c: (len(c.key), c.key))
    for i, c in enumerate(ordered):
        c.colour = f"C{i}"
    return [c for c in ordered if c.xs or c.adjustments or c.thresholds]


def _marks(events: Sequence[Event], time: Timebase, end_reason: str) -> list[tuple[float, str]]:
    """Faults and stops, in words, where they happened."""
    marks, stopped = [], end_reason == "stopped_by_user"
    for e in events:
        data = e["data"]
        if e["kind"] == "fault":
            marks.append((time.at(e), f"fault: {fault_label(data)}"))
        elif e["kind"] == "stop":
            marks.append((time.at(e), "emergency stop"))
        elif e["kind"] == "state" and data.get("state") == "ramping_down" and stopped:
            marks.append((time.at(e), "stopped by the operator"))
            stopped = False  # the first ramp down is the stop
    if end_reason == "interrupted" and events:
        marks.append((time.at(events[-1]), "record ends: interrupted"))
    return marks


# ---- labels that never overlap ------------------------------------------------------------------


@dataclass
class _Group:
    xs: list[float]
    texts: list[str]
    label: str = ""


def adjustment_label(changes: Sequence[tuple[float, float]]) -> str:
    """One label for adjustments (old, new mA) in time order."""
    if len(changes) == 1:
        old, new = changes[0]
        return f"{old:g}→{new:g} mA"
    deltas = {round(new - old, 3) for old, new in changes}
    if len(deltas) == 1:
        return f"{deltas.pop():+g} mA ×{len(changes)}"
    levels = [new for _, new in changes]
    return f"×{len(changes)}, {min(levels):g}–{max(levels):g} mA"


def lay_out(
    ax: Axes,
    renderer: RendererBase,
    items: Sequence[tuple[float, Any]],
    label_of: Any,
    y: float,
    **style: Any,
) -> list[Text]:
    """Place one lane of labels at axes height ``y`` for ``items`` (x in data, payload),
    sorted by x: each label starts at its first item (moved left to stay inside the axes);
    items too close to have labels of their own are summarised in one (``label_of`` of
    their payloads). Returns the texts drawn; no two overlap and all are inside ``ax``."""
    box = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    groups: list[tuple[list[float], list[Any]]] = []
    for x, payload in sorted(items, key=lambda item: item[0]):
        groups.append(([x], [payload]))

    def extent(group: tuple[list[float], list[Any]]) -> tuple[float, float, str]:
        text = label_of(group[1])
        probe = ax.text(0, 0, text, transform=ax.transAxes, **style)
        width = probe.get_window_extent(renderer).width
        probe.remove()
        left = float(to_px((group[0][0], 0))[0])
        left = max(box.x0 + 2, min(left, box.x1 - 2 - width))
        return left, left + width, text

    merged = True
    while merged:  # merge neighbours whose labels would touch, until none do
        merged = False
        spans = [extent(g) for g in groups]
        for i in range(len(groups) - 1):
            if spans[i][1] + LABEL_GAP_PX > spans[i + 1][0]:
                groups[i] = (groups[i][0] + groups[i + 1][0], groups[i][1] + groups[i + 1][1])
                del groups[i + 1]
                merged = True
                break
    texts = []
    for group in groups:
        left, right, text = extent(group)
        if right - left > box.width - 4:  # one label wider than the panel: say less
            text = f"×{len(group[1])}"
            left = box.x0 + 2
        fraction = (left - box.x0) / box.width
        texts.append(ax.text(fraction, y, text, transform=ax.transAxes, ha="left", **style))
        if len(group[0]) > 1:  # a bracket under the marks it stands for
            ax.plot(
                [group[0][0], group[0][-1]],
                [y - 0.02, y - 0.02],
                transform=ax.get_xaxis_transform(),
                color=style.get("color", "black"),
                linewidth=0.8,
                alpha=0.6,
            )
    return texts


def _spread(wanted: list[float], height: float, low: float, high: float) -> list[float]:
    """Positions near ``wanted`` (sorted ascending) at least ``height`` apart, in
    [low, high] where there is room."""
    placed: list[float] = []
    for y in wanted:
        placed.append(max(y, placed[-1] + height) if placed else max(y, low))
    overflow = placed[-1] - high if placed else 0.0
    if overflow > 0:
        placed = [p - overflow for p in placed]
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - height)
    return placed


# ---- the figure ---------------------------------------------------------------------------------


def session_figure(header: Mapping[str, Any], events: Sequence[Event]) -> Figure:
    """The amplitude plot of one session (its store header and parsed events)."""
    time = Timebase(events)
    channels = _channels(events, time)
    rows = max(1, len(channels))
    fig = figure_class()(
        figsize=(WIDTH_IN, FRAME_IN + PANEL_IN * rows), dpi=DPI, layout="constrained"
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # labels are measured as they are drawn: with a renderer
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    end_s = max([time.at(e) for e in events] + [p[1] for p in time.pauses], default=0.0)
    scale, unit = (60.0, "min") if end_s > 120 else (1.0, "s")
    phases = [
        (time.at(e) / scale, str(e["data"].get("name", ""))) for e in events if e["kind"] == "phase"
    ]
    marks = [(x / scale, what) for x, what in _marks(events, time, str(header.get("end_reason")))]
    for each in channels:
        each.xs = [x / scale for x in each.xs]
        each.adjustments = [(x / scale, old, new) for x, old, new in each.adjustments]
    span = max(end_s / scale, 1.0) * 1.02
    drawn: list[Channel | None] = [*channels] if channels else [None]
    for ax, c in zip(axes, drawn, strict=True):
        _panel(
            ax,
            c,
            phases,
            [(a / scale, b / scale) for a, b in time.pauses],
            marks,
            span,
            end_s / scale,
        )
    axes[-1].set_xlabel(f"time since the start ({unit}); pauses included")
    _legend(fig, channels, bool(phases), bool(time.pauses))
    fig.draw_without_rendering()  # constrained layout done: the axes stay where they are now
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg, below
    for ax, c in zip(axes, channels, strict=False):
        _labels(ax, renderer, c, phases, marks, scale)
    return fig


def _panel(
    ax: Axes,
    c: Channel | None,
    phases: list[tuple[float, str]],
    pauses: list[tuple[float, float]],
    marks: list[tuple[float, str]],
    span: float,
    end: float,
) -> None:
    ax.set_xlim(0.0, span)
    for i, (start, _) in enumerate(phases):
        stop = phases[i + 1][0] if i + 1 < len(phases) else end
        ax.axvspan(start, stop, color="grey", alpha=0.07 if i % 2 == 0 else 0.15, linewidth=0)
    for start, stop in pauses:
        stop = max(stop, start + PAUSE_MIN_FRACTION * span)
        ax.axvspan(start, stop, **PAUSE_STYLE)
    for x, _ in marks:
        ax.axvline(x, color="red", linewidth=1.2, linestyle="--")
    ax.grid(True, alpha=0.3)
    if c is None:
        note = "no stimulation recorded in this session"
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", color="dimgrey")
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("amplitude (mA)")
        return
    ax.step(c.xs, c.delivered, where="post", linewidth=1.3, color=c.colour)
    ax.step(c.xs, c.target, where="post", linewidth=1.0, linestyle=":", color=c.colour)
    levels = [v for v in c.delivered + c.target if v == v] + list(c.thresholds.values())
    levels += [new for _, _, new in c.adjustments]
    top = max(levels, default=1.0)
    shown_ceiling = c.ceiling_ma is not None and c.ceiling_ma <= top * 1.3
    if shown_ceiling and c.ceiling_ma is not None:
        top = max(top, c.ceiling_ma)
    for name, value in c.thresholds.items():
        ax.axhline(value, color="dimgrey", linewidth=0.9, linestyle=THRESHOLD_STYLE.get(name, ":"))
    lines = sorted(c.thresholds.items(), key=lambda item: item[1])
    if shown_ceiling and c.ceiling_ma is not None:
        ax.axhline(c.ceiling_ma, color="firebrick", linewidth=1.0, linestyle=(0, (1, 1)))
        lines = sorted([*lines, ("ceiling", c.ceiling_ma)], key=lambda item: item[1])
    on_y = ax.get_yaxis_transform()  # x in axes, y in mA: moved apart once laid out
    c.names = [
        ax.text(
            1.006,
            value,
            f"{name} {value:g}",
            transform=on_y,
            fontsize=7,
            va="center",
            color="firebrick" if name == "ceiling" else "dimgrey",
        )
        for name, value in lines
    ]
    for x, old, new in c.adjustments:
        ax.plot([x], [new], marker="v" if new < old else "^", color="black", markersize=6)
        ax.plot([x], [new], marker="v" if new < old else "^", color=c.colour, markersize=4)
    ax.set_ylim(0.0, max(top, 1.0) * 1.45)  # the lanes of labels above the lines
    ax.set_ylabel(f"channel {c.key} (mA)")


def _labels(
    ax: Axes,
    renderer: RendererBase,
    c: Channel,
    phases: list[tuple[float, str]],
    marks: list[tuple[float, str]],
    scale: float,
) -> None:
    small = {"fontsize": 7, "va": "center"}
    if c.adjustments:
        changes = [(x, (old, new)) for x, old, new in c.adjustments]
        lay_out(ax, renderer, changes, adjustment_label, ADJUST_LANE_Y, color="black", **small)
    if marks:
        said = [(x, what) for x, what in marks]
        lay_out(
            ax,
            renderer,
            said,
            lambda whats: whats[0] if len(set(whats)) == 1 else " · ".join(dict.fromkeys(whats)),
            EVENT_LANE_Y + 0.04,
            color="red",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
            **small,
        )
    names = [(x, name) for x, name in phases if name]
    if names:
        lay_out(
            ax,
            renderer,
            names,
            lambda found: found[0] if len(found) == 1 else f"{len(found)} phases",
            PHASE_LANE_Y - 0.03,
            color="dimgrey",
            **small,
        )
    _threshold_names(ax, renderer, c)


def _threshold_names(ax: Axes, renderer: RendererBase, c: Channel) -> None:
    """ST, SC1, N, SC2 and the ceiling named in the right margin, moved apart so that none
    is over another."""
    if not c.names:
        return
    box = ax.get_window_extent(renderer)
    wanted = [t.get_window_extent(renderer) for t in c.names]
    height = max(b.height for b in wanted) + 1.0
    placed = _spread([(b.y0 + b.y1) / 2 for b in wanted], height, box.y0, box.y1)
    for text, y_px in zip(c.names, placed, strict=True):
        text.set_transform(ax.transAxes)
        text.set_y((y_px - box.y0) / box.height)


def _legend(fig: Figure, channels: list[Channel], phased: bool, paused: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    if channels:
        handles += [
            Line2D([], [], color="black", linewidth=1.3, label="delivered"),
            Line2D([], [], color="black", linewidth=1.0, linestyle=":", label="target"),
        ]
    if any(c.adjustments for c in channels):
        handles.append(Line2D([], [], color="black", marker="^", linestyle="", label="adjusted"))
    if any(c.thresholds for c in channels):
        handles.append(Line2D([], [], color="dimgrey", linestyle="--", label="thresholds (SIT)"))
    if any(t.get_text().startswith("ceiling") for c in channels for t in c.names):
        handles.append(Line2D([], [], color="firebrick", linestyle=(0, (1, 1)), label="ceiling"))
    if phased:
        handles.append(Patch(facecolor="grey", alpha=0.15, label="phase"))
    if paused:
        handles.append(Patch(**PAUSE_STYLE, label="paused"))
    if not handles:
        return
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7, frameon=False
    )
