"""The operator rules of the reference (shared/reference/safety.md, "Behaviour on the output
path"), as an audit tried them (issue 13): a request above the ceiling is refused and
logged; a command the state cannot take is a clear error that changes nothing; the ceiling
drops with the target after a peel; resume never climbs on its own to a level not felt in
the last minute; reset works when — and only when — the cause is gone, and the session can
start again from 0; a phase change that could raise the r.m.s. current goes through 0.

Judged on the simulator's own output (its status and its output log), in virtual time.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from helpers import device, device_output_ua, kinds, session
from pydantic import TypeAdapter
from tenssim.scenario import ScenarioEvent

from tensctl.engine.control import may_raise_rms
from tensctl.engine.states import State
from tensctl.errors import InputError, SafetyRefused, WrongState, exit_code
from tensctl.model.loader import parse_protocol

EVENT: TypeAdapter[Any] = TypeAdapter(ScenarioEvent)


def inject(dev: Any, **event: Any) -> None:
    sim = dev.driver.device
    sim.inject(EVENT.validate_python({"at_s": 0, **event}), dev.clock.now())


def history(s: Any, kind: str) -> list[Any]:
    return kinds(list(s.hub.history), kind)


# --- rule 4: a request above the ceiling is refused and logged ----------------------------


def test_adjust_above_the_ceiling_is_refused_logged_and_changes_nothing() -> None:
    with device() as dev, session(dev, ceiling=25.0) as s:
        s.run_for(30)
        before = device_output_ua(dev)
        with pytest.raises(SafetyRefused) as caught:
            s.adjust(1, +100)
        assert "above its ceiling of 25 mA" in str(caught.value)
        assert caught.value.exit_code == exit_code("safety")
        assert s.targets_ma[1] == 15.0
        s.run_for(10)
        assert device_output_ua(dev) == before == 15_000
        refused = history(s, "refused")
        assert refused[-1].data == {
            "command": "adjust",
            "channel": 1,
            "requested_ma": 115.0,
            "ceiling_ma": 25.0,
            "target_ma": 15.0,
        }


# --- wrong-state commands: a clear error, the session and output as they were -------------


@pytest.mark.parametrize(
    ("command", "when"),
    [
        ("resume", "stimulating"),
        ("start", "stimulating"),
        ("reset", "stimulating"),
        ("pause", "ramping_down"),
        ("resume", "ramping_down"),
        ("start", "paused"),
    ],
)
def test_a_wrong_state_command_is_refused_and_the_session_goes_on(command: str, when: str) -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        if when == "ramping_down":
            s.stop()
            s.tick()
        elif when == "paused":
            s.pause()
        assert s.state.value == when
        level = device_output_ua(dev)
        with pytest.raises(WrongState) as caught:
            getattr(s, command)()
        assert f"cannot {command} while the session is {when}" in str(caught.value)
        assert caught.value.exit_code == exit_code("usage")
        assert s.state.value == when and not s.fault_detail
        assert device_output_ua(dev) <= level
        assert history(s, "refused")[-1].data == {"command": command, "state": when}
        if when == "stimulating":  # and it still runs to its end
            assert s.run() is State.completed


def test_a_raise_while_ramping_down_or_after_the_end_is_refused_and_changes_nothing() -> None:
    """A stop is not undone by ↑: while the session ramps down a raise is refused (a
    decrease still goes), and once it has ended no adjustment is taken."""
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.stop()
        s.tick()
        assert s.state is State.ramping_down
        target, level = dict(s.targets_ma), device_output_ua(dev)
        with pytest.raises(WrongState, match="ramping down to 0; its targets stay"):
            s.adjust(1, +5)
        assert s.targets_ma == target and device_output_ua(dev) <= level
        assert history(s, "refused")[-1].data == {
            "command": "adjust",
            "channel": 1,
            "state": "ramping_down",
        }
        assert s.adjust(1, -2) == target[1] - 2  # lowering is never refused
        s.run()
        assert s.state is State.completed
        with pytest.raises(WrongState, match="has ended"):
            s.adjust(1, +1)
        with pytest.raises(WrongState, match="has ended"):
            s.adjust(1, -1)
        assert device_output_ua(dev) == 0


def test_pause_is_recorded_at_the_time_it_happened() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.pause()
        paused = [e for e in history(s, "state") if e.data["state"] == "paused"]
        assert paused[-1].elapsed_s == pytest.approx(30.0, abs=0.2)


# --- a partial peel lowers the ceiling with the target ------------------------------------


def test_after_a_partial_peel_the_ceiling_drops_with_the_target() -> None:
    with device() as dev, session(dev, intensity=20.0) as s:
        s.run_for(70)  # baseline impedance after 60 s stable
        assert device_output_ua(dev) == 20_000
        inject(dev, kind="peel", channel=1, duration_s=1, area_fraction=0.6)
        s.run_for(5)
        warned = [e for e in history(s, "warning") if e.data.get("rule") == "peel"]
        assert warned and s.targets_ma[1] == 10.0
        assert s.supervisor.ceiling_ma(1) == 10.0 and s.ceilings_ma[1] == 10.0
        with pytest.raises(SafetyRefused):
            s.adjust(1, +10)  # straight back to 20 mA on 60 % of the pad: no
        s.run_for(10)
        assert device_output_ua(dev) <= 10_000


# --- resume never climbs on its own to a level not felt in the last minute ----------------


def test_resume_after_a_long_pause_starts_at_zero() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.pause()
        s.run_for(600)  # ten minutes paused (ticking: the watchdogs stay fed)
        s.resume()
        s.run_for(20)
        assert device_output_ua(dev) == 0
        warned = [e for e in history(s, "warning") if e.data.get("rule") == "resume"]
        assert "resuming at channel 1 0 mA" in warned[-1].data["message"]
        assert s.adjust(1, +3) == 3.0  # the operator raises it with the patient
        s.run_for(5)
        assert device_output_ua(dev) == 3_000


def test_short_pauses_in_a_row_do_not_climb_back_to_a_level_not_felt_lately() -> None:
    """Five pauses of 59 s with 0.3 s of output between them: after the first, no more than
    the 0.3 s slew-limited ramp (3 mA) was felt in any minute, so the output may not climb
    back to 30 mA (found by a review)."""
    with device() as dev, session(dev, protocol="conventional-hf", intensity=30.0) as s:
        s.run_for(60)
        assert device_output_ua(dev) == 30_000
        for _ in range(5):
            s.pause()
            s.run_for(59)
            s.resume()
            s.run_for(0.3)
        s.run_for(20)
        assert device_output_ua(dev) <= 3_000
        assert s.targets_ma[1] <= 3.0


def test_resume_after_a_short_pause_returns_to_the_level_just_felt() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.pause()
        s.run_for(20)
        s.resume()
        s.run_for(20)
        assert device_output_ua(dev) == 15_000


# --- reset: works when the cause is gone, and the session starts again from 0 -------------


def test_reset_after_an_emergency_stop_while_ticking_then_start_again() -> None:
    with device() as dev, session(dev) as s:
        s.run_for(30)
        s.emergency_stop()
        for _ in range(50):  # a runner keeps ticking: no e-stop may be re-sent on each tick
            s.clock.advance(0.1)  # type: ignore[attr-defined]
            s.tick()
        s.reset()
        assert s.state is State.ready and device_output_ua(dev) == 0
        s.start()
        s.run_for(10)
        assert s.state in (State.ramping_up, State.stimulating), s.fault_detail
        assert 0 < device_output_ua(dev) <= 15_000
        assert s.run() is State.completed


def test_an_open_circuit_cannot_be_reset_while_the_electrode_is_off() -> None:
    # electrode-off: channel 1 comes off at 5 s and is back on at 15 s
    with device("sim://?scenario=electrode-off") as dev, session(dev) as s:
        s.run_for(8)  # ends at the fault, 5 s
        assert s.state is State.fault and "open_circuit" in s.fault_detail
        s.clock.advance(5)  # type: ignore[attr-defined]  # past the device's own hold-off
        with pytest.raises(SafetyRefused, match="still not attached"):
            s.reset()
        assert s.state is State.fault and device_output_ua(dev) == 0
        s.clock.advance(6)  # type: ignore[attr-defined]  # electrode back on at 15 s
        s.reset()
        assert s.state is State.ready and s.checked
        mark = len(s.hub.history)
        s.start()
        s.run_for(3)
        assert s.state is State.ramping_up, s.fault_detail
        again = [e.data["amplitude_ma"] for e in kinds(list(s.hub.history)[mark:], "setpoint")]
        assert again[0] <= 1.0 and device_output_ua(dev) < 15_000  # from 0, slew-limited


# --- rule 3: a phase change that could raise the r.m.s. current goes through 0 ------------

TWO_PHASES = """
format_version: 1
id: two-phases
name: Two phases
channels:
  - id: 1
    electrodes:
      - {site: forearm_left, catalogue: square-50x50}
      - {site: forearm_left, catalogue: square-50x50}
intensity:
  target_ma: 20
phases:
  - {name: low, duration_s: 30, frequency_hz: 2, pulse_width_us: 50}
  - {name: high, duration_s: 30, frequency_hz: 100, pulse_width_us: 200}
  - {name: lower, duration_s: 30, frequency_hz: 80, pulse_width_us: 150}
session:
  max_duration_s: 90
  daily_cap_s: 3600
"""


def test_a_phase_that_raises_rms_starts_from_zero_and_one_that_lowers_it_does_not() -> None:
    with device() as dev:
        sim = dev.driver.device  # type: ignore[attr-defined]
        log: list[dict[str, Any]] = []
        sim.firmware.log, sim.firmware.logging = log.append, True
        with dev.session(parse_protocol(TWO_PHASES, "<test>"), screened=True) as s:
            assert s.run() is State.completed, s.fault_detail
    outputs = [(e["t"], e["amplitude_ua"]) for e in log if e["event"] == "output"]
    t0 = next(t for t, a in outputs if a > 0)  # the session's start on the device's clock
    at_high = [a for t, a in outputs if 30 <= t - t0 < 31]
    assert at_high and at_high[0] == 0  # 20 mA → 0 before 100 Hz / 200 µs
    rising = [a for t, a in outputs if 30 <= t - t0 < 36]
    steps = [b - a for a, b in itertools.pairwise(rising)]
    assert max(steps) <= 1000  # and back at the slew limit
    at_lower = [a for t, a in outputs if 60 <= t - t0 < 61]
    assert 0 not in at_lower  # 80 Hz / 150 µs: lower r.m.s., changed live


def test_may_raise_rms_is_false_only_when_nothing_grows() -> None:
    from tensctl.drivers.base import ChannelSettings

    base = ChannelSettings(frequency_hz=100, pulse_width_us=200)
    assert not may_raise_rms(base, ChannelSettings(frequency_hz=80, pulse_width_us=150))
    assert not may_raise_rms(base, base)
    assert may_raise_rms(base, ChannelSettings(frequency_hz=101, pulse_width_us=200))
    assert may_raise_rms(base, ChannelSettings(frequency_hz=100, pulse_width_us=201))
    assert may_raise_rms(
        base,
        ChannelSettings(
            frequency_hz=100,
            pulse_width_us=200,
            waveform="asymmetric_biphasic",
            secondary_amplitude_ratio=0.5,
            secondary_width_ratio=2.0,
        ),
    )


@pytest.mark.parametrize(
    ("channel", "delta"),
    [(True, 1.0), (1.0, 1.0), ("1", 1.0), (1, True), (1, "1"), (1, None), (1, math.nan)],
    ids=repr,
)
def test_adjust_takes_only_a_channel_id_and_a_finite_number(channel: Any, delta: Any) -> None:
    with device() as dev, session(dev) as s:
        s.run_for(10)
        with pytest.raises(InputError):
            s.adjust(channel, delta)
        assert s.targets_ma[1] == 15.0 and s.state is State.stimulating


def test_after_an_open_circuit_a_device_that_cannot_measure_the_load_is_not_reset() -> None:
    with device("sim://?scenario=electrode-off") as dev, session(dev) as s:
        s.run_for(8)
        assert "open_circuit" in s.fault_detail
        s.clock.advance(11)  # type: ignore[attr-defined]  # electrode back on at 15 s
        dev.driver.measure_impedance = lambda ch: math.nan  # type: ignore[method-assign]
        with pytest.raises(SafetyRefused, match="does not measure"):
            s.reset()
        assert s.state is State.fault
