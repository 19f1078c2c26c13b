"""Outcomes recorded before and after a session: pain, fatigue, pressure pain thresholds,
adverse events. Validated here so the CLI, the API and the store share one set of ranges.

Pain and fatigue are 0–10 numeric rating scales; pressure pain thresholds (algometer) are in
kPa, at the stimulated site and at a remote site (the remote site separates a local effect
from a general one). Adverse events are a fixed list, with a free-text note for "other".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from tensctl.errors import InputError, Problem
from tensctl.model.base import StrictModel

Rating = Annotated[float, Field(ge=0, le=10)]
Pressure = Annotated[float, Field(gt=0, le=2000)]
AdverseEvent = Literal["skin_irritation", "burn", "other"]
ADVERSE_EVENTS = ("skin_irritation", "burn", "other")

FIELDS = {
    "pain_rest": "pain at rest, 0–10",
    "pain_movement": "pain on movement, 0–10",
    "fatigue": "fatigue, 0–10",
    "ppt_stimulated_kpa": "pressure pain threshold at the stimulated site, kPa (optional)",
    "ppt_remote_kpa": "pressure pain threshold at a remote site, kPa (optional)",
}


class Outcomes(StrictModel):
    """One set of outcome measures, taken before or after a session."""

    pain_rest: Rating
    """Pain at rest on a 0–10 numeric rating scale."""
    pain_movement: Rating
    """Pain on movement on a 0–10 numeric rating scale."""
    fatigue: Rating
    """Fatigue on a 0–10 numeric rating scale."""
    ppt_stimulated_kpa: Pressure | None = None
    """Pressure pain threshold at the stimulated site (algometer), kPa."""
    ppt_remote_kpa: Pressure | None = None
    """Pressure pain threshold at a remote site, kPa."""
    adverse_events: tuple[AdverseEvent, ...] = ()
    """Adverse events seen: skin_irritation, burn, other."""
    adverse_note: str = Field(default="", max_length=500)
    """What happened, for any adverse event (required for "other")."""

    @model_validator(mode="after")
    def _other_is_described(self) -> Outcomes:
        if "other" in self.adverse_events and not self.adverse_note.strip():
            raise ValueError('adverse event "other" needs adverse_note saying what happened')
        return self


RANGES = {
    "pain_rest": "a number from 0 to 10",
    "pain_movement": "a number from 0 to 10",
    "fatigue": "a number from 0 to 10",
    "ppt_stimulated_kpa": "a number of kPa above 0 and at most 2000",
    "ppt_remote_kpa": "a number of kPa above 0 and at most 2000",
    "adverse_events": f"any of {', '.join(ADVERSE_EVENTS)}",
    "adverse_note": "a note of at most 500 characters",
}
REQUIRED = ("pain_rest", "pain_movement", "fatigue")


def _said(err: Mapping[str, Any]) -> tuple[str, str]:
    """One validation problem as (field, what is wrong) in a therapist's words: the field,
    what it takes, and what was found — never the validator's own wording."""
    loc = [str(p) for p in err["loc"]]
    field = loc[0] if loc else ""
    found = err.get("input")
    kind = str(err["type"])
    if not field:  # the whole set: "other" without a note
        message = str(err["msg"]).removeprefix("Value error, ")
        return "adverse_note", message
    if kind == "missing":
        return field, f"missing: {RANGES[field]} is required"
    if kind == "extra_forbidden":
        known = ", ".join(RANGES)
        return field, f"not an outcome measure (the measures are: {known})"
    if field == "adverse_events":
        listed = ", ".join(ADVERSE_EVENTS)
        return field, f"unknown adverse event {found!r}: choose from {listed}"
    return field, f"expected {RANGES.get(field, 'a number')}, found {found!r}"


def parse_outcomes(values: Mapping[str, Any] | Outcomes, source: str) -> Outcomes:
    """Validate outcome values from outside; every problem named by field, with the range
    the field takes."""
    if isinstance(values, Outcomes):
        return values
    if not isinstance(values, Mapping):
        raise InputError(
            [
                Problem(
                    f"expected outcome values by name ({', '.join(REQUIRED)}, …), found {values!r}",
                    source,
                )
            ]
        )
    try:
        return Outcomes.model_validate(dict(values))
    except ValidationError as exc:
        problems = [Problem(m, source, path=f) for f, m in map(_said, exc.errors())]
        raise InputError(problems) from None


def parse_outcome_text(
    text: str, source: str, earlier: Mapping[str, Any] | None = None
) -> Outcomes:
    """``pain_rest=3,pain_movement=5,fatigue=2[,adverse_events=skin_irritation+burn]``.
    ``earlier``: the outcomes on record, amended — what the text does not name keeps its
    value (a corrected rating never drops a recorded adverse event)."""
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v  # as stored (JSON): a list for a tuple
        for k, v in (earlier or {}).items()
        if k in Outcomes.model_fields and v is not None
    }
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise InputError([Problem(f"expected KEY=VALUE, found '{part}'", source)])
        key = key.strip()
        if key == "adverse_events":
            values[key] = tuple(v for v in value.split("+") if v)
        elif key == "adverse_note":
            values[key] = value
        else:
            values[key] = value.strip()
    return parse_outcomes(values, source)


WHEN = ("before", "after")


def outcome_event(
    when: str,
    values: Outcomes,
    operator: str,
    amends: int | None,
    reason: str | None,
    source: str,
) -> dict[str, Any]:
    """The data of an ``outcome`` event. ``amends``: the event number of the outcomes
    ``when`` already on record, or None. Outcomes given again are an amendment — a new
    event that names the one it corrects and why — never a silent replacement: without a
    ``reason`` they are refused."""
    if when not in WHEN:
        raise InputError([Problem(f"outcomes are taken before or after, not {when!r}", source)])
    why = (reason or "").strip()
    if amends is not None and not why:
        raise InputError(
            [
                Problem(
                    f"outcomes {when} the session are already recorded (event {amends}); to "
                    "correct them, give the reason for the amendment (--reason TEXT; in "
                    "Python reason=…)",
                    source,
                )
            ]
        )
    if amends is None and why:
        raise InputError(
            [
                Problem(
                    f"no outcomes {when} the session are recorded yet: there is nothing to "
                    "amend (leave out the reason)",
                    source,
                )
            ]
        )
    data: dict[str, Any] = {"when": when, "operator": operator, **values.model_dump(mode="json")}
    if amends is not None:
        data["amends"], data["reason"] = amends, why
    return data


def recorded_outcomes(events: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The event number of the latest outcomes recorded before, and after, a session."""
    return {str(e["data"]["when"]): int(e["seq"]) for e in events if e["kind"] == "outcome"}
