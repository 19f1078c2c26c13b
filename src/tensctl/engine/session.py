"""A stimulation session: the state machine and what the operator can do — connect, check,
titrate, start, adjust, pause, resume, stop, emergency stop, reset.

The checks before current flows return a :class:`~tensctl.engine.plan.Plan`
(:mod:`~tensctl.engine.checks`); the run itself — ticks, heartbeats, the supervisor, the
device's telemetry — is a :class:`~tensctl.engine.control.RunController`, which answers with
the transitions and faults this class acts on. Every state event comes from the machine's
own callbacks (``entered``, first on entering any state). An exception in any state callback
makes the machine stop every output and latch a fault (``on_exception``). Thread-safe: an
emergency stop goes to the device before it takes any lock (see :mod:`tensctl.engine`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from transitions import EventData

from tensctl.drivers.base import DeviceInfo, Driver
from tensctl.drivers.errors import CommandRefused, DriverError, LinkLost
from tensctl.engine import checks
from tensctl.engine.clock import Clock
from tensctl.engine.control import LATCHED, DeviceReported, RunController
from tensctl.engine.events import EventHub, Listener, SessionEvent
from tensctl.engine.plan import Orders, Plan, SafetyInputs
from tensctl.engine.states import OUTPUT_STATES, State, Trigger, build_machine, sources
from tensctl.engine.timeline import Timeline
from tensctl.engine.titration import Titration, ceiling_below_noxious
from tensctl.errors import InputError, Problem, SafetyRefused, WrongState
from tensctl.model.device import DeviceProfile
from tensctl.model.electrodes import Electrode
from tensctl.model.protocol import Protocol, Threshold
from tensctl.safety.limits import limit
from tensctl.safety.supervisor import Supervisor

TERMINAL = frozenset({State.completed, State.fault, State.stopped})
RESUME_MEMORY_S = 60.0
"""A level not felt for this long is not gone back to on its own (resume after a long pause
starts at 0 and the operator raises it with the patient)."""
ELECTRODE_FAULTS = frozenset({"open_circuit", "peel", "compliance"})
"""Faults the host detects from the load: a reset needs the host's own measurement."""
OPERATOR_OVERRIDES = frozenset({"", "stopped_by_user", "completed"})
"""End reasons an operator's emergency stop replaces: it cut the ramp-down short."""
CEILING_TOLERANCE_MA = 1e-6  # float noise in summed steps must not refuse a legal request


class Session:
    state: State
    trigger: Callable[..., bool]  # added by the state machine

    def __init__(
        self,
        driver: Driver,
        protocol: Protocol,
        device: DeviceProfile,
        clock: Clock,
        *,
        patient: str | None = None,
        intensity_ma: Mapping[int, float] | None = None,
        ceiling_ma: Mapping[int, float] | None = None,
        thresholds: Mapping[int, Mapping[Threshold, float]] | None = None,
        screened: bool = False,
        electrodes: Mapping[int, Sequence[Electrode]] | None = None,
        acknowledged: Collection[str] = (),
        virtual: bool = False,
    ) -> None:
        self.driver, self.protocol, self.device, self.clock = driver, protocol, device, clock
        self.patient, self.virtual = patient, virtual
        ids = [c.id for c in protocol.channels]
        for name, values in (("intensity", intensity_ma), ("ceiling", ceiling_ma)):
            unknown = sorted(set(values or {}) - set(ids))
            if unknown:
                message = f"no channel {unknown[0]} in protocol '{protocol.id}' (channels: {ids})"
                raise InputError([Problem(message, f"--{name}")])
        self.channels = ids
        self.orders = Orders(
            SafetyInputs(protocol, device, electrodes, acknowledged),
            dict(intensity_ma or {}),
            dict(ceiling_ma or {}),
            {ch: dict(v) for ch, v in (thresholds or {}).items()},
            screened,
        )
        self.plan = Plan.unchecked(protocol, device)
        self.hub = EventHub()
        self.lock = threading.RLock()
        self.info: DeviceInfo | None = None
        self.titration: Titration | None = None
        self.end_reason = ""
        self.fault_detail = ""
        self._cause_lock = threading.Lock()
        self._cause: tuple[str, str] | None = None  # the first fault claimed, until a reset
        self.control = self._new_run()
        self.machine = build_machine(self, on_exception="_on_exception")
        self.health: list[Callable[[], str | None]] = []  # e.g. "the record cannot be written"

    def _new_run(self) -> RunController:
        return RunController(
            self.driver,
            self.protocol,
            self.device,
            self.clock,
            self.emit,
            self.plan,
            virtual=self.virtual,
        )

    # ---- what the run is at (read-only views) ------------------------------------------

    @property
    def screened(self) -> bool:
        return self.orders.screened

    @property
    def thresholds(self) -> Mapping[int, Mapping[Threshold, float]]:
        return self.orders.thresholds

    @property
    def checked(self) -> bool:
        """The checks passed with every target known: the session may start."""
        return self.plan.complete

    @property
    def targets_ma(self) -> Mapping[int, float]:
        return self.control.targets_ma

    @property
    def ceilings_ma(self) -> Mapping[int, float]:
        return self.control.ceilings_ma

    @property
    def supervisor(self) -> Supervisor:
        return self.control.supervisor

    @property
    def timeline(self) -> Timeline:
        return self.control.timeline

    def unhealthy(self) -> str | None:
        """The first problem a health check reports (it faults a running session)."""
        return next((p for p in (check() for check in self.health) if p), None)

    # ---- events ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self.hub.subscribe(listener)

    def events(self) -> Iterator[SessionEvent]:
        return self.hub.iterate()

    def emit(self, kind: str, /, **data: Any) -> None:
        self.hub.emit(SessionEvent(kind, self.control.elapsed_s(), data))

    def elapsed_s(self) -> float:
        return self.control.elapsed_s()

    def late_ms(self, now: float) -> float | None:
        """How late the due tick is (ms of real time) once the host watchdog expired."""
        return self.control.late_ms(self.state, now)

    # ---- the tick ------------------------------------------------------------------------

    def tick(self) -> None:
        """One supervisor tick (a runner calls this at least every 100 ms): the host
        watchdog, the record's health, then the run's step; the next tick scheduled."""
        with self.lock:
            now = self.clock.now()
            late = self.control.late_ms(self.state, now)
            if late is not None:
                self.fault("host_watchdog", f"the supervisor tick is {late:.0f} ms late")
                return
            watched = self.state in OUTPUT_STATES or self.state is State.paused
            problem = self.unhealthy() if watched else None
            if problem is not None:
                self.fault("record", problem)
                return
            self._guarded(self._step, now)
            self.control.schedule(self.state, now)  # after the step: it knows what was sent

    def _step(self, now: float) -> None:
        run = self.control
        level = (self.titration.channel, self.titration.level_ma) if self.titration else None
        reached = run.advance(self.state, now, level)
        if reached is Trigger.finish:
            self.end_reason = self.end_reason or "completed"
            self.fire(Trigger.finish)
            reached = run.advance(self.state, now, None)  # the ramp down begins at once
        if reached is not None:
            self.fire(reached)
            if reached is Trigger.ramped_down:
                return
        run.keep_alive(self.state, now)
        verdict = run.watch(self.state, now)
        if verdict is not None:
            self.fault(verdict.rule, verdict.message)

    def _guarded(self, action: Callable[..., object], *args: Any) -> None:
        """Run ``action``; if the device cannot be reached or refuses, the output is no
        longer provably within limits: latch a fault (every output to 0)."""
        try:
            action(*args)
        except (DriverError, LinkLost, DeviceReported, InputError) as exc:
            self.fault(*_fault_of(exc))

    # ---- the machine's callbacks (by name: states.py); exceptions → _on_exception --------

    def entered(self, event: EventData) -> None:
        """First on entering any state: the state event of this transition."""
        previous = event.transition.source if event.transition is not None else ""
        if self.state in TERMINAL:  # the session's time stops with it (prompts may follow)
            self.control.end_clock(self.clock.now())
        self.emit("state", state=self.state.value, previous=previous)

    def begin_titration(self, event: EventData) -> None:
        assert self.titration is not None
        self.control.begin_titration(self.titration.channel, self.clock.now())

    def end_titration(self, event: EventData) -> None:
        assert self.titration is not None
        self.control.end_titration(self.titration.channel)

    def begin_run(self, event: EventData) -> None:
        self.control.begin(self.clock.now())

    def run_completed(self, event: EventData) -> None:
        self.driver.stop(self.channels)
        self.end_reason = self.end_reason or "completed"
        self.emit("end", reason=self.end_reason)

    def pause_begins(self, event: EventData) -> None:
        self.control.pause_clock(self.clock.now())

    def pause_ends(self, event: EventData) -> None:
        self.control.resume_clock(self.clock.now())

    def fire(self, trigger: Trigger) -> None:
        with self.lock:
            self.trigger(trigger.value)

    # ---- guards (named in the transitions table) ---------------------------------------

    def is_checked(self, event: EventData | None = None) -> bool:
        return self.checked

    def device_reset(self, event: EventData | None = None) -> bool:
        try:
            self.driver.reset_fault(self.channels)
        except DriverError as exc:
            self.emit("warning", rule="reset", message=str(exc))
            return False
        return True

    # ---- before current flows ----------------------------------------------------------

    def connect(self, info: DeviceInfo | None = None) -> DeviceInfo:
        """Check the device against its profile: ``info`` as it identified itself when it
        was connected, or asked now (the device is identified once per connection)."""
        info = info if info is not None else self.driver.identify()
        checks.match_profile(info, self.device, len(self.channels))
        self.info = info
        self.driver.events()  # what happened before this session (the power-up greeting)
        self.fire(Trigger.connect)
        return info

    def check(self) -> None:
        """Impedance, contraindication gate, static safety check at the targets; then the
        ceilings. Refusals raise :class:`SafetyRefused` and leave the session connected."""
        self.fire(Trigger.check)
        try:
            plan = checks.run(self.orders, self.driver, self.emit)
        except Exception:
            self.plan = Plan.unchecked(self.protocol, self.device)
            self.fire(Trigger.checks_failed)
            raise
        self.plan = plan
        self.control.adopt(plan)
        self.fire(Trigger.checks_passed)

    shortened: str | None = None
    """Why the session was planned to end before its protocol does, in words (the cap)."""

    def end_early(self, end_s: float, message: str) -> None:
        """Plan the session to end at ``end_s`` of its own time (pauses excluded), before its
        protocol does, ramping down to 0 by then — the daily cap, the therapist choosing.
        ``message`` says so, in the record and in :attr:`shortened`. Before the start only;
        checks that had passed run again."""
        with self.lock:
            if self.state not in (State.connected, State.ready):
                raise WrongState(
                    f"the end of a session is planned before it starts (it is {self.state.value})"
                )
            self.orders = replace(self.orders, end_s=end_s)
            self.shortened = message
            self.emit("warning", rule="daily_cap", message=message, end_s=end_s)
        if self.state is State.ready:
            self.check()

    # ---- operator actions ----------------------------------------------------------------

    def titrate(self, channel: int) -> Titration:
        if channel not in self.channels:
            raise InputError([Problem(f"no channel {channel} in this protocol", "<api>")])
        with self.lock:
            others = {ch: 0.0 for ch in self.channels if ch != channel}
            upper = self.orders.upper_ma(channel)
            top = self.orders.safety.checked_ceiling(channel, upper, others)
            self.titration = Titration(channel, top, step_ma=self.supervisor.step_ma)
            self.fire(Trigger.titrate)
            return self.titration

    def mark(self) -> Threshold:
        """Record what the titrated channel delivers now as the next SIT threshold."""
        with self.lock:
            if self.titration is None or self.state is not State.titrating:
                raise InputError([Problem("no titration is running", "<api>")])
            t = self.titration
            which = t.mark(self.control.sent_ma[t.channel])
            dropped = {"dropped_to_ma": t.level_ma} if which is Threshold.N else {}
            self.emit(
                "titration",
                channel=t.channel,
                threshold=which.value,
                amplitude_ma=t.values[which],
                **dropped,  # the output went back to SC1 at once: the record says so
            )
            return which

    def finish_titration(self, use: Threshold | None = None) -> dict[Threshold, float]:
        """End the titration (all four values marked): output to 0, thresholds stored, and
        the checks run again with them. ``use`` makes that threshold the channel's target.
        The channel's ceiling becomes the highest level below N (one step under it), or
        the operator's own ceiling when that is lower. Returns the values, ST, SC1, N, SC2."""
        with self.lock:
            t = self.titration
            if t is None or not t.done:
                raise InputError([Problem("mark ST, SC1, N and SC2 first", "<api>")])
            orders = self.orders
            intensity = dict(orders.intensity_ma)
            if use is not None:
                intensity[t.channel] = t.values[use]
            below_n = ceiling_below_noxious(t.values, t.step_ma)
            ceiling = dict(orders.ceiling_ma)
            ceiling[t.channel] = min(ceiling.get(t.channel, math.inf), below_n)
            self.orders = replace(
                orders,
                intensity_ma=intensity,
                ceiling_ma=ceiling,
                thresholds={**orders.thresholds, t.channel: t.ordered()},
            )
            self.fire(Trigger.titration_done)
            self.titration = None
        self.check()
        return t.ordered()

    def require(self, trigger: Trigger, command: str) -> None:
        """Refuse (and record) an operator command the present state cannot take: the
        session and its output stay as they were."""
        allowed = sources(trigger)
        if self.state in allowed:
            return
        where = ", ".join(state.value for state in allowed)
        self.emit("refused", command=command, state=self.state.value)
        raise WrongState(
            f"cannot {command} while the session is {self.state.value} "
            f"({command} works when it is {where})"
        )

    def start(self) -> None:
        with self.lock:
            self.require(Trigger.start, "start")
            if not self.checked:
                raise SafetyRefused(
                    "the session has not passed its checks (titrate or check first)"
                )
            problem = self.unhealthy()
            if problem is not None:
                raise SafetyRefused(f"not starting: {problem}")
            self.fire(Trigger.start)

    def pause(self) -> None:
        """Every output to 0, the protocol's clock held (the machine's callbacks keep it)."""
        with self.lock:
            self.require(Trigger.pause, "pause")
            self.fire(Trigger.pause)
            self._guarded(self.control.zero)

    def resume(self) -> None:
        """Back to the protocol after a pause. No channel climbs on its own above the most
        it delivered in the last minute (after a long pause that is 0, however the pauses
        came): the operator raises it again with the patient."""
        with self.lock:
            self.require(Trigger.resume, "resume")
            now = self.clock.now()
            paused_s = self.control.paused_for_s(now)
            lowered = self.control.cap_to_felt(now, RESUME_MEMORY_S)
            if lowered:
                targets = self.control.targets_ma
                was = ", ".join(f"channel {ch} {v:g} mA" for ch, v in lowered.items())
                now_at = ", ".join(f"channel {ch} {targets[ch]:g} mA" for ch in lowered)
                self.emit(
                    "warning",
                    rule="resume",
                    message=f"paused {paused_s / 60:.1f} min: resuming at {now_at}, the most "
                    f"felt in the last minute; raise it with the patient (it was {was})",
                    previous_ma=lowered,
                )
            self.fire(Trigger.resume)

    def stop(self) -> None:
        """Ramp down to 0 and end the session (stopped by the user)."""
        with self.lock:
            if self.state in (State.ramping_up, State.stimulating, State.paused):
                self.end_reason = "stopped_by_user"
                self.control.begin_ramp_down(self.clock.now())
                self.fire(Trigger.stop)

    def adjust(self, channel: int, delta_ma: float) -> float:
        """Raise or lower one channel's target (within its ceiling); a decrease goes out at
        once, an increase at the slew limit. Returns the new target."""
        if (
            isinstance(channel, bool)
            or not isinstance(channel, int)
            or channel not in self.channels
        ):
            known = ", ".join(str(ch) for ch in self.channels)
            raise InputError(
                [Problem(f"no channel {channel!r} (channels: {known})", "<api>", path="channel")]
            )
        if (
            isinstance(delta_ma, bool)
            or not isinstance(delta_ma, int | float)
            or not math.isfinite(delta_ma)
        ):
            raise InputError(
                [
                    Problem(
                        f"expected a finite number of mA, found {delta_ma!r}",
                        "<api>",
                        path="delta_ma",
                    )
                ]
            )
        with self.lock:
            ending = self.state is State.ramping_down and delta_ma > 0
            if self.state in (State.completed, State.stopped, State.fault) or ending:
                # a stop is not undone by a raise, and an ended session has no target to move;
                # a decrease while ramping down only lowers what is going to 0 anyway
                self.emit("refused", command="adjust", channel=channel, state=self.state.value)
                said = "is ramping down to 0" if ending else f"has ended ({self.state.value})"
                raise WrongState(f"cannot adjust: the session {said}; its targets stay")
            if channel not in self.targets_ma:
                raise InputError([Problem(f"channel {channel} has no target yet", "<api>")])
            old = self.targets_ma[channel]
            wanted, ceiling = old + delta_ma, self.supervisor.ceiling_ma(channel)
            at_ceiling = delta_ma > 0 and old >= ceiling - CEILING_TOLERANCE_MA
            if at_ceiling or wanted > ceiling + CEILING_TOLERANCE_MA:
                # nothing changes: a refusal on record, never an adjustment "22→22"
                self.emit(
                    "refused",
                    command="adjust",
                    channel=channel,
                    requested_ma=wanted,
                    ceiling_ma=ceiling,
                    target_ma=old,
                    **({"reason": "at_ceiling"} if at_ceiling else {}),
                )
                if at_ceiling:
                    raise SafetyRefused(f"channel {channel}: at ceiling ({ceiling:g} mA)")
                raise SafetyRefused(
                    f"channel {channel}: {wanted:g} mA is above its ceiling of {ceiling:g} mA; "
                    f"the target stays at {old:g} mA"
                )
            new = min(max(0.0, wanted), ceiling)
            if new == old:
                return old  # ↓ at 0: nothing to record
            self.control.set_target(channel, new)
            self.emit("adjust", channel=channel, target_ma=new, previous_ma=old)
            if new < old and self.state in OUTPUT_STATES:
                self.tick()
            return new

    def emergency_stop(self, reason: str = "operator", *, operator: bool = True) -> None:
        """Every output to 0 now: the device first, then the books.

        An operator's emergency stop (Esc, a second Ctrl-C, the API) is the session's end
        reason, ``emergency_stop``, over a stop or completion it cut short; a fault stays
        the reason. Its cause is claimed before the stop goes out, like a fault's: the
        device reporting that very stop (its e-stop latch) is then news, not a device
        fault — the tick that reads the report may run before this takes the lock.
        ``operator=False``: the session closed while output was on (its reason, if any,
        stands)."""
        with self._cause_lock:
            stoppable = self.state not in (State.idle, State.stopped, State.completed)
            if operator and stoppable and self._cause is None:
                self._cause = ("emergency_stop", reason)
        try:
            self.driver.emergency_stop()
        except (DriverError, LinkLost) as exc:
            self.fault_detail = f"emergency stop not acknowledged: {exc}"
        with self.lock:
            self.control.zeroed()
            if self.state not in (State.idle, State.stopped, State.completed):
                if operator and self.end_reason in OPERATOR_OVERRIDES:
                    self.end_reason = "emergency_stop"
                self.fire(Trigger.emergency_stop)
            self.end_reason = self.end_reason or "emergency_stop"
            self.emit("stop", reason=reason)

    def fault(self, rule: str, message: str) -> None:
        """Latch a fault: every output to 0 (emergency stop), then the fault state. The
        cause is claimed before the stop goes out, so a second fault raised meanwhile (the
        device reporting that very stop) cannot take the first one's place."""
        with self._cause_lock:
            first = self._cause is None
            if first:
                self._cause = (rule, message)
        try:
            self.driver.emergency_stop()
        except (DriverError, LinkLost) as exc:
            message += f" (emergency stop not acknowledged: {exc})"
        with self.lock:
            self.control.zeroed()
            if not first or self.state in LATCHED:
                return  # latched already: the first cause stands
            self.fault_detail = f"{rule}: {message}"
            self.end_reason = f"fault:{rule}"
            self.emit("fault", rule=rule, message=message)
            if self.state not in (State.fault, State.stopped, State.idle, State.completed):
                self.fire(Trigger.fault)

    def reset(self) -> None:
        """After a fault or stop: the host's own evidence that the cause is gone (every
        electrode back on), the device's latched faults cleared, then the checks again; the
        session can then start over, from 0 and from the protocol's beginning.

        A reset the evidence or the device refuses leaves the fault latched."""
        with self.lock:
            self.require(Trigger.reset, "reset")
            cause = self._cause[0] if self._cause else ""
            self._electrodes_on("not resetting", need_measurement=cause in ELECTRODE_FAULTS)
            self.fire(Trigger.reset)
            if self.state is not State.ready:
                raise SafetyRefused("the device did not clear its fault: the fault stays latched")
            for event in self.driver.events():  # told before the reset: of the old run
                self.emit("device", event=event.kind, faults=sorted(event.faults))
            with self._cause_lock:
                self._cause = None
            self.fault_detail, self.end_reason = "", ""
            self.plan = Plan.unchecked(self.protocol, self.device)
            self.control = self._new_run()  # from 0 and from the protocol's beginning
        self.check()

    def _electrodes_on(self, doing: str, need_measurement: bool) -> None:
        """Measure every channel's load (output is 0): an electrode that is still off is
        the host's own evidence that an open-circuit or peel fault has not gone away. After
        such a fault a device that cannot measure the load gives no evidence: refused."""
        open_ohm = limit("open_circuit_ohm").value
        for ch in self.channels:
            try:
                z = self.driver.measure_impedance(ch)
            except (DriverError, LinkLost) as exc:
                raise SafetyRefused(f"{doing}: cannot measure channel {ch}: {exc}") from None
            if math.isnan(z) and need_measurement:
                raise SafetyRefused(
                    f"{doing}: this device does not measure channel {ch}'s load, so nothing "
                    "shows the electrode is back on; check it and start a new session"
                )
            if not math.isnan(z) and not z <= open_ohm:
                raise SafetyRefused(
                    f"{doing}: channel {ch} electrode still not attached "
                    f"(load above {open_ohm:,.0f} Ω)"
                )

    def _on_exception(self, event: EventData) -> None:
        self.fault(*_fault_of(event.error))

    def close(self) -> None:
        """Leave every output at 0, whatever state the session is in."""
        try:
            if self.state in OUTPUT_STATES or self.state is State.paused:
                self.emergency_stop("session closed", operator=False)
            else:
                self.driver.stop(self.channels)
        except (DriverError, LinkLost):
            pass
        if self.control.started_s is not None:
            self.control.summary()  # the last word on what was delivered: output 0, counters
        self.hub.close()


def _fault_of(error: BaseException | None) -> tuple[str, str]:
    """The fault rule and message for what went wrong on the way to the device."""
    if isinstance(error, DeviceReported):  # refused for a fault the device told of: that one
        return error.fault.rule, error.fault.message
    if isinstance(error, LinkLost):
        return "link_lost", str(error)
    if isinstance(error, CommandRefused):
        # a session the device no longer knows: it restarted, or another host identified
        return ("device_session" if error.code == "STALE_SESSION" else "device"), str(error)
    if isinstance(error, DriverError):
        return "device", str(error)
    if isinstance(error, InputError):  # the engine itself asked for what no device takes
        return "engine", f"refused before sending: {error}"
    return "exception", f"{type(error).__name__}: {error}"
