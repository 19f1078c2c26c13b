"""The live session display: state, phase, time and progress, each channel, faults."""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tensctl.drivers.base import ChannelTelemetry
from tensctl.engine.session import Session
from tensctl.engine.states import State

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
