"""A patient's course: the view a therapist brings to a review, as a document.

Built from the stored sessions of one patient (header with its protocol, and events), in
the order they were given: who and over what span; pain before and after each session, and
whether it fell by a responder's 30 %; the stimulated minutes per local calendar day against
the daily cap the sessions ran under (the protocol's ``session.daily_cap_s``, as the API
holds a session to it); the delivered intensity and the titrated thresholds (ST, SC1, N,
SC2) over time with the tolerance trend; and the adverse events and notes with their dates.

Sessions on the simulator are the caller's choice (left out by default): when they are in,
they are marked, never in the trend (:func:`summary.intensity_trend_ma_per_week`), and their
minutes are counted against the cap apart from those on real devices, as the cap counts them.
Dates and times are local, with the zone named; the figures are matplotlib figures drawn
without pyplot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensctl.errors import InputError, MissingExtra, Problem, UsageError
from tensctl.journal.clock import local_text, local_time, zone_name
from tensctl.journal.document import (
    SUFFIXES,
    Document,
    Fields,
    Figure,
    Heading,
    Paragraph,
    Table,
)
from tensctl.journal.summary import (
    SIT_ORDER,
    TREND_MIN_DAYS,
    TREND_MIN_SESSIONS,
    before_after,
    intensity_trend_ma_per_week,
    mean_intensity_ma,
    pain_change,
    short_end_words,
    summarise,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import Formatter, Locator

Row = Mapping[str, Any]
RESPONDER_FRACTION = 0.30  # a 30 % fall in pain: the usual responder threshold
FIGURE_IN = (8.0, 3.2)
THRESHOLD_MARKERS = {"ST": "v", "SC1": "^", "N": "x", "SC2": "D"}


@dataclass(frozen=True)
class CourseSession:
    """One session as the course reads it."""

    summary: dict[str, Any]  # :func:`summary.summarise`
    started: datetime  # local, aware
    cap_s: float | None  # the daily cap of its protocol
    titrated: dict[str, dict[str, float]]  # channel → threshold → mA, marked in this session
    adverse: list[tuple[str, list[str], str]] = field(default_factory=list)  # when, events, note
    notes: list[Mapping[str, Any]] = field(default_factory=list)  # note events

    @property
    def simulated(self) -> bool:
        return bool(self.summary["simulated"])

    @property
    def day(self) -> date:
        return self.started.date()


def check_output(path: Path) -> None:
    """Refuse a file the course cannot be written as, before anything is read."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"{path}: cannot write a course as '{Path(path).suffix}'; use {', '.join(SUFFIXES)}"
        )
    if not Path(path).parent.is_dir():
        raise InputError([Problem("no such folder to write the course in", str(path))])


def course_session(header: Row, events: Sequence[Row]) -> CourseSession:
    """One stored session (its full header, ``protocol_json`` included, and parsed events)."""
    started = local_time(str(header["started_utc"]))
    assert started is not None, "a stored session has a start"
    titrated: dict[str, dict[str, float]] = {}
    for e in events:
        if e["kind"] == "titration":
            data = e["data"]
            titrated.setdefault(str(data["channel"]), {})[str(data["threshold"])] = float(
                data["amplitude_ma"]
            )
    summary = summarise(header, events)
    adverse = []
    for when in ("before", "after"):
        found = summary["outcomes"].get(when, {})
        if found.get("adverse_events") or found.get("adverse_note"):
            adverse.append(
                (when, list(found.get("adverse_events") or []), str(found.get("adverse_note", "")))
            )
    return CourseSession(
        summary=summary,
        started=started,
        cap_s=_daily_cap_s(header),
        titrated={ch: {k: v[k] for k in SIT_ORDER if k in v} for ch, v in sorted(titrated.items())},
        adverse=adverse,
        notes=[e for e in events if e["kind"] == "note"],
    )


def _daily_cap_s(header: Row) -> float | None:
    try:
        cap = json.loads(str(header.get("protocol_json") or "{}"))["session"]["daily_cap_s"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(cap) if isinstance(cap, int | float) else None


# ---- numbers ----------------------------------------------------------------------------------


def relief_fraction(summary: Mapping[str, Any], key: str = "pain_rest") -> float | None:
    """The fall in pain as a fraction of the pain before (0.4: 40 % less); ``None`` without
    both ratings or with no pain before."""
    change = pain_change(summary, key)
    before = summary["outcomes"].get("before", {}).get(key)
    if change is None or not before:
        return None
    return -change / float(before)


@dataclass(frozen=True)
class Day:
    day: date
    sessions: int
    real_s: float
    simulated_s: float
    cap_s: float | None  # the strictest cap of the day's sessions
    over: bool = False  # a session took the day's minutes past its own protocol's cap
    loosest_cap_s: float | None = None  # where the day's protocols differ

    def over_cap(self) -> bool:
        """Over the cap as a session is held to it: the day's minutes up to and including a
        session (real and simulated counted apart) past that session's own protocol's cap.
        A day of several protocols is not held to the strictest one."""
        return self.over


def days(sessions: Iterable[CourseSession]) -> list[Day]:
    """Stimulated time per local calendar day (the daily cap's day), by kind of device."""
    by_day: dict[date, list[CourseSession]] = {}
    for s in sorted(sessions, key=lambda s: s.started):
        by_day.setdefault(s.day, []).append(s)
    out = []
    for day, found in sorted(by_day.items()):
        used = {False: 0.0, True: 0.0}  # real, simulated: each against its own kind
        over = False
        for s in found:
            used[s.simulated] += round(s.summary["stimulated_s"])
            over = over or (s.cap_s is not None and used[s.simulated] > s.cap_s)
        caps = [s.cap_s for s in found if s.cap_s is not None]
        out.append(Day(day, len(found), used[False], used[True], min(caps) if caps else None, over))
    return out


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f}"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def _ma(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _rating(value: Any) -> str:
    return "—" if value is None else f"{float(value):g}"


def _relief_text(summary: Mapping[str, Any]) -> str:
    fraction = relief_fraction(summary)
    if fraction is None:
        return "—"
    return f"{-fraction * 100:+.0f} %" + (" (responder)" if fraction >= RESPONDER_FRACTION else "")


def _session_name(s: CourseSession) -> str:
    return str(s.summary["id"]) + (" (SIMULATED)" if s.simulated else "")


# ---- the document -----------------------------------------------------------------------------


def build_course(
    patient: str,
    sessions: Sequence[CourseSession],
    *,
    simulated_left_out: int = 0,
    tolerance_ma_per_week: float | None = None,
) -> Document:
    """The course of ``patient`` over ``sessions`` (at least one, in the order given).
    ``simulated_left_out``: how many sessions on the simulator were left out, said in the
    document. ``tolerance_ma_per_week``: a trend this steep is flagged as a sign of
    tolerance."""
    assert sessions, "a course needs a session"
    figure_class = _figure_class()
    ordered = sorted(sessions, key=lambda s: (s.started, s.summary["id"]))
    first, last = ordered[0], ordered[-1]
    zone = zone_name(last.started)
    span_days = (last.day - first.day).days + 1
    real = [s for s in ordered if not s.simulated]
    simulated = [s for s in ordered if s.simulated]
    trend = intensity_trend_ma_per_week([s.summary for s in ordered])
    doc = Document(
        f"Course of patient {patient}",
        f"{len(ordered)} session(s) from {first.day} to {last.day} "
        f"({span_days} day(s), local dates, {zone})",
        banner=(
            f"INCLUDES {len(simulated)} SIMULATED SESSION(S) — no current reached a patient in "
            "those; they are marked SIMULATED and are not in the trend"
            if simulated
            else ""
        ),
        created_utc=str(last.summary["ended_utc"] or last.summary["started_utc"]),
    )
    doc.add(Fields(_overview(patient, ordered, real, simulated, simulated_left_out, trend)))
    if simulated_left_out:
        doc.add(
            Paragraph(
                f"{simulated_left_out} session(s) on the simulator are left out of this course.",
                "muted",
            )
        )
    _pain_section(doc, ordered, figure_class)
    _day_section(doc, ordered, figure_class)
    _intensity_section(doc, ordered, trend, tolerance_ma_per_week, figure_class)
    _adverse_section(doc, ordered)
    return doc


def _overview(
    patient: str,
    ordered: Sequence[CourseSession],
    real: Sequence[CourseSession],
    simulated: Sequence[CourseSession],
    left_out: int,
    trend: float | None,
) -> list[tuple[str, str]]:
    count = f"{len(real)} on real devices"
    if simulated:
        count += f", {len(simulated)} on the simulator"
    elif left_out:
        count += f" ({left_out} on the simulator left out)"
    protocols: dict[str, int] = {}
    for s in ordered:
        protocols[str(s.summary["protocol"])] = protocols.get(str(s.summary["protocol"]), 0) + 1
    rated = [f for f in (relief_fraction(s.summary) for s in real) if f is not None]
    responders = sum(1 for f in rated if f >= RESPONDER_FRACTION)
    adverse = sum(1 for s in ordered if s.adverse)
    stimulated = sum(s.summary["stimulated_s"] for s in ordered)
    return [
        ("patient", patient),
        ("sessions", count),
        ("first session", local_text(str(ordered[0].summary["started_utc"]))),
        ("last session", local_text(str(ordered[-1].summary["started_utc"]))),
        ("protocols", ", ".join(f"{p} × {n}" for p, n in sorted(protocols.items()))),
        ("stimulated in all", _duration(stimulated)),
        (
            "responders",
            f"{responders} of {len(rated)} session(s) on real devices rated before and after: "
            f"pain at rest fell by {RESPONDER_FRACTION:.0%} or more"
            if rated
            else "no session on a real device rated before and after",
        ),
        ("intensity trend", _trend_text(trend)),
        ("adverse events", f"in {adverse} session(s)" if adverse else "none recorded"),
    ]


def _trend_text(trend: float | None) -> str:
    if trend is None:
        return (
            f"not computed: needs {TREND_MIN_SESSIONS} stimulated sessions on real devices "
            f"spanning {TREND_MIN_DAYS:g} days or more"
        )
    return f"{trend:+.2f} mA per week (delivered intensity, sessions on real devices)"


def _pain_section(
    doc: Document, ordered: Sequence[CourseSession], figure_class: type[MplFigure]
) -> None:
    doc.add(Heading("Pain before and after each session"))
    rated = [s for s in ordered if s.summary["outcomes"]]
    if rated:
        doc.add(
            Figure(
                _pain_figure(figure_class, ordered),
                "Pain (0–10) before (open circle) and after (filled) each session, at rest and "
                "on movement; the line joins the two ratings of one session.",
            )
        )
    doc.add(
        Table(
            (
                "session",
                "date",
                "protocol",
                "pain at rest",
                "change",
                "pain on movement",
                "fatigue",
                "ended",
            ),
            [
                [
                    _session_name(s),
                    local_text(str(s.summary["started_utc"])),
                    str(s.summary["protocol"]),
                    before_after(s.summary, "pain_rest"),
                    _relief_text(s.summary),
                    before_after(s.summary, "pain_movement"),
                    before_after(s.summary, "fatigue"),
                    short_end_words(s.summary["end_reason"]),
                ]
                for s in ordered
            ],
        )
    )


def _day_section(
    doc: Document, ordered: Sequence[CourseSession], figure_class: type[MplFigure]
) -> None:
    doc.add(Heading("Stimulated time per day"))
    found = days(ordered)
    with_sim = any(s.simulated for s in ordered)
    doc.add(
        Figure(
            _day_figure(figure_class, found, with_sim),
            "Minutes of stimulation per local calendar day (ramping up and stimulating; "
            "pauses and titration not counted), against the daily cap of the day's protocol"
            + ("; sessions on the simulator are counted against the cap apart" if with_sim else "")
            + ".",
        )
    )
    columns = ["date", "sessions", "minutes stimulated"]
    if with_sim:
        columns.append("on the simulator")
    columns += ["daily cap (min)", "within the cap"]
    rows = []
    for d in found:
        row = [str(d.day), str(d.sessions), _minutes(d.real_s)]
        if with_sim:
            row.append(_minutes(d.simulated_s))
        cap = "—" if d.cap_s is None else _minutes(d.cap_s)
        if d.loosest_cap_s is not None and d.cap_s is not None and d.loosest_cap_s != d.cap_s:
            cap = f"{cap}–{_minutes(d.loosest_cap_s)}"  # each session held to its own
        verdict = "no cap" if d.cap_s is None else ("OVER THE CAP" if d.over_cap() else "yes")
        rows.append([*row, cap, verdict])
    doc.add(Table(columns, rows))
    over = [d for d in found if d.over_cap()]
    if over:
        listed = ", ".join(str(d.day) for d in over)
        doc.add(Paragraph(f"Over the daily cap on {listed}.", "alert"))


def _intensity_section(
    doc: Document,
    ordered: Sequence[CourseSession],
    trend: float | None,
    tolerance_ma_per_week: float | None,
    figure_class: type[MplFigure],
) -> None:
    doc.add(Heading("Intensity and thresholds"))
    doc.add(Paragraph(f"Intensity trend: {_trend_text(trend)}."))
    if trend is not None and tolerance_ma_per_week is not None and trend >= tolerance_ma_per_week:
        doc.add(
            Paragraph(
                "Intensity is rising steadily — a sign of tolerance; consider varying frequency, "
                "pulse width or site, or the schedule.",
                "alert",
            )
        )
    doc.add(
        Figure(
            _intensity_figure(figure_class, ordered, trend),
            "Mean delivered intensity per session and channel (line), thresholds titrated in "
            "a session (marks: ST, SC1, N, SC2) and the trend over sessions on real devices "
            "(dashed).",
        )
    )
    rows = []
    for s in ordered:
        summary = s.summary
        doses = {str(d["channel"]): d for d in summary["dose"]}
        channels = sorted(
            {*doses, *s.titrated, *summary["targets_ma"], *summary["thresholds_ma"]},
            key=lambda c: (len(c), c),
        )
        for ch in channels or ["—"]:
            marks = s.titrated.get(ch)
            source = "titrated"
            if marks is None:
                marks, source = summary["thresholds_ma"].get(ch, {}), "given"
            dose = doses.get(ch)
            rows.append(
                [
                    _session_name(s),
                    local_text(str(summary["started_utc"]), date_only=True),
                    ch,
                    *(_ma(marks.get(k)) for k in SIT_ORDER),
                    source if marks else "—",
                    _ma(summary["targets_ma"].get(ch)),
                    _ma(summary["ceilings_ma"].get(ch)),
                    _ma(dose["mean_ma"] if dose and dose["stimulated_min"] > 0 else None),
                ]
            )
    doc.add(
        Paragraph(
            "Per session and channel, in mA: the thresholds titrated in that session (or "
            "given to it from an earlier titration), the target and ceiling it ran at, and the "
            "mean intensity it delivered.",
            "muted",
        ),
        Table(
            ("session", "date", "ch", *SIT_ORDER, "thresholds", "target", "ceiling", "delivered"),
            rows,
        ),
    )


def _adverse_section(doc: Document, ordered: Sequence[CourseSession]) -> None:
    doc.add(Heading("Adverse events"))
    rows = [
        [
            local_text(str(s.summary["started_utc"])),
            _session_name(s),
            f"{when} the session",
            ", ".join(e.replace("_", " ") for e in events) or "—",
            note or "—",
        ]
        for s in ordered
        for when, events, note in s.adverse
    ]
    doc.add(Table(("date", "session", "reported", "events", "note"), rows))
    notes = [
        [
            local_text(str(n.get("time_utc", ""))),
            _session_name(s),
            str(n["data"].get("operator", "")),
            str(n["data"].get("text", "")),
        ]
        for s in ordered
        for n in s.notes
    ]
    if notes:
        doc.add(Heading("Notes"), Table(("written", "session", "by", "note"), notes))


# ---- the figures ------------------------------------------------------------------------------


def _figure_class() -> type[MplFigure]:
    try:
        import matplotlib.figure
    except ImportError:
        raise MissingExtra(
            "a patient's course needs matplotlib: install the plot extra, "
            "e.g. pip install 'tensctl[plot]'"
        ) from None
    return matplotlib.figure.Figure


def _day_number(when: datetime) -> float:
    """A naive local time as matplotlib's date number (days), so the axis shows local dates."""
    import matplotlib.dates as mdates

    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


def _when(s: CourseSession) -> float:
    """The session's local start on the date axis."""
    return _day_number(s.started.replace(tzinfo=None))


def _date_axis(ax: Axes, label: str = "", at: Sequence[float] = ()) -> None:
    """Local dates along x; ``at`` (date numbers) widens the axis to a day either side, so a
    course of one day reads as that day (not as years of empty axis), and a course of two
    weeks or less has a tick on each day, named."""
    import matplotlib.dates as mdates

    if at:
        ax.set_xlim(min(at) - 1, max(at) + 1)
    locator: Locator
    formatter: Formatter
    if at and max(at) - min(at) <= 14:
        locator = mdates.DayLocator()  # type: ignore[no-untyped-call]
        formatter = mdates.DateFormatter("%d %b")  # type: ignore[no-untyped-call]
    else:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.xaxis_date()
    if label:
        ax.set_xlabel(label)
    ax.grid(True, alpha=0.3)


def _pain_figure(figure_class: type[MplFigure], ordered: Sequence[CourseSession]) -> MplFigure:
    fig = figure_class(figsize=(FIGURE_IN[0], 4.2), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (key, label, colour) in zip(
        axes,
        (("pain_rest", "pain at rest", "C0"), ("pain_movement", "pain on movement", "C1")),
        strict=True,
    ):
        for s in ordered:
            found = s.summary["outcomes"]
            before, after = found.get("before", {}).get(key), found.get("after", {}).get(key)
            x = _when(s)
            tint = "grey" if s.simulated else colour
            if before is not None and after is not None:
                ax.plot([x, x], [before, after], color=tint, linewidth=1.2)
            if before is not None:
                ax.plot([x], [before], marker="o", markerfacecolor="white", color=tint)
            if after is not None:
                ax.plot([x], [after], marker="o", color=tint)
        ax.set_ylim(-0.5, 10.5)
        ax.set_yticks(range(0, 11, 2))
        ax.set_ylabel(f"{label}\n(0–10)", fontsize=8)
        _date_axis(ax, at=[_when(s) for s in ordered])
    return fig


def _day_figure(figure_class: type[MplFigure], found: Sequence[Day], with_sim: bool) -> MplFigure:
    fig = figure_class(figsize=FIGURE_IN, layout="constrained")
    ax = fig.add_subplot()
    xs = [datetime.combine(d.day, time(12)) for d in found]  # a day's bar centred on its noon
    real = [d.real_s / 60 for d in found]
    colours = ["#b00020" if d.over_cap() else "C0" for d in found]
    width = 0.8 if not with_sim else 0.4
    offset = 0.0 if not with_sim else -0.2
    at = [_day_number(x) + offset for x in xs]
    ax.bar(at, real, width=width, color=colours, label="minutes stimulated")
    if with_sim:
        ax.bar(
            [a + 0.4 for a in at],
            [d.simulated_s / 60 for d in found],
            width=width,
            color="#aaaaaa",  # solid: a hatch is lost when the PDF places the SVG
            label="on the simulator",
        )
    caps = [(_day_number(x), d.cap_s / 60) for x, d in zip(xs, found, strict=True) if d.cap_s]
    if caps:
        ax.hlines(
            [c for _, c in caps],
            [x - 0.45 for x, _ in caps],
            [x + 0.45 for x, _ in caps],
            colors="#b00020",
            linestyles="--",
            linewidth=1.2,
            label="daily cap",
        )
    top = max([*real, *(c for _, c in caps), *(d.simulated_s / 60 for d in found), 1.0])
    ax.set_ylim(0, top * 1.2)
    ax.set_ylabel("minutes per day")
    fig.legend(loc="outside lower center", fontsize=7, ncols=3, frameon=False)
    _date_axis(ax, at=at)
    return fig


def _intensity_figure(
    figure_class: type[MplFigure], ordered: Sequence[CourseSession], trend: float | None
) -> MplFigure:
    fig = figure_class(figsize=FIGURE_IN, layout="constrained")
    ax = fig.add_subplot()
    channels = sorted(
        {str(d["channel"]) for s in ordered for d in s.summary["dose"]}
        | {ch for s in ordered for ch in s.titrated},
        key=lambda c: (len(c), c),
    )
    colours = {ch: f"C{i}" for i, ch in enumerate(channels)}
    shown: set[str] = set()
    for ch in channels:
        for simulated in (False, True):
            points = [
                (_when(s), d["mean_ma"])
                for s in ordered
                if s.simulated == simulated
                for d in s.summary["dose"]
                if str(d["channel"]) == ch and d["stimulated_min"] > 0
            ]
            if points and not simulated:
                ax.plot(
                    [x for x, _ in points],
                    [y for _, y in points],
                    marker=".",
                    color=colours[ch],
                    linewidth=1.0,
                    label=f"channel {ch}: mean delivered",
                )
            elif points:  # apart: the simulator's sessions are not part of the course's line
                ax.plot(
                    [x for x, _ in points],
                    [y for _, y in points],
                    marker="s",
                    linestyle="",
                    color="grey",
                    label=f"channel {ch}: on the simulator",
                )
        for s in ordered:
            for name, value in s.titrated.get(ch, {}).items():
                label = name if name not in shown else None
                shown.add(name)
                ax.plot(
                    [_when(s)],
                    [value],
                    marker=THRESHOLD_MARKERS.get(name, "o"),
                    linestyle="",
                    color=colours[ch],
                    markerfacecolor="none" if name != "N" else colours[ch],
                    label=label,
                )
    if trend is not None:
        points = [
            (_when(s), level)
            for s in ordered
            if not s.simulated and (level := mean_intensity_ma(s.summary)) is not None
        ]
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        ends = (min(x for x, _ in points), max(x for x, _ in points))
        ax.plot(
            list(ends),
            [mean_y + trend / 7 * (x - mean_x) for x in ends],
            linestyle="--",
            color="black",
            linewidth=1.0,
            label=f"trend {trend:+.2f} mA/week",
        )
    ax.set_ylim(bottom=0)
    ax.set_ylabel("intensity (mA)")
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", fontsize=7, ncols=6, frameon=False)
    _date_axis(ax, at=[_when(s) for s in ordered])
    return fig


def read_course(records: Iterable[tuple[Row, Sequence[Row]]]) -> list[CourseSession]:
    """Stored sessions (full header and parsed events each) as the course reads them."""
    return [course_session(h, e) for h, e in records]
