"""Keys during a session, read from the terminal in cbreak mode on a thread.

up/down: one step on the selected channel (1–8 select it); space: pause/resume; s: stop
with ramp-down; Esc: emergency stop; m or Enter: mark a titration threshold. An arrow key
arrives as ESC [ A, so a lone ESC is told apart by waiting briefly for the rest."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator

ESC_WAIT_S = 0.05
KEYS = {
    "\x1b[A": "up",
    "\x1b[B": "down",
    " ": "pause",
    "s": "stop",
    "\x1b": "emergency",
    "m": "mark",
    "\n": "mark",
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
    thread = threading.Thread(target=loop, name="tensctl-keys", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=0.5)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
