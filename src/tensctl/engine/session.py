"""A stimulation session: the state machine, the checks before current flows, and what the
operator can do — titrate, start, adjust, pause, resume, stop, emergency stop.

The engine sees only the :class:`~tensctl.drivers.base.Driver` interface. Every amplitude
goes through the :class:`~tensctl.safety.supervisor.Supervisor` first. An exception in any
state callback makes the machine stop every output and latch a fault (``on_exception``).
Thread-safe: an emergency stop goes to the device before it takes any lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from transitions import EventData

from tensctl.drivers.base import DeviceInfo, Driver
from tensctl.drivers.errors import DriverError, LinkLost
from tensctl.engine import checks, control, watch
from tensctl.engine.clock import Clock
from tensctl.engine.control import RunState, heartbeat_interval_s
from tensctl.engine.events import EventHub, Listener, SessionEvent
from tensctl.engine.plan import SafetyInputs
from tensctl.engine.states import OUTPUT_STATES, State, Trigger, build_machine, sources
from tensctl.engine.timeline import Timeline
from tensctl.engine.titration import Titration
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
        self.patient, self.screened, self.virtual = patient, screened, virtual
        ids = [c.id for c in protocol.channels]
        for name, values in (("intensity", intensity_ma), ("ceiling", ceiling_ma)):
            unknown = sorted(set(values or {}) - set(ids))
            if unknown:
                message = f"no channel {unknown[0]} in protocol '{protocol.id}' (channels: {ids})"
                raise InputError([Problem(message, f"--{name}")])
        self.channels = ids
        self.given_ma = dict(intensity_ma or {})
        self.given_ceiling_ma = dict(ceiling_ma or {})
        self.thresholds = {ch: dict(v) for ch, v in (thresholds or {}).items()}
        self.safety = SafetyInputs(protocol, device, electrodes, acknowledged)
        self.hub = EventHub()
        self.lock = threading.RLock()
        self.info: DeviceInfo | None = None
        self.targets_ma: dict[int, float] = {}
        self.ceilings_ma: dict[int, float] = {}
        self.checked = False
        self.titration: Titration | None = None
        self.end_reason = ""
        self.fault_detail = ""
        self._cause_lock = threading.Lock()
        self._cause: tuple[str, str] | None = None  # the first fault claimed, until a reset
        self.timeline = Timeline(protocol, {})
        self.supervisor = Supervisor(device, {ch: device.amplitude.max_ma for ch in ids})
        self.progress = RunState(ids, heartbeat_interval_s(device.watchdog_ms, virtual))
        self.machine = build_machine(self, on_exception="_on_exception")
        self.health: list[Callable[[], str | None]] = []  # e.g. "the record cannot be written"

    def unhealthy(self) -> str | None:
        """The first problem a health check reports (it faults a running session)."""
        return next((p for p in (check() for check in self.health) if p), None)

    # ---- events ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self.hub.subscribe(listener)

    def events(self) -> Iterator[SessionEvent]:
        return self.hub.iterate()

    def emit(self, kind: str, **data: Any) -> None:
        self.hub.emit(SessionEvent(kind, control.elapsed_s(self), data))

    def tick(self) -> None:
        """One supervisor tick (a runner calls this at least every 100 ms)."""
        control.tick(self)

    def elapsed_s(self) -> float:
        return control.elapsed_s(self)

    # state callbacks: the machine finds them by name; exceptions go to _on_exception
    def on_enter_titrating(self, event: EventData | None = None) -> None:
        control.on_enter_titrating(self)

    def on_exit_titrating(self, event: EventData | None = None) -> None:
        control.on_exit_titrating(self)

    def on_enter_ramping_up(self, event: EventData | None = None) -> None:
        control.on_enter_ramping_up(self)

    def on_enter_completed(self, event: EventData | None = None) -> None:
        control.on_enter_completed(self)

    def on_enter_state(self, previous: State) -> None:
        self.emit("state", state=self.state.value, previous=previous.value)

    def fire(self, trigger: Trigger) -> None:
        with self.lock:
            previous = self.state
            self.trigger(trigger.value)
            if self.state is not previous:
                self.on_enter_state(previous)

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

    def connect(self) -> DeviceInfo:
        info = self.driver.identify()
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
            checks.run(self)
        except Exception:
            self.fire(Trigger.checks_failed)
            raise
        self.fire(Trigger.checks_passed)

    # ---- operator actions ----------------------------------------------------------------

    def titrate(self, channel: int) -> Titration:
        if channel not in self.channels:
            raise InputError([Problem(f"no channel {channel} in this protocol", "<api>")])
        with self.lock:
            others = {ch: 0.0 for ch in self.channels if ch != channel}
            top = self.safety.checked_ceiling(channel, checks.upper_ma(self, channel), others)
            self.titration = Titration(channel, top, step_ma=self.supervisor.step_ma)
            self.fire(Trigger.titrate)
            return self.titration

    def mark(self) -> Threshold:
        """Record what the titrated channel delivers now as the next SIT threshold."""
        with self.lock:
            if self.titration is None or self.state is not State.titrating:
                raise InputError([Problem("no titration is running", "<api>")])
            which = self.titration.mark(self.progress.sent_ma[self.titration.channel])
            self.emit(
                "titration",
                channel=self.titration.channel,
                threshold=which.value,
                amplitude_ma=self.titration.values[which],
            )
            return which

    def finish_titration(self, use: Threshold | None = None) -> dict[Threshold, float]:
        """End the titration (all four values marked): output to 0, thresholds stored, and
        the checks run again with them. ``use`` makes that threshold the channel's target."""
        with self.lock:
            t = self.titration
            if t is None or not t.done:
                raise InputError([Problem("mark ST, SC1, N and SC2 first", "<api>")])
            self.thresholds[t.channel] = dict(t.values)
            if use is not None:
                self.given_ma[t.channel] = t.values[use]
            self.fire(Trigger.titration_done)
            self.titration = None
        self.check()
        return dict(t.values)

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
        with self.lock:
            self.require(Trigger.pause, "pause")
            self.progress.pause_started_s = self.clock.now()  # before: the event's elapsed_s
            self.fire(Trigger.pause)
            control.guarded(self, control.send_levels, {ch: 0.0 for ch in self.channels})

    def resume(self) -> None:
        """Back to the protocol after a pause. No channel climbs on its own above the most
        it delivered in the last minute (after a long pause that is 0, however the pauses
        came): the operator raises it again with the patient."""
        with self.lock:
            self.require(Trigger.resume, "resume")
            now = self.clock.now()
            paused_s = now - self.progress.pause_started_s
            self.progress.paused_total_s += paused_s
            felt = {ch: self.progress.felt_ma(ch, now, RESUME_MEMORY_S) for ch in self.targets_ma}
            lowered = {ch: v for ch, v in self.targets_ma.items() if v > felt[ch]}
            if lowered:
                self.targets_ma = {ch: min(v, felt[ch]) for ch, v in self.targets_ma.items()}
                self.timeline = Timeline(self.protocol, self.targets_ma)
                was = ", ".join(f"channel {ch} {v:g} mA" for ch, v in lowered.items())
                now_at = ", ".join(f"channel {ch} {self.targets_ma[ch]:g} mA" for ch in lowered)
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
                control.begin_ramp_down(self)
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
            if channel not in self.targets_ma:
                raise InputError([Problem(f"channel {channel} has no target yet", "<api>")])
            old = self.targets_ma[channel]
            wanted, ceiling = old + delta_ma, self.supervisor.ceiling_ma(channel)
            if wanted > ceiling + CEILING_TOLERANCE_MA:
                self.emit(
                    "refused",
                    command="adjust",
                    channel=channel,
                    requested_ma=wanted,
                    ceiling_ma=ceiling,
                    target_ma=old,
                )
                raise SafetyRefused(
                    f"channel {channel}: {wanted:g} mA is above its ceiling of {ceiling:g} mA; "
                    f"the target stays at {old:g} mA"
                )
            new = min(max(0.0, wanted), ceiling)
            self.targets_ma[channel] = new
            self.timeline = Timeline(self.protocol, self.targets_ma)
            self.emit("adjust", channel=channel, target_ma=new, previous_ma=old)
            if new < old and self.state in OUTPUT_STATES:
                control.tick(self)
            return new

    def emergency_stop(self, reason: str = "operator") -> None:
        """Every output to 0 now: the device first, then the books."""
        try:
            self.driver.emergency_stop()
        except (DriverError, LinkLost) as exc:
            self.fault_detail = f"emergency stop not acknowledged: {exc}"
        with self.lock:
            for ch in self.channels:
                self.supervisor.zeroed(ch)
            self.end_reason = self.end_reason or "emergency_stop"
            if self.state not in (State.idle, State.stopped, State.completed):
                self.fire(Trigger.emergency_stop)
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
            for ch in self.channels:
                self.supervisor.zeroed(ch)
            if not first or self.state in (State.fault, State.stopped):
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
            self.fault_detail, self.end_reason, self.checked = "", "", False
            self.progress = RunState(self.channels, self.progress.heartbeat_s)
            for ch in self.channels:
                self.supervisor.zeroed(ch)
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
        error = event.error
        self.fault("exception", f"{type(error).__name__}: {error}")

    def close(self) -> None:
        """Leave every output at 0, whatever state the session is in."""
        try:
            if self.state in OUTPUT_STATES or self.state is State.paused:
                self.emergency_stop("session closed")
            else:
                self.driver.stop(self.channels)
        except (DriverError, LinkLost):
            pass
        if self.progress.started_s is not None:
            watch.summary(self)  # the last word on what was delivered: output 0, counters
        self.hub.close()
