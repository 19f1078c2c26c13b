"""The interactive session: the live display, the keys that act on it, and the guided
titration (SIT) steps.

The display (:func:`render`) is drawn by rich's Live from its own thread four times a
second, from the session and a :class:`Screen` — what the operator side knows besides the
session: the selected channel, the recent events, the dose so far, the titration step, an
alert not yet seen. It fits 80×24 (nothing cut off at 80 columns) and shows more when the
terminal is larger. A fault or a reminder rings the terminal bell once and stays on screen in
colour with its cause."""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tensctl.api import Device, RunningSession
from tensctl.cli import console
from tensctl.cli.keys import Interrupts, keyboard
from tensctl.drivers.base import ChannelTelemetry
from tensctl.engine.control import TICK_S
from tensctl.engine.events import SessionEvent
from tensctl.engine.runner import run_realtime
from tensctl.engine.session import Session
from tensctl.engine.states import State
from tensctl.engine.titration import ASK, ORDER, Titration
from tensctl.errors import TensctlError, UsageError
from tensctl.journal.dose import ChannelDose, delivered_dose
from tensctl.journal.store import Store
from tensctl.model.protocol import Threshold

WIDE = 120  # columns from which the display spells things out
EVENT_KINDS = frozenset(
    {"state", "phase", "adjust", "warning", "error", "fault", "titration", "refused", "stop"}
)
ASKED_FOR = {
    Threshold.ST: "first sensation",
    Threshold.SC1: "strong but comfortable",
    Threshold.N: "first uncomfortable or painful",
    Threshold.SC2: "strong but comfortable again",
}
ENDED = frozenset({State.completed, State.stopped, State.fault})


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _ma(value: float) -> str:
    return f"{value:g} mA"


def thresholds_text(
    values: Mapping[Threshold, float] | Mapping[str, float], compact: bool = False
) -> str:
    """ST, SC1, N, SC2 in that order; a value not marked yet is "—". ``compact``: the unit
    once, at the end."""
    by_name = {str(getattr(k, "value", k)): v for k, v in values.items()}

    def one(t: Threshold) -> str:
        if t.value not in by_name:
            return "—"
        return f"{by_name[t.value]:g}" if compact else _ma(by_name[t.value])

    return " · ".join(f"{t.value} {one(t)}" for t in ORDER) + (" mA" if compact else "")


@dataclass
class Screen:
    """What the display shows besides the session itself."""

    selected: int
    simulated: bool
    events: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=50))
    notes: list[str] = field(default_factory=list)  # replies to keys: the last one is shown
    reminder: str | None = None  # until the next key
    confirming: dict[int, Mapping[Threshold, float]] | None = None  # after SC2: Enter/Esc
    reference: str | None = None  # the patient's last titration
    # the telemetry summaries and state changes, as the dose of the record counts them
    # (what is written while a channel is titrated is not dose)
    dose_events: list[dict[str, Any]] = field(default_factory=list)
    _dose: tuple[int, list[ChannelDose]] = (0, [])

    def on_event(self, event: SessionEvent, end_reason: str = "") -> bool:
        """Take in one session event (``end_reason``: the session's, as the event came);
        True when it must ring the bell (a fault, a reminder)."""
        if event.kind in ("telemetry", "state"):
            self.dose_events.append(
                {"kind": event.kind, "elapsed_s": event.elapsed_s, "data": event.data}
            )
        if event.kind == "telemetry":
            return False
        if event.kind == "reminder":
            message = str(event.data.get("message") or event.data.get("what", "reminder"))
            self.reminder = message
            self.events.append((f"{_clock(event.elapsed_s)} REMINDER {message}", "bold yellow"))
            return True
        if event.kind in EVENT_KINDS:
            line = describe(event, end_reason)
            if line and (not self.events or not self.events[-1][0].endswith(f" {line}")):
                style = (
                    "bold red"
                    if event.kind in ("fault", "error")
                    else ("yellow" if event.kind in ("warning", "refused") else "")
                )
                self.events.append((f"{_clock(event.elapsed_s)} {line}", style))
        return event.kind == "fault"

    def dose(self) -> list[ChannelDose]:
        """The dose so far from the telemetry summaries (worked out again only when new
        ones came), as the session record will have it."""
        count, doses = self._dose
        if count != len(self.dose_events):
            doses = delivered_dose(list(self.dose_events))
            self._dose = (len(self.dose_events), doses)
        return doses


def describe(event: SessionEvent, end_reason: str = "") -> str | None:
    """One event in the words of the display's event list (a session stopped by the
    user ends in the state machine's ``completed``: the list says "stopped")."""
    d = event.data
    ch = f"ch{d['channel']} " if "channel" in d else ""
    match event.kind:
        case "state" if d.get("state") in ("checking", "connected"):
            return None  # the steps of a check: its result is the next state
        case "state" if d.get("state") == "completed" and end_reason not in ("", "completed"):
            return f"state: stopped ({end_reason.replace('_', ' ')}), output at 0"
        case "state":
            return f"state: {d.get('state', '').replace('_', ' ')}"
        case "phase":
            return f"phase: {d.get('name', '')}"
        case "adjust":
            return f"{ch}target {_ma(d['previous_ma'])} → {_ma(d['target_ma'])}"
        case "titration":
            line = f"{ch}marked {d['threshold']} at {_ma(d['amplitude_ma'])}"
            if "dropped_to_ma" in d:
                line += f"; dropped to SC1 {_ma(d['dropped_to_ma'])}"
            return line
        case "refused":
            if d.get("reason") == "at_ceiling":
                return f"{ch}at ceiling ({_ma(d['ceiling_ma'])})"
            return f"refused: {d.get('command', '')} while {d.get('state', '')}".strip()
        case "stop":
            return f"emergency stop ({d.get('reason', '')}): every output to 0"
        case "fault":
            return f"FAULT {d.get('rule', '')}: {d.get('message', '')}"
        case _:
            return f"{d.get('rule', event.kind)}: {d.get('message', '')}"


def state_words(session: Session) -> tuple[str, str]:
    """The state as the therapist reads it, and its colour: a stopped session never reads
    "completed", and every state with output at 0 says so."""
    state, reason = session.state, session.end_reason
    if state is State.fault:
        return "FAULT — every output at 0", "bold white on red"
    if state is State.stopped:
        return "EMERGENCY STOP — every output at 0", "bold white on red"
    if state is State.completed:
        if reason in ("", "completed"):
            return "completed — output at 0", "bold green"
        return "stopped by the user — output at 0", "bold yellow"
    if state is State.ramping_down:
        stopping = reason not in ("", "completed")
        return ("stopping — ramping down to 0" if stopping else "ending — ramping down"), "yellow"
    if state is State.paused:
        return "PAUSED — output at 0, clock held", "bold black on yellow"
    if state is State.titrating and session.titration is not None:
        return f"titrating channel {session.titration.channel}", "bold cyan"
    words = {
        State.ramping_up: "ramping up",
        State.stimulating: "stimulating",
        State.ready: "ready to start — output at 0",
    }
    return words.get(state, state.value.replace("_", " ")), "bold green"


def keys_now(session: Session, screen: Screen) -> str:
    """The keys that work in this state, and only those."""
    estop = "Esc EMERGENCY STOP"
    if screen.confirming is not None:
        return "Enter start stimulation   Esc cancel"
    state = session.state
    if state is State.titrating and session.titration is not None:
        mark = session.titration.next_mark
        marking = f"m/Enter mark {mark.value}   " if mark is not None else ""
        return f"↑/↓ change   {marking}{estop}"
    many = len(session.channels) > 1
    channels = f"1-{max(session.channels)} channel   " if many else ""
    adjust = f"↑/↓ ch{screen.selected} ±{session.supervisor.step_ma:g} mA   "
    if state in (State.ramping_up, State.stimulating):
        return f"{adjust}{channels}space pause   s stop   {estop}"
    if state is State.paused:
        return f"space resume   {adjust}s stop   {estop}"
    if state is State.ramping_down:
        return estop
    if state in ENDED:
        return "session over: the display closes"
    return estop


def _label(session: Session, ch: int, wide: bool) -> str:
    channel = next(c for c in session.protocol.channels if c.id == ch)
    sites = " + ".join(e.site.value.replace("_", " ") for e in channel.electrodes)
    if channel.label and wide:
        return f"{channel.label} ({sites})"
    return channel.label or sites


def _impedance(t: ChannelTelemetry | None) -> str:
    if t is None:
        return "—"
    if math.isinf(t.impedance_ohm):
        return "open circuit"
    if math.isnan(t.impedance_ohm):
        return "not measured"  # this device cannot measure the load
    return f"{t.impedance_ohm:,.0f} Ω"


def _outputs(session: Session, ch: int, t: ChannelTelemetry | None) -> tuple[str, str]:
    """Set and delivered mA. After any stop or fault every output went to 0 (the stop was
    acknowledged, or the fault line says it was not): the columns say 0, not the level the
    last command before the stop had."""
    ended = session.state in ENDED or session.state is State.paused
    if ended and "not acknowledged" not in session.fault_detail:
        return "0.0", "0.0"
    sent = f"{session.control.sent_ma.get(ch, 0.0):.1f}"
    if t is None:
        return sent, "—"
    if math.isnan(t.delivered_peak_ma):
        return sent, "not measured"
    return sent, f"{t.delivered_peak_ma:.1f}"


def _channel_table(session: Session, screen: Screen, wide: bool) -> Table:
    table = Table(box=None, pad_edge=False, collapse_padding=True, header_style="bold")
    heads = ["ch", "label", "target\nmA", "set\nmA", "delivered\nmA" if wide else "deliv.\nmA"]
    heads += ["ceiling\nmA", "µs", "Hz", "impedance", "state"]
    for i, head in enumerate(heads):
        table.add_column(head, justify="left" if i in (1, 8, 9) else "right", overflow="fold")
    telemetry = session.driver.telemetry()
    titration = session.titration if session.state is State.titrating else None
    for ch in session.channels:
        t = telemetry.get(ch)
        target = session.targets_ma.get(ch)
        ceiling = (
            titration.ceiling_ma
            if titration is not None and titration.channel == ch
            else session.ceilings_ma.get(ch)
        )
        sent, delivered = _outputs(session, ch, t)
        state = "—" if t is None else (", ".join(sorted(t.faults)) or t.state)
        table.add_row(
            f"{'▶' if ch == screen.selected else ' '}{ch}",
            _label(session, ch, wide),
            "—" if target is None else f"{target:.1f}",
            sent,
            delivered,
            "—" if ceiling is None or not (session.checked or titration) else f"{ceiling:.1f}",
            "—" if t is None else f"{t.pulse_width_us:g}",
            "—" if t is None else f"{t.frequency_hz:g}",
            _impedance(t),
            state,
        )
    return table


def _dose_lines(screen: Screen, wide: bool) -> list[Text]:
    doses = screen.dose()
    if not doses:
        return [Text("dose so far: nothing delivered yet", style="dim")]
    lines = []
    for d in doses:
        if d.stimulated_min == 0:  # the clock starts with the session, not the titration
            lines.append(Text(f"dose ch{d.channel}: none yet (titration is not counted)"))
            continue
        text = (
            f"ch{d.channel}: {d.stimulated_min:.1f} min stimulated at {_ma(round(d.mean_ma, 1))} "
            f"mean, peak {_ma(round(d.peak_ma, 1))}, charge {d.charge_uc / 1000:.1f} mC"
        )
        if wide:
            text += f", {d.at_target_min:.1f} min at target, {d.pulses:,} pulses"
        lines.append(Text(("dose so far " if wide else "dose ") + text))
    return lines


def _titration_lines(session: Session, screen: Screen) -> list[Text]:
    if screen.confirming is not None:
        lines = [Text("Titration done — confirm before stimulation begins", style="bold cyan")]
        for ch, values in screen.confirming.items():
            lines.append(Text(f"ch{ch}: {thresholds_text(values)}"))
        for ch in session.channels:
            target, ceiling = session.targets_ma.get(ch), session.ceilings_ma.get(ch)
            if target is not None and ceiling is not None:
                lines.append(
                    Text(
                        f"ch{ch}: start at target {_ma(target)}, ceiling {_ma(ceiling)}",
                        style="bold",
                    )
                )
        lines.append(Text("Enter to start stimulation, Esc to cancel", style="bold"))
        return lines
    t = session.titration
    if t is None or session.state is not State.titrating:
        return []
    lines = []
    mark = t.next_mark
    if mark is not None:
        step = ORDER.index(mark) + 1
        head = f"Titration ch{t.channel}, step {step} of 4: {mark.value} ({ASKED_FOR[mark]})"
        lines.append(Text(head, style="bold cyan"))
        lines.append(Text(f"Ask: “{ASK[mark]}”", style="bold"))
        lines.append(Text(f"Then press m or Enter to mark {mark.value}."))
    level = f"now {_ma(t.level_ma)}"
    if t.at_ceiling:
        level += f" — at ceiling ({_ma(t.ceiling_ma)})"
    lines.append(Text(f"{level}   marks: {thresholds_text(t.values)}"))
    if screen.reference:
        lines.append(Text(screen.reference, style="dim"))
    return lines


def render(session: Session, screen: Screen, width: int = 80, height: int = 24) -> RenderableType:
    """The whole display for a terminal ``width`` × ``height``."""
    wide = width >= WIDE
    parts: list[RenderableType] = []
    if screen.simulated:
        parts.append(Text("SIMULATOR — no current is delivered", style="bold black on yellow"))
    patient = session.patient or "none (demonstration)"
    head = Text()
    head.append(session.protocol.name, style="bold")
    head.append(f"   patient: {patient}")
    parts.append(head)
    words, style = state_words(session)
    phase_index = max(0, session.control.phase_index)
    phases = session.protocol.phases
    status = Text()
    status.append(f" {words} ", style=style)
    status.append(f"   phase {phase_index + 1}/{len(phases)}: {phases[phase_index].name}")
    parts.append(status)
    if session.fault_detail:
        parts.append(Text(f"FAULT: {session.fault_detail}", style="bold white on red"))
    if screen.reminder:
        parts.append(Text(f"REMINDER: {screen.reminder}", style="bold black on yellow"))
    total = session.timeline.duration_s or session.protocol.total_duration_s
    elapsed = min(session.elapsed_s(), total)
    clock = Table.grid(padding=(0, 1), expand=True)
    clock.add_column(no_wrap=True)
    clock.add_column(ratio=1)
    clock.add_column(no_wrap=True)
    clock.add_row(
        f"{_clock(elapsed)} / {_clock(total)}",
        ProgressBar(total=max(total, 1e-9), completed=elapsed),
        f"{_clock(total - elapsed)} left",
    )
    parts.append(clock)
    parts.append(_channel_table(session, screen, wide))
    parts.extend(_dose_lines(screen, wide))
    titration = _titration_lines(session, screen)
    parts.extend(titration)
    if screen.notes:
        parts.append(Text(screen.notes[-1], style="yellow"))

    def rows(text: str) -> int:  # a long line (a reminder, a fault) wraps: count it so
        return max(1, -(-Text(text).cell_len // max(1, width)))

    wrapped = sum(rows(p.plain) - 1 for p in parts if isinstance(p, Text))
    used = len(parts) + 1 + len(session.channels) + 2 + wrapped  # the table's heading: 2
    room = max(2, height - used - 1)  # and the key line
    events: list[tuple[str, str]] = []
    for line, style in reversed(screen.events):  # the newest that fit, whole
        room -= rows(line)
        if room < 0 and events:
            break
        events.insert(0, (line, style))
    parts.append(Text("recent events", style="bold underline"))
    parts.extend(Text(line, style=style) for line, style in events)
    parts.append(Text(keys_now(session, screen), style="reverse"))
    return Group(*parts)


class _View:
    """What rich's Live draws: the display at the terminal's present size."""

    def __init__(self, session: Session, screen: Screen) -> None:
        self.session, self.screen = session, screen

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield render(self.session, self.screen, options.max_width, console.size.height)


def reference_of(session: RunningSession, store: Store | None, simulated: bool) -> str | None:
    """The patient's last titration (from the store this session is recorded in) as a line
    for the display, or None."""
    recorder = session.recorder
    if session.patient is None or recorder is None or store is None:
        return None
    found = store.last_titration(
        session.patient, before_session=recorder.session_id, simulated=simulated
    )
    if found is None:
        return None
    day = str(found["started_utc"])[:10]
    values = "; ".join(
        f"ch{ch} {thresholds_text(v, compact=True)}" for ch, v in sorted(found["values"].items())
    )
    return f"last titration {day}: {values}"


def live_session(session: RunningSession, dev: Device, titrate: dict[int, Threshold]) -> State:
    screen = Screen(session.channels[0], dev.simulated)
    confirmed: list[bool | None] = [None]

    def on_event(event: SessionEvent) -> None:
        if screen.on_event(event, session.end_reason):
            console.out.bell()  # once per fault, once per reminder

    session.subscribe(on_event)

    interrupts = Interrupts(session)

    def on_key(key: str) -> None:
        if key == "interrupt":  # Ctrl-C, first and foremost (a stop, then an emergency stop)
            interrupts.interrupted()
            return
        screen.reminder = None  # seen
        screen.notes.clear()  # the reply to the key before
        if screen.confirming is not None:
            if key in ("mark", "emergency"):
                confirmed[0] = key == "mark"  # Enter starts, Esc cancels (output is at 0)
            return
        ch = screen.selected
        try:
            if key.startswith("channel "):
                number = int(key.split()[1])
                if number in session.channels:
                    screen.selected = number
            elif key == "emergency":
                session.emergency_stop("Esc")
            elif key == "stop":
                session.stop()
            elif key == "pause":
                session.resume() if session.state is State.paused else session.pause()
            elif key in ("up", "down") and session.titration is not None:
                _titration_key(session.titration, key, screen)
            elif key in ("up", "down"):
                session.adjust(ch, session.supervisor.step_ma * (1 if key == "up" else -1))
            elif key == "mark" and session.titration is not None:
                session.mark()  # the event list shows it, with its mA
        except TensctlError as exc:  # a refused key is a note, not a crash
            screen.notes.append(str(exc))
        except Exception as exc:  # nor is a bug: the key thread must live on (Esc)
            screen.notes.append(f"internal error on that key: {exc}")

    # Live redraws from its own thread, 4 times a second: drawing never delays a tick
    with (
        _last_line_ended(),
        Live(_View(session, screen), console=console.out, refresh_per_second=4),
        keyboard(on_key) as interactive,
        interrupts,
    ):
        if titrate:
            if not interactive:
                raise UsageError("titration needs a terminal (keys ↑/↓ and m)")
            screen.reference = reference_of(session, dev.store, dev.simulated)
            done = {}
            for ch, use in titrate.items():
                screen.selected = ch
                values = _titrate(session, ch, use)
                if values is None:
                    return session.state
                done[ch] = values
            if not _confirm(session, screen, done, confirmed):
                return session.state
        return run_realtime(session) if _started(session) else session.state


@contextlib.contextmanager
def _last_line_ended() -> Iterator[None]:
    """Rich ends the display's last frame with a line break only on a terminal; piped or
    logged, the next line would run on after it."""
    try:
        yield
    finally:
        if not console.out.is_terminal:
            console.out.line()


def _titration_key(titration: Titration, key: str, screen: Screen) -> None:
    if key == "up" and titration.at_ceiling:
        screen.notes.append(f"at ceiling ({_ma(titration.ceiling_ma)})")
        return
    (titration.up if key == "up" else titration.down)()


def _titrate(session: RunningSession, ch: int, use: Threshold) -> dict[Threshold, float] | None:
    """One channel's SIT; its values (ST, SC1, N, SC2), or None when it did not finish."""
    titration = session.titrate(ch)
    while session.state is State.titrating and not titration.done:
        session.tick()
        # on the session's clock: a paced one (--speed N) moves only while the engine sleeps
        session.clock.sleep_until(session.clock.now() + TICK_S)
    if session.state is not State.titrating:
        return None
    return session.finish_titration(use)


def _confirm(
    session: RunningSession,
    screen: Screen,
    done: dict[int, dict[Threshold, float]],
    confirmed: list[bool | None],
) -> bool:
    """After SC2: the therapist confirms the target and ceiling (Enter) or cancels (Esc)."""
    if session.state is not State.ready:
        return False
    screen.confirming = dict(done)
    try:
        while confirmed[0] is None and session.state is State.ready:
            session.tick()  # output is 0, but the supervisor's clock keeps going
            session.clock.sleep_until(session.clock.now() + TICK_S)
    finally:
        screen.confirming = None
    if confirmed[0] is not True:
        session.end_reason = session.end_reason or "cancelled_before_start"
        screen.events.append((f"{_clock(0)} cancelled before stimulation began", "yellow"))
        return False
    return True


def _started(session: RunningSession) -> bool:
    if session.state is State.ready:
        session.start()
    return session.state not in ENDED
