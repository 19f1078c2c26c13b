"""Random sequences of operator actions, device faults and time steps against the engine
and the in-process simulator (virtual time). After every step:

- no output above its ceiling or the device's maximum;
- no increase faster than the slew limit (1 mA per command, 4 mA in any second);
- every output at 0 in every state but titrating, ramping and stimulating;
- a fault ends at 0 and stays latched until a reset;
- a stop always reaches 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import TypeAdapter
from tenssim.scenario import ScenarioEvent

import tensctl
from tensctl.engine.control import STOP_RAMP_S
from tensctl.engine.states import OUTPUT_STATES, State
from tensctl.errors import TensctlError

FAULTS = [
    {"kind": "electrode_off", "channel": 1},
    {"kind": "over_current", "channel": 2},
    {"kind": "short", "channel": 1},
    {"kind": "peel", "channel": 2, "duration_s": 3, "area_fraction": 0.3},
    {"kind": "link_silence", "duration_ms": 800},
    {"kind": "reboot", "offline_ms": 200},
    {"kind": "battery", "low": True},
]
EVENT: TypeAdapter[ScenarioEvent] = TypeAdapter(ScenarioEvent)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.device = tensctl.connect("sim://", virtual=True)
        self.sim = self.device.driver.device  # type: ignore[attr-defined]
        self.log: list[dict[str, Any]] = []
        self.sim.firmware.log, self.sim.firmware.logging = self.log.append, True
        self.session = self.device.session(
            "fast-fibromyalgia",
            intensity={1: 12.0, 2: 9.0},
            ceiling={1: 16.0, 2: 12.0},
            screened=True,
        )
        self.was_fault = False

    def now(self) -> float:
        return self.device.clock.now()

    def outputs(self) -> list[dict[str, Any]]:
        return self.sim.status(self.now())  # type: ignore[no-any-return]

    def attempt(self, command: Callable[[], object]) -> None:
        """Run an operator command; one the session refuses leaves its state as it was and
        no output above where it was (reference rule 4, issue 13)."""
        state, before = (
            self.session.state,
            {c["channel"]: c["amplitude_ua"] for c in self.outputs()},
        )
        try:
            command()
        except TensctlError:
            assert self.session.state is state or self.session.state is State.fault
            for ch in self.outputs():
                assert ch["amplitude_ua"] <= before[ch["channel"]]

    @rule()
    def start(self) -> None:  # in any state: a wrong-state start is refused, not a fault
        self.attempt(self.session.start)

    @rule(seconds=st.floats(0.05, 3.0))
    def time_passes(self, seconds: float) -> None:
        self.session.run_for(seconds)

    @rule(channel=st.sampled_from([1, 2]), delta=st.floats(-6, 6))
    def adjust(self, channel: int, delta: float) -> None:
        self.attempt(lambda: self.session.adjust(channel, delta))

    @rule()
    def pause(self) -> None:
        self.attempt(self.session.pause)

    @rule()
    def resume(self) -> None:
        self.attempt(self.session.resume)

    @rule()
    def stop(self) -> None:
        self.session.stop()
        if self.session.state is State.ramping_down:
            self.session.run_for(STOP_RAMP_S + 1.0)
            assert self.session.state in (State.completed, State.fault, State.stopped)
            self.assert_zero()

    @rule()
    def emergency_stop(self) -> None:
        self.session.emergency_stop()
        self.assert_zero()

    @rule(fault=st.sampled_from(FAULTS))
    def device_fault(self, fault: dict[str, Any]) -> None:
        self.sim.inject(EVENT.validate_python({**fault, "at_s": 0}), self.now())

    @rule()
    def battery_good(self) -> None:
        self.sim.inject(
            EVENT.validate_python({"kind": "battery", "low": False, "at_s": 0}), self.now()
        )

    @rule()
    def reset(self) -> None:
        self.device.clock.advance(3.5)  # type: ignore[attr-defined]
        for channel in (1, 2):
            self.sim.inject(
                EVENT.validate_python({"kind": "electrode_on", "channel": channel, "at_s": 0}),
                self.now(),
            )
            self.sim.inject(
                EVENT.validate_python(
                    {"kind": "over_current", "channel": channel, "active": False, "at_s": 0}
                ),
                self.now(),
            )
        self.attempt(self.session.reset)

    @invariant()
    def never_above_ceiling_or_device(self) -> None:
        for ch in self.outputs():
            ceiling = self.session.ceilings_ma.get(ch["channel"], 0.0)
            assert ch["amplitude_ua"] <= ceiling * 1000 + 1e-6
            assert ch["amplitude_ua"] <= self.device.profile.amplitude.max_ma * 1000

    @invariant()
    def increases_within_the_slew_limit(self) -> None:
        last: dict[int, tuple[float, int]] = {}
        rises: dict[int, list[tuple[float, int]]] = {1: [], 2: []}
        for e in self.log:
            if e["event"] != "output":
                continue
            ch, t, amp = e["channel"], e["t"], e["amplitude_ua"]
            _, before = last.get(ch, (t, 0))
            if amp > before:
                assert amp - before <= 1000
                rises[ch].append((t, amp - before))
                assert sum(step for when, step in rises[ch] if t - when < 1.0) <= 4000
            last[ch] = (t, amp)

    def assert_zero(self) -> None:
        if all(ch["amplitude_ua"] == 0 for ch in self.outputs()):
            return
        # Only a dead link can keep an output on: the host cannot reach the device, and the
        # device's own watchdog must zero it within its period of the last frame it took.
        detail = self.session.fault_detail
        assert "not acknowledged" in detail or "link_lost" in detail, self.session.state
        firmware = self.sim.firmware
        assert self.now() < firmware.last_valid_s + firmware.limits.watchdog_s

    @invariant()
    def zero_outside_the_output_states(self) -> None:
        if self.session.state not in OUTPUT_STATES:
            self.assert_zero()

    @invariant()
    def faults_latch(self) -> None:
        if self.was_fault:
            assert self.session.state in (State.fault, State.stopped, State.ready)
        self.was_fault = self.session.state is State.fault

    def teardown(self) -> None:
        self.session.close()
        self.device.clock.advance(1.0)  # type: ignore[attr-defined]  # a dead link: the watchdog
        assert all(ch["amplitude_ua"] == 0 for ch in self.outputs())
        self.device.close()


SessionMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSession = SessionMachine.TestCase
