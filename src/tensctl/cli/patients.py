"""``tensctl patients``: a patient's sessions over time — pain before and after, and the
intensity trend (rising intensity for the same relief is the sign of tolerance).

Sessions on the simulator are kept apart: left out unless ``--include-simulated`` (stderr
says how many were), and then listed under their own heading — never in the trend or the
last titration of the patient's real sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import (
    DB_OPTION,
    INCLUDE_SIMULATED_OPTION,
    JSON_OPTION,
    say_simulated_left_out,
)
from tensctl.errors import InputError, Problem
from tensctl.journal.store import Store
from tensctl.journal.summary import (
    TREND_MIN_DAYS,
    TREND_MIN_SESSIONS,
    before_after,
    intensity_trend_ma_per_week,
    last_titration,
    mean_intensity_ma,
    pain_change,
    short_end_words,
    summarise,
)

patients_app = typer.Typer(help="Patients and their sessions over time.", no_args_is_help=True)

TOLERANCE_MA_PER_WEEK = 2.0  # a rise this steep is worth a look at the plan (frequency, site)


@patients_app.command("list")
def list_patients(
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
    include_simulated: bool = INCLUDE_SIMULATED_OPTION,
) -> None:
    """Every patient with a recorded session (on real devices unless --include-simulated)."""
    with Store(db, must_exist=True) as store:
        rows = []
        for p in store.patients():
            found = store.sessions(p["id"])
            simulated = sum(1 for s in found if s["simulated"])
            rows.append({**p, "sessions": len(found) - simulated, "simulated_sessions": simulated})
    left_out = 0 if include_simulated else sum(r["simulated_sessions"] for r in rows)
    only_simulated = 0 if include_simulated else sum(1 for r in rows if not r["sessions"])
    if not include_simulated:
        rows = [
            {k: v for k, v in r.items() if k != "simulated_sessions"} for r in rows if r["sessions"]
        ]
    if as_json:
        console.emit_json(rows)
        return say_simulated_left_out(left_out, patients=only_simulated)
    columns = ["patient", "first seen (UTC)", "sessions"]
    table = Table(*columns, *(["on the simulator"] if include_simulated else []), box=None)
    for p in rows:
        cells = [escape(p["id"]), p["created_utc"][:19].replace("T", " "), str(p["sessions"])]
        table.add_row(*cells, *([str(p["simulated_sessions"])] if include_simulated else []))
    if rows:
        console.out.print(table)
    else:
        console.info("no patient has a session on a real device")
    say_simulated_left_out(left_out, patients=only_simulated)


@patients_app.command("show")
def show(
    patient: str = typer.Argument(..., metavar="ID"),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
    include_simulated: bool = INCLUDE_SIMULATED_OPTION,
) -> None:
    """Sessions over time: pain before/after, delivered intensity and its trend (sessions on
    the simulator only with --include-simulated, and never in the trend)."""
    with Store(db, must_exist=True) as store:
        summaries = [summarise(h, store.events(h["id"])) for h in store.sessions(patient)]
    if not summaries:
        raise InputError([Problem(f"no sessions recorded for patient '{patient}'", "ID")])
    left_out = 0 if include_simulated else sum(1 for s in summaries if s["simulated"])
    if not include_simulated:
        summaries = [s for s in summaries if not s["simulated"]]
    trend = intensity_trend_ma_per_week(summaries)  # real devices only
    real = [s for s in summaries if not s["simulated"]]
    simulated = [s for s in summaries if s["simulated"]]
    last = last_titration(summaries)
    last_simulated = last_titration(summaries, simulated=True) if last is None else None
    if as_json:
        say_simulated_left_out(left_out)
        rows = [_row(s) for s in summaries]
        shown = last if last is not None else last_simulated  # real first, flagged
        latest = (
            None
            if shown is None
            else {
                "session": shown["id"],
                "thresholds_ma": shown["thresholds_ma"],
                "ceilings_ma": shown["ceilings_ma"],
                "simulated": shown is last_simulated,
            }
        )
        return console.emit_json(
            {
                "patient": patient,
                "sessions": rows,
                "intensity_trend_ma_per_week": trend,
                "last_titration": latest,
                "simulated_left_out": left_out,
            }
        )
    count = f"{len(real)} session(s)" if real else "no sessions on real devices"
    console.out.print(f"[bold]patient {escape(patient)}[/]: {count}")
    if real:
        console.out.print(_table(real))
    if simulated:
        console.out.print(
            f"[bold]on the simulator[/]: {len(simulated)} session(s) — not in the trend, and "
            "counted against the daily cap of other simulator sessions only"
        )
        console.out.print(_table(simulated))
    for shown, where in ((last, ""), (last_simulated, " on the simulator")):
        if shown is None:
            continue
        for ch, values in shown["thresholds_ma"].items():
            marks = ", ".join(f"{k} {v:g}" for k, v in values.items())  # in SIT order
            ceiling = shown["ceilings_ma"].get(ch)
            console.out.print(
                f"last titration{where} (session {shown['id']}), channel {ch}: {marks} mA"
                + (f"; ceiling {ceiling:g} mA" if ceiling is not None else "")
            )
    say_simulated_left_out(left_out)
    if trend is None:
        console.info(
            f"intensity trend: needs {TREND_MIN_SESSIONS} stimulated sessions on real devices "
            f"spanning {TREND_MIN_DAYS:g} days or more"
        )
        return
    console.out.print(f"intensity trend: {trend:+.2f} mA/week")
    if trend >= TOLERANCE_MA_PER_WEEK:
        console.warning(
            "intensity is rising steadily — a sign of tolerance; consider varying frequency, "
            "pulse width or site, or the schedule"
        )


def _table(summaries: list[dict[str, Any]]) -> Table:
    """One row per session; "min" is its stimulated time, as the daily cap counts it."""
    table = Table(
        "session",
        "date",
        "protocol",
        "min",
        "mean mA",
        "pain rest",
        "pain moving",
        "end",
        box=None,
    )
    for s in summaries:
        r = _row(s)
        table.add_row(
            str(r["id"]),
            r["started_utc"][:10],
            escape(r["protocol"]),
            f"{s['stimulated_s'] / 60:.0f}",
            "—" if r["mean_ma"] is None else f"{r['mean_ma']:.1f}",
            before_after(s, "pain_rest"),
            before_after(s, "pain_movement"),
            escape(short_end_words(r["end_reason"])),
        )
    return table


def _row(s: dict[str, Any]) -> dict[str, Any]:
    relief = pain_change(s)
    return {
        "id": s["id"],
        "started_utc": s["started_utc"],
        "protocol": s["protocol"],
        "duration_s": s["duration_s"],
        "stimulated_s": s["stimulated_s"],
        "simulated": s["simulated"],
        "end_reason": s["end_reason"],
        "mean_ma": mean_intensity_ma(s),
        "outcomes": s["outcomes"],
        "pain_rest_change": relief,
    }


@patients_app.command("report")
def report(
    patient: str = typer.Argument(..., metavar="ID"),
    output: Path = typer.Option(..., "--output", "-o", help="FILE.html or FILE.pdf"),
    include_simulated: bool = INCLUDE_SIMULATED_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """The patient's course for a review: pain before/after per session, minutes per day
    against the daily cap, intensity and thresholds with the trend, adverse events."""
    from tensctl.journal.course import build_course, check_output, course_session
    from tensctl.journal.document import write_document

    check_output(output)
    with Store(db, must_exist=True) as store:
        headers = store.sessions(patient)
        chosen = [h for h in headers if include_simulated or not h["simulated"]]
        sessions = [course_session(store.session(h["id"]), store.events(h["id"])) for h in chosen]
    left_out = len(headers) - len(chosen)
    if not headers:
        raise InputError([Problem(f"no sessions recorded for patient '{patient}'", "ID")])
    if not sessions:
        raise InputError(
            [
                Problem(
                    f"patient '{patient}' has only sessions on the simulator ({left_out}); "
                    "add --include-simulated to report them",
                    "ID",
                )
            ]
        )
    say_simulated_left_out(left_out, "report")
    document = build_course(
        patient,
        sessions,
        simulated_left_out=left_out,
        tolerance_ma_per_week=TOLERANCE_MA_PER_WEEK,
    )
    write_document(document, output)
    console.success(f"course of patient {patient} ({len(sessions)} sessions) written to {output}")
