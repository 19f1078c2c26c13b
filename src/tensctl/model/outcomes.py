"""Outcomes recorded before and after a session: pain, fatigue, pressure pain thresholds,
adverse events. Validated here so the CLI, the API and the store share one set of ranges.

Pain and fatigue are 0–10 numeric rating scales; pressure pain thresholds (algometer) are in
kPa, at the stimulated site and at a remote site (the remote site separates a local effect
from a general one). Adverse events are a fixed list, with a free-text note for "other".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from tensctl.errors import InputError, Problem
from tensctl.model.base import StrictModel

Rating = Annotated[float, Field(ge=0, le=10)]
Pressure = Annotated[float, Field(gt=0, le=2000)]
AdverseEvent = Literal["skin_irritation", "burn", "other"]

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


def parse_outcomes(values: Mapping[str, Any] | Outcomes, source: str) -> Outcomes:
    """Validate outcome values from outside; every problem named by field."""
    if isinstance(values, Outcomes):
        return values
    try:
        return Outcomes.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "outcomes"
            found = err.get("input")
            detail = f"{err['msg']}, found {found!r}" if err["loc"] else err["msg"]
            problems.append(Problem(detail, source, path=field))
        raise InputError(problems) from None
    except TypeError as exc:
        raise InputError(
            [Problem(f"expected a mapping of outcome values: {exc}", source)]
        ) from None


def parse_outcome_text(text: str, source: str) -> Outcomes:
    """``pain_rest=3,pain_movement=5,fatigue=2[,adverse_events=skin_irritation+burn]``."""
    values: dict[str, Any] = {}
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
