"""Keys during a session, read from the terminal in cbreak mode on a thread.

up/down: one step on the selected channel (1–8 select it); space: pause/resume; s: stop
with ramp-down; Esc: emergency stop; m or Enter: mark a titration threshold. An arrow key
arrives as ESC [ A, so a lone ESC is told apart by waiting briefly for the rest."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from types import FrameType

from tensctl.engine.session import Session
from tensctl.engine.states import State

NO_RAMP_DOWN = frozenset({State.connected, State.checking, State.ready, State.titrating})
"""States a Ctrl-C cannot ramp down from: it stops them at once."""
ESC_WAIT_S = 0.05
KEYS = {
    "\x1b[A": "up",
    "\x1b[B": "down",
    " ": "pause",
    "s": "stop",
    "\x1b": "emergency",
    "m": "mark",
    "\n": "mark",
    "\x03": "interrupt",  # Ctrl-C (signals off while keys are read): Interrupts counts it
    "\r": "mark",
}


def _read(fd: int, timeout_s: float) -> str:
    ready, _, _ = select.select([fd], [], [], timeout_s)
    return os.read(fd, 1).decode("latin-1") if ready else ""


def _next_key(fd: int) -> str:
    first = _read(fd, 0.1)
    if first != "\x1b":
        return first
    second = _read(fd, ESC_WAIT_S)
    if second != "[":
        return "\x1b"  # a lone Esc (whatever followed is dropped)
    return "\x1b[" + _read(fd, ESC_WAIT_S)


@contextlib.contextmanager
def keyboard(on_key: Callable[[str], None]) -> Iterator[bool]:
    """Call ``on_key(name)`` for each key while inside; yields False (and does nothing)
    when stdin is not a terminal."""
    if not sys.stdin.isatty():
        yield False
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            key = _next_key(fd)
            if key in KEYS:
                on_key(KEYS[key])
            elif key.isdigit() and key != "0":
                on_key(f"channel {key}")

    tty.setcbreak(fd)
    # Ctrl-C as a key, not a signal: two presses in quick succession are two bytes here,
    # while the kernel merges two SIGINTs that arrive before the first is handled into one
    # (a fast double Ctrl-C, the panic gesture, was a plain stop)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ISIG
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    thread = threading.Thread(target=loop, name="tensctl-keys", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=0.5)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class Interrupts:
    """First Ctrl-C: stop with ramp-down. Second: emergency stop.

    Counted from the signal wakeup fd — the C-level handler writes one byte per signal, on
    whichever thread the kernel gave it to — by a thread of its own. Python runs a signal's
    handler only on the main thread, once, however many came before it got there: two
    Ctrl-C while the main thread slept used to be one call, and the emergency stop was
    lost. The stop and emergency stop are never run on the main thread either: it may be
    holding the very locks (event hub, driver) they need."""

    def __init__(self, session: Session) -> None:
        self.session, self.count = session, 0
        self._count_lock = threading.Lock()  # the signal thread and the key thread count

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """The Python-level handler: nothing to do (the wakeup thread counts)."""

    def interrupted(self) -> None:
        """One Ctrl-C (a SIGINT, or the key read while signals are off)."""
        with self._count_lock:
            self.count += 1
            count = self.count
        if count == 1:
            threading.Thread(target=self._stop, daemon=True).start()
        else:
            threading.Thread(
                target=self.session.emergency_stop, args=("second Ctrl-C",), daemon=True
            ).start()

    def _stop(self) -> None:
        """Stop with ramp-down; where there is none to take — titrating, or checked and
        about to start — output goes to 0 at once (an emergency stop), so a Ctrl-C never
        leaves a session to go on or to begin."""
        self.session.stop()
        if self.session.state in NO_RAMP_DOWN:
            self.session.emergency_stop("Ctrl-C")

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
                    self.interrupted()

    def __enter__(self) -> Interrupts:
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
