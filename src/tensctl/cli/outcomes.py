"""Asking for outcomes at the terminal, one validated value at a time."""

from __future__ import annotations

from typing import Any

import typer

from tensctl.model.outcomes import ADVERSE_EVENTS, Outcomes, parse_outcomes

RATINGS = {
    "pain_rest": "Pain at rest (0 none – 10 worst)",
    "pain_movement": "Pain on movement (0–10)",
    "fatigue": "Fatigue (0–10)",
}
PRESSURES = {
    "ppt_stimulated_kpa": "Pressure pain threshold at the stimulated site, kPa (Enter: skip)",
    "ppt_remote_kpa": "Pressure pain threshold at a remote site, kPa (Enter: skip)",
}
ADVERSE = ADVERSE_EVENTS


def _number(question: str, low: float, high: float, optional: bool) -> float | None:
    while True:
        text = typer.prompt(question, default="", show_default=False)
        if not str(text).strip():
            if optional:
                return None
            typer.echo(f"  required: a number from {low:g} to {high:g}")
            continue
        try:
            value = float(text)
        except ValueError:
            typer.echo(f"  a number from {low:g} to {high:g}, please")
            continue
        if low <= value <= high and not (optional and value == 0):
            return value
        typer.echo(f"  a number from {low:g} to {high:g}, please")


def ask_outcomes(when: str) -> Outcomes:
    """The outcome measures ``before`` or ``after`` the session."""
    typer.echo(f"Outcomes {when} the session:")
    values: dict[str, Any] = {k: _number(q, 0, 10, False) for k, q in RATINGS.items()}
    values.update({k: _number(q, 0, 2000, True) for k, q in PRESSURES.items()})
    if when == "after":
        listed = ", ".join(ADVERSE)
        while True:
            text = typer.prompt(
                f"Adverse events ({listed}; Enter: none)", default="", show_default=False
            )
            chosen = tuple(a.strip() for a in str(text).replace(",", " ").split() if a.strip())
            unknown = [a for a in chosen if a not in ADVERSE]
            if not unknown:
                break
            typer.echo(f"  unknown: {', '.join(unknown)}; choose from {listed}")
        values["adverse_events"] = chosen
        note = ""
        while chosen and not note.strip():
            note = str(typer.prompt("What happened", default="", show_default=False))
            if "other" not in chosen:
                break
        values["adverse_note"] = note
    return parse_outcomes(values, f"outcomes {when}")
