"""``tensctl run``: run a protocol on a device — titrate, stimulate, adjust, stop.

Interactive by default (a live display and keys); ``--json`` prints one JSON event per line
for other programs instead and reads commands as JSON lines on stdin (:mod:`.jsonlines`).
Exit codes: 0 completed, 4 refused by the safety checks, 5 device error, 6 fault, 7 stopped
by the user, 11 (``--json``) the controlling program went away.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import typer
from rich.console import RenderableType
from rich.live import Live

from tensctl.api import Device, RunningSession, connect
from tensctl.api_args import check_speed
from tensctl.cli import console
from tensctl.cli.jsonlines import JsonLines
from tensctl.cli.keys import keyboard
from tensctl.cli.live import render
from tensctl.cli.options import DB_OPTION, parse_intensities
from tensctl.cli.outcomes import ask_outcomes
from tensctl.engine.runner import run_realtime
from tensctl.engine.states import State
from tensctl.errors import (
    ControllerLost,
    FaultError,
    InputError,
    Problem,
    SafetyRefused,
    StoppedByUser,
    UsageError,
)
from tensctl.model.library import find_protocol
from tensctl.model.protocol import Protocol, Threshold

SCREENING = (
    "Has the patient been screened for contraindications (pacemaker or other active implant, "
    "pregnancy, epilepsy, heart disease, broken skin, malignancy at the site) and cleared?"
)


def run_command(
    protocol: str = typer.Argument(..., help="Protocol id or file."),
    device: str = typer.Option("sim://", "--device", help="Device URL (default: the simulator)."),
    profile: str | None = typer.Option(None, "--profile", help="Device profile id or file."),
    patient: str | None = typer.Option(None, "--patient", help="Pseudonymous patient id."),
    intensity: list[str] = typer.Option(
        [], "--intensity", "-i", help="CH=MA, MA for every channel, or CH=SC2 to titrate first."
    ),
    ceiling: list[str] = typer.Option([], "--ceiling", help="CH=MA: never above this."),
    as_json: bool = typer.Option(False, "--json", help="JSON events on stdout, commands on stdin."),
    yes: bool = typer.Option(False, "--yes", "-y", help="The patient has been screened."),
    speed: float | None = typer.Option(None, "--speed", help="N× real time (simulator only)."),
    no_outcomes: bool = typer.Option(
        False, "--no-outcomes", help="Do not ask for pain and fatigue before and after."
    ),
    operator: str | None = typer.Option(
        None, "--operator", envvar="TENSCTL_OPERATOR", help="Who runs it (default: login)."
    ),
    db: Path | None = DB_OPTION,
) -> None:
    """Run PROTOCOL on a device, with the safety checks, the supervisor and a live display."""
    chosen, _ = find_protocol(protocol)
    given, titrate = _split_intensities(intensity, chosen)
    ceilings = parse_intensities(ceiling, chosen, "--ceiling")
    check_speed(device, speed, virtual=False)  # before any question is asked
    if titrate and as_json:
        raise UsageError("titration (CH=SC2) needs the interactive display; give CH=MA with --json")
    screened = yes or _ask(SCREENING)
    ask = not (no_outcomes or as_json) and sys.stdin.isatty()
    if not (no_outcomes or ask):
        console.info("outcomes not asked (no terminal); record them with `sessions outcomes`")
    before = ask_outcomes("before") if ask else None
    journal = db if db is not None else True
    with connect(device, profile=profile, speed=speed, journal=journal, operator=operator) as dev:
        session = dev.session(
            chosen,
            patient=patient,
            intensity=given,
            ceiling=ceilings,
            screened=screened,
            outcomes_before=before,
            screening="--yes" if yes else "confirmed at the prompt",
        )
        lost = None
        if as_json:
            with JsonLines(session) as lines, session, _Interrupts(session):
                state = lines.run()
            lost = lines.lost
        else:
            with session:
                state = _live_session(session, dev, titrate)
        if ask:  # the session's end is on record first: a prompt left unanswered loses nothing
            _outcomes_after(session)
    if session.record_id is not None:
        console.info(
            f"recorded as session {session.record_id} (tensctl sessions show {session.record_id})"
        )
    _finish(session, state, lost)


def _outcomes_after(session: RunningSession) -> None:
    try:
        session.record_outcomes(ask_outcomes("after"))
    except (typer.Abort, KeyboardInterrupt, EOFError):
        console.warning(
            f"outcomes after the session not recorded; add them with "
            f"`tensctl sessions outcomes {session.record_id} --after …`"
        )


def _split_intensities(
    values: list[str], protocol: Protocol
) -> tuple[dict[int, float], dict[int, Threshold]]:
    numeric, titrate = [], {}
    for raw in values:
        ch, _, value = raw.partition("=")
        if value in Threshold.__members__:
            if not ch.isdigit():
                raise InputError([Problem(f"expected CH={value}, found '{raw}'", "--intensity")])
            titrate[int(ch)] = Threshold(value)
        else:
            numeric.append(raw)
    return parse_intensities(numeric, protocol), titrate


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        raise SafetyRefused(
            "contraindication screening not confirmed: answer the prompt or pass --yes"
        )
    return typer.confirm(question, default=False)


class _Interrupts:
    """First Ctrl-C: stop with ramp-down. Second: emergency stop.

    Counted from the signal wakeup fd — the C-level handler writes one byte per signal, on
    whichever thread the kernel gave it to — by a thread of its own. Python runs a signal's
    handler only on the main thread, once, however many came before it got there: two
    Ctrl-C while the main thread slept used to be one call, and the emergency stop was
    lost. The stop and emergency stop are never run on the main thread either: it may be
    holding the very locks (event hub, driver) they need."""

    def __init__(self, session: RunningSession) -> None:
        self.session, self.count = session, 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """The Python-level handler: nothing to do (the wakeup thread counts)."""

    def _interrupted(self) -> None:
        self.count += 1
        if self.count == 1:
            threading.Thread(target=self.session.stop, daemon=True).start()
        else:
            threading.Thread(
                target=self.session.emergency_stop, args=("second Ctrl-C",), daemon=True
            ).start()

    def _watch(self) -> None:
        with self._read:
            while True:
                try:
                    data = self._read.recv(64)
                except OSError:
                    return
                if not data:
                    return
                for _ in range(data.count(bytes([signal.SIGINT]))):
                    self._interrupted()

    def __enter__(self) -> _Interrupts:
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self.previous = signal.signal(signal.SIGINT, self)
        self.previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="tensctl-interrupts", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self.previous_fd)
        signal.signal(signal.SIGINT, self.previous)
        self._write.close()  # the watching thread reads the end of file and returns


def _live_session(session: RunningSession, dev: Device, titrate: dict[int, Threshold]) -> State:
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
        _Interrupts(session),
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
        time.sleep(0.1)
    if session.state is State.titrating:
        values = session.finish_titration(use)
        notes.append("titration: " + ", ".join(f"{k.value} {v:g} mA" for k, v in values.items()))


def _started(session: RunningSession) -> bool:
    if session.state is State.ready:
        session.start()
    return session.state not in (State.fault, State.stopped, State.completed)


def _finish(session: RunningSession, state: State, lost: str | None = None) -> None:
    reason = session.end_reason
    if state is State.fault:
        detail = session.fault_detail
        if "not acknowledged" in detail:  # the stop went out; the device never confirmed it
            raise FaultError(
                f"fault: {detail}; the device did not confirm that its output is at 0 — its "
                "own watchdog stops it once the controller is silent: check the patient and "
                "the device"
            )
        raise FaultError(f"fault: {detail}; every output was taken to 0")
    if lost is not None:
        raise ControllerLost(
            f"{lost}: the controlling program is gone; the session was ended "
            f"({reason or state.value}) after {session.elapsed_s():.0f} s, output at 0"
        )
    if state is State.completed and reason == "completed":
        console.success(f"session completed: {session.protocol.id}, {session.elapsed_s():.0f} s")
        return
    raise StoppedByUser(
        f"session stopped ({reason or state.value}) after {session.elapsed_s():.0f} s"
    )
