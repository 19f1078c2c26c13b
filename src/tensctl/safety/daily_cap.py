"""The daily cap across sessions: may a session of ``planned_s`` start when the patient has
had ``used_s`` of stimulation today, under a protocol's ``daily_cap_s``?

A pure decision over three numbers (where they come from — the record, the local calendar
day — is the caller's business): the session runs as planned, or it is planned to end at the
cap (only when the therapist asked for that, and only when enough is left for a session), or
it is refused, with the numbers in words. Anything that is not a number it can judge
refuses: the cap fails closed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

MIN_SESSION_S = 60.0
"""Ending at the cap leaves at least this much of a session; less is refused (the output
would barely have ramped up before ramping down again)."""


class Verdict(StrEnum):
    allow = "allow"  # the session runs as planned
    shorten = "shorten"  # the session is planned to end at the cap
    refuse = "refuse"


@dataclass(frozen=True)
class CapDecision:
    verdict: Verdict
    used_s: float
    planned_s: float
    cap_s: float | None
    end_s: float | None = None
    """``shorten``: where the session now ends, in its own time (pauses excluded)."""
    reason: str = ""
    """In words, with the numbers (minutes), for ``shorten`` and ``refuse``."""

    @property
    def left_s(self) -> float | None:
        """What the cap leaves for today (``None``: no cap)."""
        if self.cap_s is None:
            return None
        return max(0.0, self.cap_s - self.used_s)


def minutes(seconds: float) -> str:
    """``seconds`` as minutes, to a tenth, without a trailing ``.0``: "120", "19.5"."""
    text = f"{seconds / 60:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _number(value: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def decide(used_s: float, planned_s: float, cap_s: float | None, *, until_cap: bool) -> CapDecision:
    """The verdict on a session of ``planned_s`` after ``used_s`` today under ``cap_s``
    (``None``: the protocol has no daily cap). ``until_cap``: the therapist chose to end the
    session at the cap rather than have it refused."""
    if cap_s is None:
        return CapDecision(Verdict.allow, used_s, planned_s, None)
    for name, value in (("stimulation today", used_s), ("this session", planned_s)):
        if not _number(value) or value < 0:
            return CapDecision(
                Verdict.refuse,
                used_s,
                planned_s,
                cap_s,
                reason=f"cannot tell how long {name} is ({value!r}); not starting",
            )
    if not _number(cap_s) or cap_s <= 0:
        return CapDecision(
            Verdict.refuse,
            used_s,
            planned_s,
            cap_s,
            reason=f"the daily cap ({cap_s!r} s) is not a duration; not starting",
        )
    left_s = max(0.0, cap_s - used_s)
    numbers = (
        f"{minutes(used_s)} min of stimulation today, this session would add "
        f"{minutes(planned_s)} min, daily cap {minutes(cap_s)} min, {minutes(left_s)} min left"
    )
    if planned_s <= left_s:
        return CapDecision(Verdict.allow, used_s, planned_s, cap_s)
    if until_cap and left_s >= MIN_SESSION_S:
        return CapDecision(
            Verdict.shorten,
            used_s,
            planned_s,
            cap_s,
            end_s=left_s,
            reason=f"daily cap: {numbers}; this session ends at {minutes(left_s)} min "
            f"instead of {minutes(planned_s)} min",
        )
    if left_s <= 0:
        why = "daily cap reached"
    elif left_s < MIN_SESSION_S:
        why = f"daily cap: less than {minutes(MIN_SESSION_S)} min left, too little for a session"
    else:
        why = "daily cap: this session would go over it"
    return CapDecision(Verdict.refuse, used_s, planned_s, cap_s, reason=f"{why} ({numbers})")
