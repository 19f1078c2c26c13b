"""Guided SIT titration (issue 15, item 4), judged on the engine and the simulator's output:
the ceiling after a titration is the highest step below N (N itself, the first painful level,
is never allowed again) unless the operator's own ceiling is lower; ↑ at the ceiling is
refused as "at ceiling" and not recorded as an adjustment, in the titration and in the
running session; the drop to SC1 after N is on record; thresholds come out ST, SC1, N, SC2."""

from __future__ import annotations

import pytest
from helpers import device, device_output_ua, kinds, session

from tensctl.api import RunningSession
from tensctl.engine.events import SessionEvent
from tensctl.engine.titration import ORDER, Titration, ceiling_below_noxious
from tensctl.errors import SafetyRefused
from tensctl.model.protocol import Threshold

MARKS = ((Threshold.ST, 4.0), (Threshold.SC1, 12.0), (Threshold.N, 18.0), (Threshold.SC2, 14.0))


def titrate(s: RunningSession, marks: tuple[tuple[Threshold, float], ...] = MARKS) -> Titration:
    t = s.titrate(1)
    for _, level in marks:
        while t.level_ma < level and not t.at_ceiling:
            t.up()
        while t.level_ma > level:
            t.down()
        s.run_for(6)  # the slew limit lets the output reach the level
        s.mark()
    return t


def test_the_ceiling_is_one_step_below_n_and_n_is_refused() -> None:
    with device() as dev:
        s = session(dev, "burst", intensity=None)
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        t = titrate(s)
        values = s.finish_titration(Threshold.SC2)
        assert list(values) == list(ORDER)  # ST, SC1, N, SC2
        assert list(s.thresholds[1]) == list(ORDER)
        assert s.ceilings_ma[1] == pytest.approx(18.0 - t.step_ma)
        s.run_for(30)
        with pytest.raises(SafetyRefused, match="above its ceiling"):
            s.adjust(1, 18.0 - s.targets_ma[1])  # N itself: refused
        assert device_output_ua(dev) <= 17_000
        noxious = [e for e in kinds(events, "titration") if e.data["threshold"] == "N"]
        assert noxious[0].data["dropped_to_ma"] == 12.0  # back to SC1, on record
        s.close()


def test_the_operators_ceiling_holds_the_titration_and_n_stays_above_the_result() -> None:
    with device() as dev:
        s = session(dev, "burst", intensity=None, ceiling={1: 16.0})
        t = titrate(s, ((Threshold.ST, 4.0), (Threshold.SC1, 10.0)))
        while not t.at_ceiling:
            t.up()
        assert t.level_ma == 16.0  # ↑ goes no higher than the operator's ceiling
        s.run_for(6)
        s.mark()  # N at 16: the patient found the operator's ceiling painful
        assert t.level_ma == 10.0  # dropped to SC1 at once
        t.up()
        t.up()
        s.run_for(6)
        s.mark()
        s.finish_titration(Threshold.SC2)
        assert s.ceilings_ma[1] == 15.0 and s.targets_ma[1] == 12.0
        s.close()


def test_up_at_the_ceiling_is_at_ceiling_and_not_an_adjustment() -> None:
    with device() as dev:
        s = session(dev, "burst", intensity=None)
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        titrate(s)
        s.finish_titration(Threshold.SC2)
        s.run_for(30)
        ceiling = s.ceilings_ma[1]
        while s.targets_ma[1] < ceiling:
            s.adjust(1, min(1.0, ceiling - s.targets_ma[1]))
        before = len(kinds(events, "adjust"))
        with pytest.raises(SafetyRefused, match=rf"at ceiling \({ceiling:g} mA\)"):
            s.adjust(1, +1.0)
        assert len(kinds(events, "adjust")) == before  # no "17→17"
        refused = kinds(events, "refused")[-1].data
        assert refused["reason"] == "at_ceiling" and refused["target_ma"] == ceiling
        assert s.targets_ma[1] == ceiling
        s.close()


def test_down_at_zero_is_not_recorded() -> None:
    with device() as dev:
        s = session(dev, "brief-intense", intensity=1.0)
        events: list[SessionEvent] = []
        s.subscribe(events.append)
        s.run_for(5)
        s.adjust(1, -1.0)
        s.adjust(1, -1.0)
        assert [e.data["target_ma"] for e in kinds(events, "adjust")] == [0.0]
        s.close()


def test_titration_up_stops_at_its_ceiling() -> None:
    t = Titration(channel=1, ceiling_ma=3.0, step_ma=1.0)
    for _ in range(5):
        t.up()
    assert t.level_ma == 3.0 and t.at_ceiling
    t.down()
    assert not t.at_ceiling


@pytest.mark.parametrize(
    ("n", "sc2", "step", "ceiling"),
    [(18.0, 14.0, 1.0, 17.0), (18.0, 17.5, 1.0, 17.5), (2.0, 1.0, 1.0, 1.0), (10.0, 9.0, 0.5, 9.5)],
)
def test_ceiling_below_noxious(n: float, sc2: float, step: float, ceiling: float) -> None:
    values = {Threshold.ST: 0.5, Threshold.SC1: 0.9, Threshold.N: n, Threshold.SC2: sc2}
    got = ceiling_below_noxious(values, step)
    assert got == ceiling and got < n


def test_after_n_the_titration_cannot_climb_back_to_n() -> None:
    # found by a review: after ST 3, SC1 9, N 15 eight presses of ↑ reached 17 mA, above
    # the level the patient had just called painful
    t = Titration(channel=1, ceiling_ma=100.0, step_ma=1.0)
    for value in (3.0, 9.0, 15.0):
        t.level_ma = value
        t.mark(value)
    assert t.level_ma == 9.0
    for _ in range(8):
        t.up()
    assert t.level_ma == 14.0 and t.at_ceiling
    assert t.mark(t.level_ma).value == "SC2"
