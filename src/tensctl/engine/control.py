"""The run controller: from the timeline to the device, through the supervisor, and back
from the device's telemetry. It owns the run — its clock origin and pauses, what was sent,
the phase, the heartbeat, the supervisor and the targets and ceilings in force — and nothing
of the state machine: the :class:`~tensctl.engine.session.Session` tells it the state, and
it answers with the transition the run has reached (:meth:`RunController.advance`) or the
fault the device's word calls for (:meth:`RunController.watch`). The session fires the one
and latches the other.

Per tick: where the protocol is (phase changes reconfigure the device, at 0 when the
waveform or mode changes); each channel's wanted amplitude (timeline × the operator's
target, or the titration level, or the ramp-down) → the supervisor → the driver (only when
it changes); a heartbeat when nothing else was sent; telemetry judged; device events
(faults, reboot, link loss) turned into faults.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from tensctl.drivers.base import ChannelSettings, Driver
from tensctl.drivers.errors import CommandRefused
from tensctl.engine.clock import Clock
from tensctl.engine.events import Emit
from tensctl.engine.plan import Plan, fixed_train, settings_for
from tensctl.engine.states import OUTPUT_STATES, State, Trigger
from tensctl.engine.timeline import Setpoint, amplitude_envelope
from tensctl.model.device import DeviceProfile
from tensctl.model.protocol import Protocol
from tensctl.safety.limits import limit
from tensctl.safety.supervisor import Action, Reading, Supervisor, watchdog_expired

TICK_S = limit("host_tick_ms").value / 1000
"""The supervisor tick: a runner ticks a real-time session at least this often."""
STOP_RAMP_S = 3.0  # a user stop ramps down over this long (decreases are never limited)
BOUNDARY_LAG_S = 1e-6  # tick just after a boundary, never a rounding error before it
DEVICE_FAULT_EVENTS = {"fault", "boot", "link_lost", "low_battery"}
LATCHED = frozenset({State.fault, State.stopped})
RUNNING = frozenset({State.ramping_up, State.stimulating})


@dataclass(frozen=True)
class Fault:
    """A verdict: the output is no longer provably within limits (latch a fault)."""

    rule: str
    message: str


class DeviceReported(Exception):
    """A command the device refused because it latched a fault it has told us about."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


def heartbeat_interval_s(watchdog_ms: float, virtual: bool) -> float:
    """Real time: every supervisor tick. Virtual time has no latency, so a tick and a half
    inside the device's watchdog (fewer frames, the same protection)."""
    return max(TICK_S, watchdog_ms / 1000 - 1.5 * TICK_S) if virtual else TICK_S


def may_raise_rms(old: ChannelSettings, new: ChannelSettings) -> bool:
    """True unless every parameter of ``new`` that the r.m.s. current grows with is at or
    below ``old``'s, the shape unchanged (then no measure of r.m.s. can rise)."""
    same_shape = (old.waveform, old.mode, old.secondary_amplitude_ratio, old.steps) == (
        new.waveform,
        new.mode,
        new.secondary_amplitude_ratio,
        new.steps,
    )
    return not (
        same_shape
        and new.frequency_hz <= old.frequency_hz
        and new.pulse_width_us <= old.pulse_width_us
        and new.secondary_width_ratio <= old.secondary_width_ratio
        and new.pulses_per_train <= old.pulses_per_train
        and new.train_rate_hz <= old.train_rate_hz
    )


class RunController:
    """One run of a session's protocol on its driver (a reset begins a new one)."""

    def __init__(
        self,
        driver: Driver,
        protocol: Protocol,
        device: DeviceProfile,
        clock: Clock,
        emit: Emit,
        plan: Plan,
        *,
        virtual: bool,
    ) -> None:
        self.driver, self.protocol, self.device, self.clock = driver, protocol, device, clock
        self.emit, self.virtual = emit, virtual
        self.channels = [c.id for c in protocol.channels]
        self.heartbeat_s = heartbeat_interval_s(device.watchdog_ms, virtual)
        self.adopt(plan)
        # the run's clock: origin, pauses, ticks
        self.started_s: float | None = None
        self.paused_total_s = 0.0
        self.paused_since_s: float | None = None
        self.tick_due_s: float | None = None
        # what the device was sent, and what came back
        self.last_sent_s = -1e9
        self.phase_index = -1
        self.ramp_start_s = 0.0
        self.ramp_from: dict[int, float] = {}
        self.sent_ma = {ch: 0.0 for ch in self.channels}
        self.settings: dict[int, ChannelSettings] = {}
        self.judged_s: dict[int, float] = {}
        self.seen_updates = -1
        self.next_summary_s = 0.0
        self.next_reminder_s = protocol.session.retitrate_every_s
        """Protocol time of the next re-titration reminder (``None``: the protocol has none)."""
        self.levels: dict[int, deque[tuple[float, float]]] = {ch: deque() for ch in self.channels}
        """(clock time, amplitude sent) per channel, for what the patient felt lately."""

    def adopt(self, plan: Plan) -> None:
        """Run to ``plan`` (a check passed): its targets, ceilings and a fresh supervisor."""
        self.targets_ma = dict(plan.targets_ma)
        self.ceilings_ma = dict(plan.ceilings_ma)
        self.timeline = plan.timeline
        self.supervisor = Supervisor(self.device, dict(plan.ceilings_ma))

    # ---- the run's clock ---------------------------------------------------------------

    def elapsed_s(self, now: float | None = None) -> float:
        """Protocol time: since the start, pauses excluded."""
        if self.started_s is None:
            return 0.0
        if self.ended_s is not None:
            now = self.ended_s
        now = self.clock.now() if now is None else now
        return max(0.0, now - self.started_s - self.paused_total_s - self.paused_for_s(now))

    def paused_for_s(self, now: float) -> float:
        return 0.0 if self.paused_since_s is None else now - self.paused_since_s

    ended_s: float | None = None
    """When the session ended (its time stands still from there)."""

    def end_clock(self, now: float) -> None:
        if self.ended_s is None:
            self.ended_s = now

    def pause_clock(self, now: float) -> None:
        self.paused_since_s = now

    def resume_clock(self, now: float) -> None:
        self.paused_total_s += self.paused_for_s(now)
        self.paused_since_s = None

    def late_ms(self, state: State, now: float) -> float | None:
        """How late the due tick is, in ms of real time, once the host watchdog has expired
        while output may be on; None while it has not."""
        due = self.tick_due_s  # lateness counts from when this tick was due
        watched = state in OUTPUT_STATES or state is State.paused
        speed = self.clock.speed
        if not watched or due is None or not watchdog_expired(due - TICK_S, now, speed):
            return None
        return (now - due) * 1000 / speed

    # ---- beginnings and ends (from the state machine's callbacks) ----------------------

    def watch_from(self, now: float) -> None:
        """Output may begin now: the host watchdog counts from here, not from a tick while
        ready (a confirmation may have been on screen for minutes); the first tick is due at
        once."""
        self.tick_due_s = now

    def begin(self, now: float) -> None:
        """The first ramp up: the run's origin, the first phase, every channel started."""
        if self.started_s is None:  # from ready (a resume comes from paused, watched)
            self.watch_from(now)
            self.started_s = now
            self._enter_phase(0)
            self.driver.start(self.channels)

    def begin_titration(self, channel: int, now: float) -> None:
        self.watch_from(now)
        self._configure(channel, settings_for(self.protocol.phases[0]))
        self.driver.start([channel])

    def end_titration(self, channel: int) -> None:
        self.send_levels({channel: 0.0})
        self.driver.stop([channel])

    def begin_ramp_down(self, now: float) -> None:
        self.ramp_from = dict(self.sent_ma)
        self.ramp_start_s = now

    def zero(self) -> None:
        self.send_levels({ch: 0.0 for ch in self.channels})

    def zeroed(self) -> None:
        """Every output went to 0 by an emergency stop: the supervisor starts from 0."""
        for ch in self.channels:
            self.supervisor.zeroed(ch)

    # ---- the operator's targets --------------------------------------------------------

    def set_target(self, channel: int, target_ma: float) -> None:
        self.targets_ma[channel] = target_ma
        self.timeline = self.timeline.with_intensities(dict(self.targets_ma))

    def cap_to_felt(self, now: float, window_s: float) -> dict[int, float]:
        """Lower every target above the most its channel delivered in the last
        ``window_s`` to that level; returns the lowered channels' old targets."""
        felt = {ch: self.felt_ma(ch, now, window_s) for ch in self.targets_ma}
        lowered = {ch: v for ch, v in self.targets_ma.items() if v > felt[ch]}
        for ch in lowered:
            self.set_target(ch, felt[ch])
        return lowered

    def felt_ma(self, channel: int, now_s: float, window_s: float) -> float:
        """The highest level ``channel`` delivered in the last ``window_s``: the one in
        force when the window began, and every one sent since."""
        history = self.levels[channel]
        start = now_s - window_s
        while len(history) > 1 and history[1][0] <= start:
            history.popleft()  # the level in force at the window's start is kept
        return max((level for _, level in history), default=0.0)

    # ---- the tick ------------------------------------------------------------------------

    def advance(
        self, state: State, now: float, titration: tuple[int, float] | None
    ) -> Trigger | None:
        """The output for ``now``; returns the transition the run has reached, if any.
        ``titration`` is the titrated channel and its level."""
        if state in RUNNING:
            elapsed = self.elapsed_s(now)
            if elapsed >= min(self.timeline.duration_s, self.protocol.session.max_duration_s):
                self.begin_ramp_down(now)
                return Trigger.finish
            self.remind(elapsed)
            located = self.timeline.phase_at(elapsed)
            if located and located[0] != self.phase_index:
                self._enter_phase(located[0])
            points = self.timeline.setpoints(elapsed)
            self._follow_modulation(points)
            wanted = {ch: p.amplitude_ma for ch, p in points.items()}
            sent = self.send_levels(wanted)
            if state is State.ramping_up and self._at_full(elapsed, sent, wanted):
                return Trigger.ramp_done
        elif state is State.ramping_down:
            fraction = max(0.0, 1.0 - (now - self.ramp_start_s) / STOP_RAMP_S)
            sent = self.send_levels({ch: v * fraction for ch, v in self.ramp_from.items()})
            if all(v == 0 for v in sent.values()):
                return Trigger.ramped_down
        elif state is State.titrating and titration is not None:
            self.send_levels({titration[0]: titration[1]})
        return None

    def remind(self, elapsed_s: float) -> None:
        """A re-titration reminder each ``retitrate_every_s`` of stimulation (protocol time,
        pauses excluded): sensation fades as nerves habituate, and the therapist asks the
        patient again. One reminder per time it comes due; none at or after the end."""
        every = self.protocol.session.retitrate_every_s
        due = self.next_reminder_s
        if every is None or due is None or elapsed_s < due:
            return
        self.next_reminder_s = (math.floor(elapsed_s / every + 1e-9) + 1) * every
        self.emit(
            "reminder",
            what="retitrate",
            message=f"re-titrate: {elapsed_s / 60:.0f} min of stimulation — ask the patient "
            "whether it still feels strong but comfortable; if the sensation has faded, raise "
            "the intensity to that level again (within the ceiling)",
        )

    def keep_alive(self, state: State, now: float) -> None:
        """A heartbeat when nothing else went to the device for a heartbeat interval."""
        if (
            state not in (State.idle, State.completed)
            and now - self.last_sent_s >= self.heartbeat_s - 1e-9
        ):
            self.driver.heartbeat()
            self.last_sent_s = now

    def schedule(self, state: State, now: float) -> None:
        """When the next tick is due: the next point of a fixed 100 ms grid from the start
        (a late tick is not carried forward), or a phase boundary if one comes first (so a
        phase begins on time, not up to a tick late); or — in virtual time, on a steady
        plateau where nothing but the heartbeat is due — at the next heartbeat or the end of
        the plateau, whichever comes first."""
        self.tick_due_s = self._next_tick_s(state, now)

    def _next_tick_s(self, state: State, now: float) -> float:
        running = state in RUNNING
        step = self._grid_after(now) if running else now + TICK_S
        # where the protocol is after this tick's work (the clock read again), though the
        # next tick counts from ``now``: it aims the work's duration early, which about
        # makes up for the wake-up's own latency (bench/timeline.py: boundaries p50 ~0.6
        # ms late this way, ~1.1 ms aiming at the boundary itself)
        elapsed = self.elapsed_s()
        located = self.timeline.phase_at(elapsed) if running else None
        if located is None:
            return step
        index, t = located
        left = self.protocol.phases[index].duration_s - t
        if left > BOUNDARY_LAG_S:
            step = min(step, now + left + BOUNDARY_LAG_S)
        # on time too: the end of a timeline cut short, and the next re-titration reminder
        reminder = self.next_reminder_s if self.next_reminder_s is not None else math.inf
        marks = (self.timeline.duration_s - elapsed, reminder - elapsed)
        due = min((now + x + BOUNDARY_LAG_S for x in marks if x > BOUNDARY_LAG_S), default=step)
        step = min(step, due)
        if not self.virtual or state is not State.stimulating:
            return step
        phase = self.protocol.phases[index]
        if phase.cycling is not None or phase.mode.type == "modulated" or t < phase.ramp_up_s:
            return step
        if any(abs(self.sent_ma[ch] - v) > 1e-9 for ch, v in self.targets_ma.items()):
            return step  # still catching up (an adjustment, the slew limit)
        plateau_end = now + min(
            phase.duration_s - phase.ramp_down_s - t, self.timeline.steady_until_s - elapsed
        )
        return min(due, max(step, min(self.last_sent_s + self.heartbeat_s, plateau_end)))

    def _grid_after(self, now: float) -> float:
        if self.started_s is None:
            return now + TICK_S
        origin = self.started_s + self.paused_total_s
        return origin + (math.floor((now - origin) / TICK_S + 1e-9) + 1) * TICK_S

    def _at_full(self, elapsed: float, sent: dict[int, float], wanted: dict[int, float]) -> bool:
        """The ramp up is over: the phase's envelope is at full, every channel caught up."""
        located = self.timeline.phase_at(elapsed)
        if located is None:
            return True
        full = amplitude_envelope(self.protocol.phases[located[0]], located[1]) >= 1.0 - 1e-9
        return full and all(abs(sent[ch] - wanted[ch]) < 1e-9 for ch in wanted)

    def send_levels(self, wanted: Mapping[int, float]) -> dict[int, float]:
        """Send each channel's allowed amplitude where it changed; returns what is set."""
        now = self.clock.now()
        for ch, want in wanted.items():
            allowed = self.supervisor.limit(ch, want, now)
            if allowed == self.sent_ma[ch]:
                continue
            try:
                self.driver.set_amplitude(ch, allowed)
            except CommandRefused as exc:
                if exc.code == "SLEW_LIMIT":  # the device's window disagreed: next tick
                    continue
                if exc.code in ("FAULT_LATCHED", "CHANNEL_LOCKED"):
                    told = self.watch(None, now, force=True)  # what the device latched
                    if told is not None:
                        raise DeviceReported(told) from exc
                raise
            self.supervisor.sent(ch, allowed, now)
            self.sent_ma[ch] = allowed
            self.levels[ch].append((now, allowed))
            self.last_sent_s = now
            self.emit("setpoint", channel=ch, amplitude_ma=allowed)
        return dict(self.sent_ma)

    # ---- phases and parameters ---------------------------------------------------------

    def _enter_phase(self, index: int) -> None:
        phase = self.protocol.phases[index]
        self.phase_index = index
        self.emit("phase", index=index, name=phase.name)
        for ch in self.channels:
            self._configure(ch, settings_for(phase), live=False)

    def _configure(self, ch: int, settings: ChannelSettings, live: bool = True) -> None:
        """Send a channel's pulse train. Parameters are locked while output is on
        (reference rule 3): a phase change that could raise the r.m.s. current goes through
        0 and comes back at the slew limit. ``live`` marks the protocol's own modulation,
        which moves inside the envelope the static check judged."""
        old = self.settings.get(ch)
        if old == settings:
            return
        if old is not None and (
            (old.waveform, old.mode) != (settings.waveform, settings.mode)
            or (not live and may_raise_rms(old, settings))
        ):
            self.send_levels({ch: 0.0})
            self.supervisor.zeroed(ch)
        self.driver.configure(ch, settings)
        self.settings[ch] = settings
        self.last_sent_s = self.clock.now()
        # telemetry the device sent before this configure (all in by the ack: the stream is
        # in order) describes the old settings: not to be judged against the new ones
        before = self.driver.telemetry().get(ch)
        if before is not None:
            self.judged_s[ch] = before.time_s

    def _follow_modulation(self, points: Mapping[int, Setpoint]) -> None:
        phase = self.protocol.phases[self.phase_index]
        if phase.mode.type != "modulated":
            return
        interval = (self.device.min_update_interval_ms or 0.0) / 1000
        if self.clock.now() - self.last_sent_s < interval:
            return
        for ch, point in points.items():
            self._configure(ch, settings_for(phase, point))

    # ---- what comes back ---------------------------------------------------------------

    def watch(self, state: State | None, now: float, force: bool = False) -> Fault | None:
        """Device events and telemetry since the last look, judged: the first that calls for
        a fault is returned (the rest of that look is dropped: everything goes to 0). A halve
        verdict halves the target. A telemetry summary each second while output may be on.
        Latched (fault or stopped), device events are news for the record only; ``None``:
        in the middle of a command, which the device refused."""
        latched = state in LATCHED
        updates = self.driver.update_count()
        if updates == self.seen_updates and not force:
            return None
        self.seen_updates = updates
        for event in self.driver.events():
            if event.kind not in DEVICE_FAULT_EVENTS:
                continue
            what = ", ".join(sorted(event.faults)) or event.kind
            where = f"channel {event.channel}" if event.channel else "device"
            if latched:
                # already at 0: the device telling of it (its own e-stop latch among them) is
                # news for the record, not a reason to stop again — a stop sent on every
                # report would leave a reset no gap to succeed in
                self.emit("device", event=event.kind, message=f"{where} reported {what}")
                continue
            return Fault(f"device_{event.kind}", f"{where} reported {what}")
        phase = self.protocol.phases[max(0, self.phase_index)]
        settings_known = fixed_train(phase)
        for ch, t in self.driver.telemetry().items():
            if ch not in self.sent_ma or self.judged_s.get(ch) == t.time_s:
                continue
            self.judged_s[ch] = t.time_s
            expected = self.settings.get(ch) if settings_known else None
            reading = Reading(
                t.state == "on",
                t.commanded_ma,
                t.delivered_peak_ma,
                t.impedance_ohm,
                t.frequency_hz,
                t.pulse_width_us,
            )
            verdict = self.supervisor.judge(
                ch,
                reading,
                expected.frequency_hz if expected else None,
                expected.pulse_width_us if expected else None,
            )
            if verdict.action is Action.trip:
                return Fault(verdict.rule, f"channel {ch}: {verdict.message}")
            if verdict.action is Action.halve and ch in self.targets_ma:
                self.set_target(ch, self.targets_ma[ch] / 2)
                # the ceiling drops with the target: on a smaller contact area the old
                # ceiling is a higher current density than the one it was checked at
                self.ceilings_ma[ch] = self.supervisor.lower_ceiling(ch, self.targets_ma[ch])
                self.emit(
                    "warning",
                    rule=verdict.rule,
                    channel=ch,
                    message=verdict.message,
                    target_ma=self.targets_ma[ch],
                )
        if now >= self.next_summary_s and state in OUTPUT_STATES:
            self.next_summary_s = now + 1.0
            self.summary()
        return None

    def summary(self) -> None:
        """What the device says each channel delivered, with its counters (the record's
        dose is computed from these)."""
        self.emit(
            "telemetry",
            channels={
                ch: {
                    "commanded_ma": t.commanded_ma,
                    "delivered_ma": _finite(t.delivered_peak_ma),
                    "impedance_ohm": _finite(t.impedance_ohm),
                    **({"measured": False} if math.isnan(t.delivered_peak_ma) else {}),
                    "frequency_hz": t.frequency_hz,
                    "pulse_width_us": t.pulse_width_us,
                    "charge_uc": t.delivered_charge_uc,
                    "pulses": t.pulses,
                    "target_ma": self.targets_ma.get(ch),
                    "state": t.state,
                }
                for ch, t in self.driver.telemetry().items()
                if ch in self.sent_ma
            },
        )


def _finite(value: float) -> float | None:
    """A reading for the record: ``None`` for an open circuit (inf) or a quantity the device
    does not measure (nan), which JSON cannot hold."""
    return value if math.isfinite(value) else None
