"""A stored session as a report a therapist can read: PNG, SVG or a self-contained HTML page.

The report shows who, what and how it ended; the delivered amplitude per channel over the
session (from the telemetry in the record) with its phases, adjustments, faults and stops
marked; the delivered dose per channel; and the outcomes taken before and after. It needs
matplotlib (the ``plot`` extra); figures are drawn without pyplot, so no global state.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensctl.errors import InputError, MissingExtra, Problem, UsageError
from tensctl.journal.dose import ChannelDose, delivered_dose, delivered_ma
from tensctl.journal.summary import outcomes as outcomes_of

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Event = Mapping[str, Any]
SUFFIXES = (".png", ".svg", ".html")
SIZE_IN, DPI = (10.0, 6.0), 100  # 1000 x 600 px
OUTCOMES = (
    ("pain_rest", "pain at rest (0–10)"),
    ("pain_movement", "pain on movement (0–10)"),
    ("fatigue", "fatigue (0–10)"),
    ("ppt_stimulated_kpa", "PPT stimulated site (kPa)"),
    ("ppt_remote_kpa", "PPT remote site (kPa)"),
    ("adverse_events", "adverse events"),
    ("adverse_note", "adverse event note"),
)
DOSE_COLUMNS = (
    "channel",
    "stimulated (min)",
    "mean (mA)",
    "peak (mA)",
    "at target (min)",
    "charge (mC)",
    "pulses",
)


def render_report(header: Mapping[str, Any], events: Sequence[Event], path: Path) -> Path:
    """Write the report of one session (its store header and parsed events) to ``path``;
    the format follows the suffix: .png, .svg or .html. Returns ``path``."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in SUFFIXES:
        allowed = ", ".join(SUFFIXES)
        raise UsageError(f"{path}: cannot write a report as '{path.suffix}'; use {allowed}")
    doses = delivered_dose(events)
    outcomes: dict[str, Mapping[str, Any]] = dict(outcomes_of(events))
    figure = _figure(header, events, doses, outcomes)
    try:
        if kind == ".png":
            figure.savefig(path, format="png", dpi=DPI)
        elif kind == ".svg":
            path.write_text(_svg(figure), encoding="utf-8")
        else:
            path.write_text(_html(header, _svg(figure), doses, outcomes), encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(f"cannot write report: {exc.strerror}", str(path))]) from None
    finally:
        figure.clear()
    return path


# ---- the figure -----------------------------------------------------------------------------


def _figure_class() -> type[Figure]:
    try:
        import matplotlib.figure
    except ImportError:
        raise MissingExtra(
            "session reports need matplotlib: install the plot extra, "
            "e.g. pip install 'tensctl[plot]'"
        ) from None
    return matplotlib.figure.Figure


def _figure(
    header: Mapping[str, Any],
    events: Sequence[Event],
    doses: list[ChannelDose],
    outcomes: dict[str, Mapping[str, Any]],
) -> Figure:
    fig = _figure_class()(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(3.0, 1.4), width_ratios=(1.4, 1.0))
    fig.suptitle(_title(header), fontsize=10)
    _plot(fig.add_subplot(grid[0, :]), events)
    _table(fig.add_subplot(grid[1, 0]), "delivered dose", DOSE_COLUMNS, _dose_rows(doses))
    before_after = ("", "before", "after")
    _table(fig.add_subplot(grid[1, 1]), "outcomes", before_after, _outcome_rows(outcomes))
    return fig


def _plot(ax: Axes, events: Sequence[Event]) -> None:
    end_s = max((float(e["elapsed_s"]) for e in events), default=0.0)
    scale, unit = (60.0, "min") if end_s > 120 else (1.0, "s")
    series: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for e in (e for e in events if e["kind"] == "telemetry"):
        for ch, reading in e["data"].get("channels", {}).items():
            xs, delivered, target = series.setdefault(str(ch), ([], [], []))
            xs.append(float(e["elapsed_s"]) / scale)
            delivered.append(delivered_ma(reading))
            target.append(float(reading.get("target_ma") or 0.0))
    colours = {ch: f"C{i}" for i, ch in enumerate(sorted(series, key=lambda c: (len(c), c)))}
    for ch, colour in colours.items():
        xs, delivered, target = series[ch]
        ax.step(xs, delivered, where="post", linewidth=1.2, color=colour, label=f"channel {ch}")
        ax.step(xs, target, where="post", linewidth=0.8, linestyle=":", color=colour)
    top = max((max(d + t) for _, d, t in series.values()), default=0.0)
    on_x: dict[str, Any] = {"transform": ax.get_xaxis_transform(), "fontsize": 7}
    phases = [e for e in events if e["kind"] == "phase"]
    for i, e in enumerate(phases):
        start = float(e["elapsed_s"]) / scale
        stop = float(phases[i + 1]["elapsed_s"]) / scale if i + 1 < len(phases) else end_s / scale
        ax.axvspan(start, stop, color="grey", alpha=0.08 if i % 2 == 0 else 0.16, linewidth=0)
        ax.text(start, 0.98, f" {e['data'].get('name', '')}", va="top", color="dimgrey", **on_x)
    for e in events:
        x, data = float(e["elapsed_s"]) / scale, e["data"]
        if e["kind"] == "adjust":
            ch, new, old = str(data.get("channel")), data.get("target_ma"), data.get("previous_ma")
            colour, y = colours.get(ch, "black"), float(new or 0.0)
            marker = "v" if y < float(old or 0.0) else "^"
            ax.plot([x], [y], marker=marker, color=colour, markersize=7, linestyle="")
            label = f"ch {ch}: {_fmt(old)}→{_fmt(new)} mA"
            ax.annotate(label, (x, y), xytext=(4, 6), textcoords="offset points", fontsize=7)
        elif e["kind"] in ("fault", "stop", "warning"):
            colour = "red" if e["kind"] != "warning" else "darkorange"
            what = data.get("reason") if e["kind"] == "stop" else data.get("rule")
            ax.axvline(x, color=colour, linewidth=1.2, linestyle="--")
            label = f"{e['kind']}: {_fmt(what)}"
            ax.text(x, 0.03, label, rotation=90, color=colour, ha="right", va="bottom", **on_x)
    if series:
        ax.legend(loc="upper right", fontsize=7, title="dotted: target", title_fontsize=7)
    else:
        note = "no stimulation recorded (no telemetry in this session)"
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", color="dimgrey")
    ax.set_xlim(0.0, max(end_s / scale, 1.0) * 1.02)
    ax.set_ylim(0.0, max(top, 1.0) * 1.3)  # headroom for phase names and the legend
    ax.set_xlabel(f"session time ({unit})")
    ax.set_ylabel("delivered amplitude (mA)")
    ax.grid(True, alpha=0.3)


def _table(ax: Axes, title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, loc="left")
    if not rows:
        ax.text(0.5, 0.5, f"no {title} recorded", ha="center", va="center", color="dimgrey")
        return
    table = ax.table(cellText=rows, colLabels=list(columns), loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(range(len(columns)))
    table.scale(1.0, 1.1)


def _svg(fig: Figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text (searchable)
        fig.savefig(buffer, format="svg", dpi=DPI, metadata={"Date": None})
    return buffer.getvalue()


# ---- content shared by the figure and the page -----------------------------------------------


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _date(value: Any) -> str:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return _fmt(value)
    return (when.astimezone(UTC) if when.tzinfo else when).strftime("%Y-%m-%d %H:%M UTC")


def _title(header: Mapping[str, Any]) -> str:
    return (
        f"Session {_fmt(header.get('id'))} — {_fmt(header.get('protocol_name'))}\n"
        f"patient {_fmt(header.get('patient_id'))} · {_date(header.get('started_utc'))} · "
        f"ended: {_fmt(header.get('end_reason') or 'not closed')}"
    )


def _outcome_rows(outcomes: dict[str, Mapping[str, Any]]) -> list[list[str]]:
    if not outcomes:
        return []
    both = (outcomes.get("before", {}), outcomes.get("after", {}))
    rows = [[label, *(_fmt(o.get(key)) for o in both)] for key, label in OUTCOMES]
    return [r for r in rows if r[1:] != ["—", "—"]]


def _dose_rows(doses: list[ChannelDose]) -> list[list[str]]:
    cells = (
        "{0.channel}|{0.stimulated_min:.1f}|{0.mean_ma:.2f}|{0.peak_ma:.2f}|{0.at_target_min:.1f}"
    )
    return [(cells + "|{1:.1f}|{0.pulses}").format(d, d.charge_uc / 1000).split("|") for d in doses]


# ---- the page -------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
    "margin:.5em 0 1.5em}th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}"
    "th{background:#eee}svg{max-width:100%;height:auto}"
)


def _html_table(caption: str, columns: Sequence[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(columns)}">none recorded</td></tr>'
    return f"<h2>{html.escape(caption)}</h2>\n<table><tr>{head}</tr>{body}</table>\n"


def _html(
    header: Mapping[str, Any],
    svg: str,
    doses: list[ChannelDose],
    outcomes: dict[str, Mapping[str, Any]],
) -> str:
    title, svg = _title(header).replace("\n", " · "), svg[svg.index("<svg") :]  # no prolog
    fields = [[str(k), _fmt(v)] for k, v in header.items() if k != "protocol_json"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<figure>{svg}</figure>\n"
        + _html_table("Delivered dose", DOSE_COLUMNS, _dose_rows(doses))
        + _html_table("Outcomes", ("measure", "before", "after"), _outcome_rows(outcomes))
        + _html_table("Session record", ("field", "value"), fields)
        + "</body></html>\n"
    )
