"""The daily cap decision (safety/daily_cap.py), swept like the other limits: used time,
planned time and cap from below 0 to 1.5 × their range, and exactly the legal set passes —
judged by an oracle written here from the rule in words, not from the code."""

from __future__ import annotations

import math
from typing import Any

import pytest
from oracle import sweep

from tensctl.safety.daily_cap import MIN_SESSION_S, Verdict, decide, minutes

CAP_S = 7200.0
PLANNED_S = 1800.0
NOT_NUMBERS: list[Any] = [math.nan, math.inf, -math.inf, True, "60", None, -1.0]


def expected(used_s: float, planned_s: float, cap_s: float, until_cap: bool) -> Verdict:
    """The rule, in words: a session that fits in what is left of today's cap runs; one that
    does not is refused, unless the therapist chose to end it at the cap and at least a
    minute is left; anything that is not a duration ≥ 0 (a cap > 0) is refused."""
    if used_s < 0 or planned_s < 0 or cap_s <= 0:
        return Verdict.refuse
    left = cap_s - used_s if cap_s > used_s else 0.0
    if used_s + planned_s <= cap_s or planned_s <= left:
        return Verdict.allow
    return Verdict.shorten if until_cap and left >= 60.0 else Verdict.refuse


@pytest.mark.parametrize("until_cap", [False, True])
def test_used_time_swept_lets_exactly_the_fitting_sessions_through(until_cap: bool) -> None:
    boundaries = (CAP_S - PLANNED_S, CAP_S - MIN_SESSION_S)
    for used in sweep(CAP_S, boundaries):
        decision = decide(used, PLANNED_S, CAP_S, until_cap=until_cap)
        assert decision.verdict is expected(used, PLANNED_S, CAP_S, until_cap), used
        if decision.verdict is Verdict.shorten:
            assert decision.end_s == pytest.approx(CAP_S - used)
            assert decision.end_s is not None and MIN_SESSION_S <= decision.end_s < PLANNED_S
            assert used + decision.end_s == pytest.approx(CAP_S)  # it ends at the cap
        else:
            assert decision.end_s is None


@pytest.mark.parametrize("until_cap", [False, True])
def test_planned_time_and_cap_swept(until_cap: bool) -> None:
    used = 5400.0
    for planned in sweep(PLANNED_S, (CAP_S - used,)):
        got = decide(used, planned, CAP_S, until_cap=until_cap).verdict
        assert got is expected(used, planned, CAP_S, until_cap), planned
    for cap in sweep(CAP_S, (used + PLANNED_S, used + MIN_SESSION_S)):
        got = decide(used, PLANNED_S, cap, until_cap=until_cap).verdict
        assert got is expected(used, PLANNED_S, cap, until_cap), cap


def test_the_sixth_half_hour_under_two_hours_is_refused_with_the_numbers() -> None:
    used = 0.0
    verdicts = []
    for _ in range(6):
        decision = decide(used, PLANNED_S, CAP_S, until_cap=False)
        verdicts.append(decision.verdict)
        if decision.verdict is Verdict.allow:
            used += PLANNED_S
    assert verdicts == [Verdict.allow] * 4 + [Verdict.refuse] * 2
    refused = decide(used, PLANNED_S, CAP_S, until_cap=True)
    assert refused.verdict is Verdict.refuse and refused.left_s == 0.0
    assert refused.reason == (
        "daily cap reached (120 min of stimulation today, this session would add 30 min, "
        "daily cap 120 min, 0 min left)"
    )


def test_words_for_going_over_and_for_ending_at_the_cap() -> None:
    over = decide(6000.0, PLANNED_S, CAP_S, until_cap=False)
    assert over.verdict is Verdict.refuse and over.left_s == 1200.0
    assert "would go over" in over.reason and "100 min" in over.reason
    assert "20 min left" in over.reason and "add 30 min" in over.reason
    cut = decide(6000.0, PLANNED_S, CAP_S, until_cap=True)
    assert cut.verdict is Verdict.shorten and cut.end_s == 1200.0
    assert cut.reason.endswith("this session ends at 20 min instead of 30 min")
    little = decide(CAP_S - 30.0, PLANNED_S, CAP_S, until_cap=True)
    assert little.verdict is Verdict.refuse and "less than 1 min left" in little.reason
    assert "0.5 min left" in little.reason


def test_no_cap_lets_everything_through() -> None:
    for used in (0.0, 1e9):
        decision = decide(used, PLANNED_S, None, until_cap=False)
        assert decision.verdict is Verdict.allow and decision.left_s is None


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=repr)
def test_what_is_not_a_duration_refuses(bad: Any) -> None:
    for args in ((bad, PLANNED_S, CAP_S), (0.0, bad, CAP_S), (0.0, PLANNED_S, bad)):
        if args[2] is None:  # no cap is a protocol without one, not a bad value
            continue
        for until_cap in (False, True):
            decision = decide(*args, until_cap=until_cap)
            assert decision.verdict is Verdict.refuse, args
            assert "not starting" in decision.reason
    assert decide(0.0, PLANNED_S, 0.0, until_cap=True).verdict is Verdict.refuse


def test_minutes_are_written_to_a_tenth() -> None:
    assert [minutes(s) for s in (7200.0, 1170.0, 30.0, 0.0)] == ["120", "19.5", "0.5", "0"]
