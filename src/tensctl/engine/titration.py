"""The SIT titration (Sluka's sensory-intensity titration): raise the intensity until the
patient first feels it (ST), on to strong but comfortable (SC1), on to the first noxious
sensation (N) — where the output drops back to SC1 at once — then adjust down or up to
strong but comfortable again (SC2). The four values set the session's target (usually SC2)
and its ceiling (below N)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tensctl.errors import InputError, Problem
from tensctl.model.protocol import Threshold

ORDER = (Threshold.ST, Threshold.SC1, Threshold.N, Threshold.SC2)
"""The order of the marks, and of every list of thresholds shown or recorded."""

ASK = {
    Threshold.ST: "Tell me when you first feel anything.",
    Threshold.SC1: "Tell me when it is strong but still comfortable.",
    Threshold.N: "Tell me as soon as it becomes uncomfortable or painful.",
    Threshold.SC2: "Tell me when it is strong but comfortable again.",
}
"""What the therapist asks the patient before each mark."""


def ceiling_below_noxious(values: dict[Threshold, float], step_ma: float) -> float:
    """The session's ceiling from a finished titration: the highest level below N — one
    step under it, or SC2 when that is higher (N itself, the first painful level, is never
    allowed again)."""
    noxious = values[Threshold.N]
    return max(v for v in (noxious - step_ma, values[Threshold.SC2], 0.0) if v < noxious)


@dataclass
class Titration:
    channel: int
    ceiling_ma: float
    step_ma: float = 1.0
    level_ma: float = 0.0
    values: dict[Threshold, float] = field(default_factory=dict)

    @property
    def next_mark(self) -> Threshold | None:
        return next((t for t in ORDER if t not in self.values), None)

    @property
    def done(self) -> bool:
        return self.next_mark is None

    @property
    def at_ceiling(self) -> bool:
        """The level cannot go higher (↑ would change nothing)."""
        return self.level_ma >= self.ceiling_ma

    def ordered(self) -> dict[Threshold, float]:
        """The values marked so far, in the order ST, SC1, N, SC2."""
        return {t: self.values[t] for t in ORDER if t in self.values}

    def up(self, step_ma: float | None = None) -> float:
        self.level_ma = min(self.ceiling_ma, self.level_ma + self._step(step_ma))
        return self.level_ma

    def down(self, step_ma: float | None = None) -> float:
        self.level_ma = max(0.0, self.level_ma - self._step(step_ma))
        return self.level_ma

    def _step(self, step_ma: float | None) -> float:
        step = self.step_ma if step_ma is None else step_ma
        if not 0 < step <= 10:
            raise InputError([Problem(f"step must be in (0, 10] mA, found {step}", "<api>")])
        return step

    def mark(self, delivered_ma: float) -> Threshold:
        """Record ``delivered_ma`` (what the channel gives now) as the next threshold."""
        which = self.next_mark
        if which is None:
            raise InputError([Problem("titration is complete: all four values are set", "<api>")])
        problem = self._out_of_order(which, delivered_ma)
        if problem:
            raise InputError([Problem(problem, "<api>", path=f"titration.{which.value}")])
        self.values[which] = delivered_ma
        if which is Threshold.N:
            self.level_ma = min(self.level_ma, self.values[Threshold.SC1])  # back off at once
            # and never back up to N: the patient just called it painful (SC2 lies below it)
            below_n = max(self.values[Threshold.SC1], delivered_ma - self.step_ma)
            self.ceiling_ma = min(self.ceiling_ma, below_n)
        return which

    def _out_of_order(self, which: Threshold, value: float) -> str | None:
        if value <= 0:
            return f"{which.value} must be above 0 mA; raise the intensity first"
        v = self.values
        if which is Threshold.SC1 and value < v[Threshold.ST]:
            return f"SC1 ({value:g} mA) is below ST ({v[Threshold.ST]:g} mA)"
        if which is Threshold.N and value <= v[Threshold.SC1]:
            return f"N ({value:g} mA) must be above SC1 ({v[Threshold.SC1]:g} mA)"
        if which is Threshold.SC2 and value >= v[Threshold.N]:
            return f"SC2 ({value:g} mA) must be below N ({v[Threshold.N]:g} mA)"
        return None
