"""The session's tick: from the timeline to the device, through the supervisor, and back
from the device's telemetry. :class:`Control` is mixed into
:class:`~tensctl.engine.session.Session`; a runner calls :meth:`Control.tick` at least every
100 ms (real time) or from one interesting moment to the next (virtual time).

Per tick: the host watchdog; where the protocol is (phase changes reconfigure the device,
at 0 when the waveform or mode changes); each channel's wanted amplitude (timeline × the
operator's target, or the titration level, or the ramp-down) → the supervisor → the driver
(only when it changes); a heartbeat when nothing else was sent; telemetry judged; device
events (faults, reboot, link loss) turned into faults.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tensctl.drivers.base import ChannelSettings
from tensctl.drivers.errors import CommandRefused, DriverError, LinkLost
from tensctl.engine.plan import settings_for
from tensctl.engine.states import OUTPUT_STATES, State, Trigger
from tensctl.engine.timeline import Setpoint, amplitude_envelope
from tensctl.engine.watch import watch
from tensctl.safety.limits import limit
from tensctl.safety.supervisor import watchdog_expired

if TYPE_CHECKING:
    from tensctl.engine.session import Session

TICK_S = limit("host_tick_ms").value / 1000
STOP_RAMP_S = 3.0  # a user stop ramps down over this long (decreases are never limited)


@dataclass
class RunState:
    """Where a session is: its clock origin, pauses, what was sent, the phase."""

    channels: list[int]
    heartbeat_s: float
    started_s: float | None = None
    paused_total_s: float = 0.0
    pause_started_s: float = 0.0
    last_tick_s: float | None = None
    last_sent_s: float = -1e9
    phase_index: int = -1
    ramp_start_s: float = 0.0
    next_summary_s: float = 0.0
    sent_ma: dict[int, float] = field(default_factory=dict)
    settings: dict[int, ChannelSettings] = field(default_factory=dict)
    ramp_from: dict[int, float] = field(default_factory=dict)
    judged_s: dict[int, float] = field(default_factory=dict)
    seen_updates: int = -1
    tick_due_s: float | None = None
    levels: dict[int, deque[tuple[float, float]]] = field(default_factory=dict)
    """(clock time, amplitude sent) per channel, for what the patient felt lately."""

    def __post_init__(self) -> None:
        self.sent_ma = {ch: 0.0 for ch in self.channels}
        self.levels = {ch: deque() for ch in self.channels}

    def felt_ma(self, channel: int, now_s: float, window_s: float) -> float:
        """The highest level channel ``channel`` delivered in the last ``window_s``: the one
        in force when the window began, and every one sent since."""
        history = self.levels[channel]
        start = now_s - window_s
        while len(history) > 1 and history[1][0] <= start:
            history.popleft()  # the level in force at the window's start is kept
        return max((level for _, level in history), default=0.0)


def heartbeat_interval_s(watchdog_ms: float, virtual: bool) -> float:
    """Real time: every supervisor tick. Virtual time has no latency, so a tick and a half
    inside the device's watchdog (fewer frames, the same protection)."""
    return max(TICK_S, watchdog_ms / 1000 - 1.5 * TICK_S) if virtual else TICK_S


def elapsed_s(s: Session) -> float:
    if s.progress.started_s is None:
        return 0.0
    paused = s.progress.paused_total_s
    if s.state is State.paused:
        paused += s.clock.now() - s.progress.pause_started_s
    return max(0.0, s.clock.now() - s.progress.started_s - paused)


# ---- state callbacks (called by the machine; exceptions → on_exception) ----------------


def on_enter_titrating(s: Session) -> None:
    assert s.titration is not None
    _configure(s, s.titration.channel, settings_for(s.protocol.phases[0]))
    s.driver.start([s.titration.channel])


def on_exit_titrating(s: Session) -> None:
    assert s.titration is not None
    ch = s.titration.channel
    send_levels(s, {ch: 0.0})
    s.driver.stop([ch])


def on_enter_ramping_up(s: Session) -> None:
    if s.progress.started_s is None:
        s.progress.started_s = s.clock.now()
        s.progress.last_tick_s = s.progress.started_s
        _enter_phase(s, 0)
        s.driver.start(s.channels)


def on_enter_completed(s: Session) -> None:
    s.driver.stop(s.channels)
    s.end_reason = s.end_reason or "completed"
    s.emit("end", reason=s.end_reason)


def begin_ramp_down(s: Session) -> None:
    s.progress.ramp_from = dict(s.progress.sent_ma)
    s.progress.ramp_start_s = s.clock.now()


# ---- the tick -------------------------------------------------------------------------


def tick(s: Session) -> None:
    with s.lock:
        now = s.clock.now()
        watched = s.state in OUTPUT_STATES or s.state is State.paused
        late = tick_late_ms(s, now)
        if late is not None:
            s.fault("host_watchdog", f"the supervisor tick is {late:.0f} ms late")
            return
        problem = s.unhealthy() if watched else None
        if problem is not None:
            s.fault("record", problem)
            return
        s.progress.last_tick_s = now
        guarded(s, _tick, now)
        s.progress.tick_due_s = next_tick_s(s, now)  # after the tick: it knows what was sent


def tick_late_ms(s: Session, now: float) -> float | None:
    """How late the due tick is, in ms of real time, once the host watchdog has expired
    while output may be on; None while it has not."""
    due = s.progress.tick_due_s  # lateness counts from when this tick was due
    watched = s.state in OUTPUT_STATES or s.state is State.paused
    speed = s.clock.speed
    if not watched or due is None or not watchdog_expired(due - TICK_S, now, speed):
        return None
    return (now - due) * 1000 / speed


def guarded(s: Session, action: Callable[..., object], *args: Any) -> None:
    """Run ``action``; if the device cannot be reached or refuses, the output is no longer
    provably within limits: latch a fault (every output to 0)."""
    try:
        action(s, *args)
    except LinkLost as exc:
        s.fault("link_lost", str(exc))
    except CommandRefused as exc:
        # a session the device no longer knows: it restarted, or another host identified
        s.fault("device_session" if exc.code == "STALE_SESSION" else "device", str(exc))
    except DriverError as exc:
        s.fault("device", str(exc))


def _tick(s: Session, now: float) -> None:
    state = s.state
    if state in (State.ramping_up, State.stimulating):
        elapsed = elapsed_s(s)
        if elapsed >= min(s.timeline.duration_s, s.protocol.session.max_duration_s):
            s.end_reason = s.end_reason or "completed"
            begin_ramp_down(s)
            s.fire(Trigger.finish)
            return _tick(s, now)
        located = s.timeline.phase_at(elapsed)
        if located and located[0] != s.progress.phase_index:
            _enter_phase(s, located[0])
        points = s.timeline.setpoints(elapsed)
        _follow_modulation(s, points)
        wanted = {ch: p.amplitude_ma for ch, p in points.items()}
        sent = send_levels(s, wanted)
        if state is State.ramping_up and _at_full(s, elapsed, sent, wanted):
            s.fire(Trigger.ramp_done)
    elif state is State.ramping_down:
        fraction = max(0.0, 1.0 - (now - s.progress.ramp_start_s) / STOP_RAMP_S)
        sent = send_levels(s, {ch: v * fraction for ch, v in s.progress.ramp_from.items()})
        if all(v == 0 for v in sent.values()):
            s.fire(Trigger.ramped_down)
            return
    elif state is State.titrating and s.titration is not None:
        send_levels(s, {s.titration.channel: s.titration.level_ma})
    if (
        s.state not in (State.idle, State.completed)
        and now - s.progress.last_sent_s >= s.progress.heartbeat_s - 1e-9
    ):
        s.driver.heartbeat()
        s.progress.last_sent_s = now
    watch(s, now)


def _at_full(s: Session, elapsed: float, sent: dict[int, float], wanted: dict[int, float]) -> bool:
    """The ramp up is over: the phase's envelope is at full and every channel has caught up."""
    located = s.timeline.phase_at(elapsed)
    if located is None:
        return True
    full = amplitude_envelope(s.protocol.phases[located[0]], located[1]) >= 1.0 - 1e-9
    return full and all(abs(sent[ch] - wanted[ch]) < 1e-9 for ch in wanted)


def next_tick_s(s: Session, now: float) -> float:
    """When the next tick is due: the next point of a fixed 100 ms grid from the session's
    start (a late tick is not carried forward), or a phase boundary if one comes first (so a
    phase begins on time, not up to a tick late); or — in virtual time, on a steady plateau
    where nothing but the heartbeat is due — at the next heartbeat or the end of the plateau,
    whichever comes first."""
    step = _grid_after(s, now)
    boundary = _next_boundary(s, now)
    if boundary is not None:
        step = min(step, boundary)
    if not s.virtual or s.state is not State.stimulating:
        return step
    located = s.timeline.phase_at(elapsed_s(s))
    if located is None:
        return step
    phase, t = s.protocol.phases[located[0]], located[1]
    if phase.cycling is not None or phase.mode.type == "modulated" or t < phase.ramp_up_s:
        return step
    if any(abs(s.progress.sent_ma[ch] - v) > 1e-9 for ch, v in s.targets_ma.items()):
        return step  # still catching up (an adjustment, the slew limit)
    plateau_end = now + (phase.duration_s - phase.ramp_down_s - t)
    return max(step, min(s.progress.last_sent_s + s.progress.heartbeat_s, plateau_end))


BOUNDARY_LAG_S = 1e-6  # tick just after a boundary, never a rounding error before it


def _grid_after(s: Session, now: float) -> float:
    origin = s.progress.started_s
    if origin is None or s.state not in (State.ramping_up, State.stimulating):
        return now + TICK_S
    origin += s.progress.paused_total_s
    return origin + (math.floor((now - origin) / TICK_S + 1e-9) + 1) * TICK_S


def _next_boundary(s: Session, now: float) -> float | None:
    """The clock time the next phase (or the protocol's end) begins, while running."""
    if s.state not in (State.ramping_up, State.stimulating):
        return None
    located = s.timeline.phase_at(elapsed_s(s))
    if located is None:
        return None
    index, t = located
    left = s.protocol.phases[index].duration_s - t
    return now + left + BOUNDARY_LAG_S if left > BOUNDARY_LAG_S else None


def send_levels(s: Session, wanted: dict[int, float]) -> dict[int, float]:
    """Send each channel's allowed amplitude where it changed; returns what is set."""
    now = s.clock.now()
    for ch, want in wanted.items():
        allowed = s.supervisor.limit(ch, want, now)
        if allowed == s.progress.sent_ma[ch]:
            continue
        try:
            s.driver.set_amplitude(ch, allowed)
        except CommandRefused as exc:
            if exc.code == "SLEW_LIMIT":  # the device's window disagreed: next tick
                continue
            if exc.code in ("FAULT_LATCHED", "CHANNEL_LOCKED"):
                watch(s, now, force=True)  # say what the device latched, if it told us
            raise
        s.supervisor.sent(ch, allowed, now)
        s.progress.sent_ma[ch] = allowed
        s.progress.levels[ch].append((now, allowed))
        s.progress.last_sent_s = now
        s.emit("setpoint", channel=ch, amplitude_ma=allowed)
    return dict(s.progress.sent_ma)


# ---- phases and parameters --------------------------------------------------------------


def _enter_phase(s: Session, index: int) -> None:
    phase = s.protocol.phases[index]
    s.progress.phase_index = index
    s.emit("phase", index=index, name=phase.name)
    for ch in s.channels:
        _configure(s, ch, settings_for(phase), live=False)


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


def _configure(s: Session, ch: int, settings: ChannelSettings, live: bool = True) -> None:
    """Send a channel's pulse train. Parameters are locked while output is on (reference
    rule 3): a phase change that could raise the r.m.s. current goes through 0 and comes
    back at the slew limit. ``live`` marks the protocol's own modulation, which moves inside
    the envelope the static check judged."""
    old = s.progress.settings.get(ch)
    if old == settings:
        return
    if old is not None and (
        (old.waveform, old.mode) != (settings.waveform, settings.mode)
        or (not live and may_raise_rms(old, settings))
    ):
        send_levels(s, {ch: 0.0})
        s.supervisor.zeroed(ch)
    s.driver.configure(ch, settings)
    s.progress.settings[ch] = settings
    s.progress.last_sent_s = s.clock.now()
    # telemetry the device sent before this configure (it is all in by the ack: the stream is
    # in order) describes the old settings: not to be judged against the new ones
    before = s.driver.telemetry().get(ch)
    if before is not None:
        s.progress.judged_s[ch] = before.time_s


def _follow_modulation(s: Session, points: Mapping[int, Setpoint]) -> None:
    phase = s.protocol.phases[s.progress.phase_index]
    if phase.mode.type != "modulated":
        return
    interval = (s.device.min_update_interval_ms or 0.0) / 1000
    if s.clock.now() - s.progress.last_sent_s < interval:
        return
    for ch, point in points.items():
        _configure(s, ch, settings_for(phase, point))
