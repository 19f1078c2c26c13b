"""The interactive session: the live display (state, phase, time and progress, each
channel, faults), the keys that act on it, and the titration steps."""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tensctl.api import Device, RunningSession
from tensctl.cli import console
from tensctl.cli.keys import Interrupts, keyboard
from tensctl.drivers.base import ChannelTelemetry
from tensctl.engine.control import TICK_S
from tensctl.engine.runner import run_realtime
from tensctl.engine.session import Session
from tensctl.engine.states import State
from tensctl.errors import UsageError
from tensctl.model.protocol import Threshold

STATE_STYLE = {State.fault: "bold red", State.stopped: "bold red", State.completed: "green"}


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def render(session: Session, selected: int, simulated: bool, notes: list[str]) -> RenderableType:
    total = session.timeline.duration_s or session.protocol.total_duration_s
    elapsed = session.elapsed_s()
    phase_index = max(0, session.control.phase_index)
    phase = session.protocol.phases[phase_index].name
    head = Text()
    if simulated:
        head.append("SIMULATOR — no current is delivered\n", style="bold black on yellow")
    head.append(f"{session.protocol.name}", style="bold")
    head.append("   state: ")
    head.append(session.state.value, style=STATE_STYLE.get(session.state, "cyan"))
    head.append(f"   phase: {phase}   {_clock(elapsed)} / {_clock(total)}")
    head.append(f"   remaining {_clock(total - elapsed)}")
    bar = ProgressBar(total=max(total, 1e-9), completed=min(elapsed, total), width=60)
    table = Table(box=None, pad_edge=False)
    for col in ("ch", "target mA", "set mA", "delivered mA", "µs", "Hz", "impedance", "state"):
        table.add_column(col, justify="right")
    telemetry = session.driver.telemetry()
    for ch in session.channels:
        t: ChannelTelemetry | None = telemetry.get(ch)
        z = (
            "—"
            if t is None
            else "open"
            if math.isinf(t.impedance_ohm)
            else "n/m"  # the device does not measure it
            if math.isnan(t.impedance_ohm)
            else f"{t.impedance_ohm:,.0f} Ω"
        )
        table.add_row(
            f"{'▶' if ch == selected else ' '}{ch}",
            f"{session.targets_ma.get(ch, 0.0):.1f}",
            f"{session.control.sent_ma.get(ch, 0.0):.1f}",
            "—" if t is None or math.isnan(t.delivered_peak_ma) else f"{t.delivered_peak_ma:.1f}",
            "—" if t is None else f"{t.pulse_width_us:g}",
            "—" if t is None else f"{t.frequency_hz:g}",
            z,
            "—" if t is None else (", ".join(sorted(t.faults)) or t.state),
        )
    keys = Text("↑/↓ adjust  1-8 channel  space pause  s stop  Esc EMERGENCY STOP", style="dim")
    lines = [Text(n, style="yellow") for n in notes[-3:]]
    if session.fault_detail:
        lines.append(Text(f"FAULT: {session.fault_detail}", style="bold red"))
    return Group(head, bar, table, *lines, keys)


def live_session(session: RunningSession, dev: Device, titrate: dict[int, Threshold]) -> State:
    selected = [session.channels[0]]
    notes: list[str] = []
    session.subscribe(
        lambda e: (
            notes.append(f"{e.data.get('rule', '')}: {e.data.get('message', '')}")
            if e.kind in ("warning", "error")
            else None
        )
    )

    def on_key(key: str) -> None:
        ch = selected[0]
        try:
            if key.startswith("channel "):
                number = int(key.split()[1])
                if number in session.channels:
                    selected[0] = number
            elif key == "emergency":
                session.emergency_stop("Esc")
            elif key == "stop":
                session.stop()
            elif key == "pause":
                session.resume() if session.state is State.paused else session.pause()
            elif key in ("up", "down") and session.titration is not None:
                (session.titration.up if key == "up" else session.titration.down)()
            elif key in ("up", "down"):
                session.adjust(ch, session.supervisor.step_ma * (1 if key == "up" else -1))
            elif key == "mark":
                notes.append(f"marked {session.mark().value}")
        except Exception as exc:  # a refused key is a note, not a crash
            notes.append(str(exc))

    view = _View(session, selected, dev.simulated, notes)
    # Live redraws from its own thread, 4 times a second: drawing never delays a tick
    with (
        Live(view, console=console.out, refresh_per_second=4, transient=False),
        keyboard(on_key) as interactive,
        Interrupts(session),
    ):
        for ch, use in titrate.items():
            if not interactive:
                raise UsageError("titration needs a terminal (keys ↑/↓ and m)")
            _titrate(session, ch, use, notes)
        return run_realtime(session) if _started(session) else session.state


class _View:
    def __init__(
        self, session: RunningSession, selected: list[int], simulated: bool, notes: list[str]
    ) -> None:
        self.session, self.selected, self.simulated, self.notes = (
            session,
            selected,
            simulated,
            notes,
        )

    def __rich__(self) -> RenderableType:
        return render(self.session, self.selected[0], self.simulated, self.notes)


def _titrate(session: RunningSession, ch: int, use: Threshold, notes: list[str]) -> None:
    titration = session.titrate(ch)
    notes.append(f"titrating channel {ch}: ↑/↓ to change, m to mark ST, SC1, N, SC2")
    while session.state is State.titrating and not titration.done:
        session.tick()
        # on the session's clock: a paced one (--speed N) moves only while the engine sleeps
        session.clock.sleep_until(session.clock.now() + TICK_S)
    if session.state is State.titrating:
        values = session.finish_titration(use)
        notes.append("titration: " + ", ".join(f"{k.value} {v:g} mA" for k, v in values.items()))


def _started(session: RunningSession) -> bool:
    if session.state is State.ready:
        session.start()
    return session.state not in (State.fault, State.stopped, State.completed)
