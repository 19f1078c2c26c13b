"""The runtime supervisor: each interlock trips, and resets only the right way.

Sweeps in the style of the static checks: amplitudes from below 0 to 1.5× the ceiling, in
every slew state, and exactly the legal set comes out."""

from __future__ import annotations

import math

import pytest
from builders import device, reading

from tensctl.safety.supervisor import (
    HOST_SLEW_WINDOW_S,
    Action,
    Supervisor,
    watchdog_expired,
)

CEILING = 30.0


def fresh() -> Supervisor:
    return Supervisor(device(), {1: CEILING, 2: CEILING})


@pytest.mark.parametrize("wanted", [x / 2 for x in range(-4, int(CEILING * 1.5 * 2) + 1)])
def test_first_command_never_exceeds_one_step_or_the_ceiling(wanted: float) -> None:
    s = fresh()
    allowed = s.limit(1, wanted, 0.0)
    assert allowed == min(max(wanted, 0.0), s.step_ma)


@pytest.mark.parametrize("sent", [0.0, 5.0, 29.5, 30.0])
@pytest.mark.parametrize("wanted", [-1.0, 0.0, 2.0, 29.9, 30.0, 31.0, 45.0, math.nan, math.inf])
def test_decreases_are_immediate_and_increases_bounded(sent: float, wanted: float) -> None:
    s = fresh()
    s.guards[1].sent_ma = sent
    allowed = s.limit(1, wanted, 100.0)
    legal = 0.0 if not math.isfinite(wanted) else min(max(wanted, 0.0), CEILING)
    if legal <= sent:
        assert allowed == pytest.approx(legal, abs=s.resolution_ma)
    else:
        assert allowed == pytest.approx(min(legal, sent + s.step_ma), abs=s.resolution_ma)
    assert 0.0 <= allowed <= CEILING


def test_rate_limit_over_the_window_and_its_reset() -> None:
    s = fresh()
    t, level = 0.0, 0.0
    for _ in range(4):  # 4 mA within the window: the budget is spent
        level = s.limit(1, 20.0, t)
        s.sent(1, level, t)
        t += 0.1
    assert level == 4.0
    assert s.limit(1, 20.0, t) == 4.0  # nothing more until the window moves on
    later = HOST_SLEW_WINDOW_S + 0.01
    assert s.limit(1, 20.0, later) == 5.0  # the oldest increase has left the window


def test_resolution_rounds_down_never_up() -> None:
    s = fresh()
    assert s.resolution_ma == 0.001
    assert s.limit(1, 0.4567891, 0.0) == 0.456


def test_zeroed_forgets_the_history() -> None:
    s = fresh()
    s.sent(1, 1.0, 0.0)
    s.guards[1].baseline_ohm[200] = 1000.0
    s.zeroed(1)
    assert s.guards[1].sent_ma == 0.0 and not s.guards[1].baseline_ohm
    assert s.guards[1].increases == type(s.guards[1].increases)()
    s.sent(1, 0.5, 0.0)
    s.sent(1, 0.2, 0.1)  # a decrease records no increase
    assert sum(step for _, step in s.guards[1].increases) == 0.5


def test_ceiling_is_never_above_the_device() -> None:
    s = Supervisor(device(), {1: 500.0})
    assert s.ceiling_ma(1) == device().amplitude.max_ma


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"impedance_ohm": math.inf}, "open_circuit"),
        ({"impedance_ohm": 10_001.0}, "open_circuit"),
        ({"delivered_ma": 0.0}, "open_circuit"),
        ({"delivered_ma": 20 * 1.1 + 1.01}, "over_current"),
        ({"delivered_ma": 15.9}, "compliance"),
        ({"delivered_ma": 0.5}, "compliance"),  # a little is measured: not an open circuit
        ({"frequency_hz": 121.0}, "mismatch"),
        ({"pulse_width_us": 159.0}, "mismatch"),
    ],
)
def test_each_telemetry_interlock_trips(changes: dict[str, float], rule: str) -> None:
    s = fresh()
    verdict = s.judge(1, reading(**changes), 100.0, 200.0)
    assert verdict.action is Action.trip and verdict.rule == rule


@pytest.mark.parametrize(
    "changes",
    [
        {"impedance_ohm": 10_000.0},
        {"delivered_ma": 20 * 1.1 + 1.0},
        {"delivered_ma": 16.0},
        {"frequency_hz": 120.0},
        {"pulse_width_us": 160.0},
        {"commanded_ma": 0.9, "delivered_ma": 0.0, "impedance_ohm": 2000.0},
        {"commanded_ma": 1.0, "delivered_ma": 0.0, "impedance_ohm": 2000.0},
    ],
)
def test_at_the_limits_nothing_trips(changes: dict[str, float]) -> None:
    assert fresh().judge(1, reading(**changes), 100.0, 200.0).action is Action.ok


def test_output_off_or_zero_is_not_judged() -> None:
    s = fresh()
    assert s.judge(1, reading(on=False, impedance_ohm=math.inf)).action is Action.ok
    assert s.judge(1, reading(commanded_ma=0.0, impedance_ohm=math.inf)).action is Action.ok


def test_parameters_are_not_compared_without_an_expectation() -> None:
    s = fresh()
    assert s.judge(1, reading(frequency_hz=3.0)).action is Action.ok
    assert s.judge(2, reading(frequency_hz=3.0), expected_frequency_hz=0.0).action is Action.ok


def test_peel_halves_once_at_one_and_a_half_then_trips_at_twice() -> None:
    s = fresh()
    assert s.judge(1, reading(impedance_ohm=2000.0)).action is Action.ok  # the baseline
    assert s.judge(1, reading(impedance_ohm=2999.0)).action is Action.ok
    halve = s.judge(1, reading(impedance_ohm=3000.0))
    assert halve.action is Action.halve and halve.rule == "peel"
    assert s.judge(1, reading(impedance_ohm=3500.0)).action is Action.ok  # halved already
    trip = s.judge(1, reading(impedance_ohm=4000.0))
    assert trip.action is Action.trip and trip.rule == "peel"


def test_peel_baseline_resets_only_when_the_channel_is_zeroed() -> None:
    s = fresh()
    s.judge(1, reading(impedance_ohm=2000.0))
    s.judge(1, reading(impedance_ohm=3100.0))
    assert s.guards[1].halved
    s.zeroed(1)
    assert s.judge(1, reading(impedance_ohm=3100.0)).action is Action.ok  # new baseline
    assert s.judge(1, reading(impedance_ohm=4000.0)).action is Action.ok


def test_peel_compares_impedance_at_the_same_pulse_width() -> None:
    s = fresh()
    assert s.judge(1, reading(impedance_ohm=1000.0, pulse_width_us=50.0)).action is Action.ok
    # a wider pulse sees more of the skin's capacitance: a higher reading, not a peel
    assert s.judge(1, reading(impedance_ohm=2200.0, pulse_width_us=200.0)).action is Action.ok
    assert s.judge(1, reading(impedance_ohm=1100.0, pulse_width_us=50.0)).action is Action.ok
    trip = s.judge(1, reading(impedance_ohm=4400.0, pulse_width_us=200.0))
    assert trip.action is Action.trip and trip.rule == "peel"


@pytest.mark.parametrize(
    ("gap_s", "expired"), [(0.0, False), (0.25, False), (0.2501, True), (5.0, True)]
)
def test_host_watchdog(gap_s: float, expired: bool) -> None:
    assert watchdog_expired(10.0, 10.0 + gap_s) is expired


@pytest.mark.parametrize(
    ("gap_s", "speed", "expired"),
    [(1.25, 5.0, False), (1.2505, 5.0, True), (0.125, 0.5, False), (0.1251, 0.5, True)],
)
def test_host_watchdog_is_judged_in_real_time_on_a_scaled_clock(
    gap_s: float, speed: float, expired: bool
) -> None:
    # at --speed 5, 1.25 s of the session's clock pass in 250 ms of real time
    assert watchdog_expired(10.0, 10.0 + gap_s, speed) is expired


@pytest.mark.parametrize(
    ("last_s", "now_s", "speed"),
    [(10.0, math.nan, 1.0), (math.nan, 10.0, 1.0), (10.0, 10.1, math.nan)],
)
def test_host_watchdog_has_expired_when_time_is_not_a_number(
    last_s: float, now_s: float, speed: float
) -> None:
    assert watchdog_expired(last_s, now_s, speed)


def test_rate_limit_holds_at_any_clock_value() -> None:
    s = fresh()
    t, level = 1000.0, 0.0
    for _ in range(6):  # six increases within 0.6 s: only four fit the budget
        level = s.limit(1, 20.0, t)
        s.sent(1, level, t)
        t += 0.1
    assert level == 4.0


def test_an_increase_leaves_the_window_after_exactly_its_length() -> None:
    s = fresh()
    for t in (0.0, 0.1, 0.2, 0.3):
        s.sent(1, s.limit(1, 20.0, t), t)
    assert s.limit(1, 20.0, 0.3 + HOST_SLEW_WINDOW_S / 2) == 4.0
    assert s.limit(1, 20.0, HOST_SLEW_WINDOW_S) == 5.0  # the first step is 1.1 s old


def test_zeroed_rearms_the_peel_halving() -> None:
    s = fresh()
    s.judge(1, reading(impedance_ohm=2000.0))
    assert s.judge(1, reading(impedance_ohm=3000.0)).action is Action.halve
    s.zeroed(1)
    s.judge(1, reading(impedance_ohm=2000.0))  # a new baseline
    assert s.judge(1, reading(impedance_ohm=3000.0)).action is Action.halve


def test_open_circuit_trips_at_low_commanded_current() -> None:
    low = reading(commanded_ma=0.5, delivered_ma=0.5, impedance_ohm=math.inf)
    assert fresh().judge(1, low).action is Action.trip


def test_mismatch_is_checked_down_to_the_lowest_frequency() -> None:
    # 1 Hz is a legal frequency (frequency_min_hz); a device running 2 Hz instead trips
    verdict = fresh().judge(1, reading(frequency_hz=2.0), expected_frequency_hz=1.0)
    assert verdict.action is Action.trip and verdict.rule == "mismatch"


NOT_MEASURED = math.nan


def test_a_device_that_measures_no_current_or_load_is_judged_on_what_it_reports() -> None:
    """Hasomed devices report neither current nor impedance (nan): the load rules have
    nothing to judge, so they pass, and the parameter rules still apply."""
    s = fresh()
    blind = {"delivered_ma": NOT_MEASURED, "impedance_ohm": NOT_MEASURED}
    for _ in range(3):
        assert s.judge(1, reading(**blind)).action is Action.ok
    assert s.guards[1].baseline_ohm == {}  # no baseline from a reading that was not taken
    mismatch = s.judge(1, reading(**blind, frequency_hz=50.0), expected_frequency_hz=100.0)
    assert mismatch.action is Action.trip and mismatch.rule == "mismatch"


def test_an_unmeasured_current_does_not_hide_a_measured_open_circuit() -> None:
    s = fresh()
    trip = s.judge(1, reading(delivered_ma=NOT_MEASURED, impedance_ohm=math.inf))
    assert trip.action is Action.trip and trip.rule == "open_circuit"


def test_an_unmeasured_load_does_not_hide_a_measured_current() -> None:
    s = fresh()
    for delivered, rule in ((0.0, "open_circuit"), (40.0, "over_current"), (10.0, "compliance")):
        verdict = s.judge(1, reading(delivered_ma=delivered, impedance_ohm=NOT_MEASURED))
        assert verdict.action is Action.trip and verdict.rule == rule
