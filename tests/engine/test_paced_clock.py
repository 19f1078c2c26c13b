"""The paced clock (``--speed N``): virtual time that moves only while the engine sleeps to
a deadline, paced at N× wall time. Wall time and sleeping are injected: nothing here reads
the real clock."""

from __future__ import annotations

import pytest

from tensctl.engine.clock import CATCH_UP_S, PacedClock


class Wall:
    """A wall clock that moves when slept on (and when the test says the host stalled)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_n_virtual_seconds_take_one_wall_second() -> None:
    wall = Wall()
    clock = PacedClock(10.0, wall=wall, sleep=wall.sleep)
    for k in range(1, 101):
        clock.sleep_until(k * 0.1)
    assert clock.now() == pytest.approx(10.0)
    assert wall.t - 1000.0 == pytest.approx(1.0)


def test_time_stands_still_while_the_engine_works() -> None:
    wall = Wall()
    clock = PacedClock(5.0, wall=wall, sleep=wall.sleep)
    clock.sleep_until(1.0)
    wall.t += 3.0  # the host works (or is descheduled) for 3 s of wall time
    assert clock.now() == 1.0  # no tick can be late on it: time did not run away


def test_a_late_wake_up_lands_exactly_on_its_deadline_and_a_stall_brings_no_rush() -> None:
    wall = Wall()
    clock = PacedClock(10.0, wall=wall, sleep=wall.sleep)

    def stalled_sleep(seconds: float) -> None:
        wall.sleep(seconds + 2.0)  # woken 2 s of wall time late

    clock._sleep = stalled_sleep  # type: ignore[method-assign]
    clock.sleep_until(0.1)
    assert clock.now() == 0.1
    clock._sleep = wall.sleep  # type: ignore[method-assign]
    before = wall.t
    clock.sleep_until(0.2)  # paced from where it is: one tick's worth, not 2 s of catch-up
    assert clock.now() == 0.2
    assert wall.t - before == pytest.approx(0.01)


def test_a_short_delay_is_made_up() -> None:
    wall = Wall()
    clock = PacedClock(10.0, wall=wall, sleep=wall.sleep)
    clock.sleep_until(0.1)
    wall.t += CATCH_UP_S / 2  # a little late: the pace line stays, the next sleep is shorter
    start = wall.t
    clock.sleep_until(1.0)
    assert wall.t - start == pytest.approx(0.09 - CATCH_UP_S / 2)


def test_another_thread_reads_the_time_reached_never_past_the_deadline() -> None:
    wall = Wall()
    clock = PacedClock(10.0, wall=wall, sleep=wall.sleep)
    seen: list[float] = []

    def sleep_and_look(seconds: float) -> None:
        wall.sleep(seconds / 2)
        seen.append(clock.now())  # a key pressed halfway through the sleep
        wall.sleep(seconds / 2 + 5.0)  # and the sleeper wakes very late
        seen.append(clock.now())

    clock._sleep = sleep_and_look  # type: ignore[method-assign]
    clock.sleep_until(1.0)
    assert seen[0] == pytest.approx(0.5)
    assert seen[1] == 1.0  # capped at the deadline being slept to
    assert clock.now() == 1.0


@pytest.mark.parametrize("pace", [0.0, -1.0, float("nan"), float("inf"), 101.0])
def test_a_pace_out_of_range_is_refused(pace: float) -> None:
    with pytest.raises(ValueError, match="pace"):
        PacedClock(pace)
