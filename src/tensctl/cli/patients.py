"""``tensctl patients``: a patient's sessions over time — pain before and after, and the
intensity trend (rising intensity for the same relief is the sign of tolerance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import DB_OPTION, JSON_OPTION
from tensctl.errors import InputError, Problem
from tensctl.journal.store import Store
from tensctl.journal.summary import (
    TREND_MIN_DAYS,
    TREND_MIN_SESSIONS,
    intensity_trend_ma_per_week,
    mean_intensity_ma,
    pain_change,
    summarise,
)

patients_app = typer.Typer(help="Patients and their sessions over time.", no_args_is_help=True)

TOLERANCE_MA_PER_WEEK = 2.0  # a rise this steep is worth a look at the plan (frequency, site)


@patients_app.command("list")
def list_patients(db: Path | None = DB_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Every patient with a recorded session."""
    with Store(db, must_exist=True) as store:
        rows = [{**p, "sessions": len(store.sessions(p["id"]))} for p in store.patients()]
    if as_json:
        return console.emit_json(rows)
    table = Table("patient", "first seen (UTC)", "sessions", box=None)
    for p in rows:
        table.add_row(escape(p["id"]), p["created_utc"][:19].replace("T", " "), str(p["sessions"]))
    console.out.print(table)


@patients_app.command("show")
def show(
    patient: str = typer.Argument(..., metavar="ID"),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sessions over time: pain before/after, delivered intensity and its trend."""
    with Store(db, must_exist=True) as store:
        summaries = [summarise(h, store.events(h["id"])) for h in store.sessions(patient)]
    if not summaries:
        raise InputError([Problem(f"no sessions recorded for patient '{patient}'", "ID")])
    trend = intensity_trend_ma_per_week(summaries)
    titrated = [s for s in summaries if s["thresholds_ma"]]
    last = titrated[-1] if titrated else None
    if as_json:
        rows = [_row(s) for s in summaries]
        latest = (
            None
            if last is None
            else {
                "session": last["id"],
                "thresholds_ma": last["thresholds_ma"],
                "ceilings_ma": last["ceilings_ma"],
            }
        )
        return console.emit_json(
            {
                "patient": patient,
                "sessions": rows,
                "intensity_trend_ma_per_week": trend,
                "last_titration": latest,
            }
        )
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
            f"{s['duration_s'] / 60:.0f}",
            "—" if r["mean_ma"] is None else f"{r['mean_ma']:.1f}",
            _before_after(s, "pain_rest"),
            _before_after(s, "pain_movement"),
            escape(r["end_reason"]),
        )
    console.out.print(f"[bold]patient {escape(patient)}[/]: {len(summaries)} session(s)")
    console.out.print(table)
    if last is not None:
        for ch, values in last["thresholds_ma"].items():
            marks = ", ".join(f"{k} {v:g}" for k, v in values.items())  # in SIT order
            ceiling = last["ceilings_ma"].get(ch)
            console.out.print(
                f"last titration (session {last['id']}), channel {ch}: {marks} mA"
                + (f"; ceiling {ceiling:g} mA" if ceiling is not None else "")
            )
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


def _row(s: dict[str, Any]) -> dict[str, Any]:
    relief = pain_change(s)
    return {
        "id": s["id"],
        "started_utc": s["started_utc"],
        "protocol": s["protocol"],
        "duration_s": s["duration_s"],
        "end_reason": s["end_reason"],
        "mean_ma": mean_intensity_ma(s),
        "outcomes": s["outcomes"],
        "pain_rest_change": relief,
    }


def _before_after(s: dict[str, Any], key: str) -> str:
    found = s["outcomes"]
    before, after = found.get("before", {}).get(key), found.get("after", {}).get(key)
    if before is None and after is None:
        return "—"
    return f"{'—' if before is None else f'{before:g}'} → {'—' if after is None else f'{after:g}'}"
