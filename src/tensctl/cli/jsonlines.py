"""``tensctl run --json``: events as JSON lines on stdout, commands as JSON lines on stdin.

The controlling program is a peer that can fail, and it must never hold the session up:

* stdout is written by a thread of its own, never under a session lock. The session's
  listener only puts each event on a bounded queue. A stdout that is closed (EPIPE), not
  read (the queue fills up) or stalled (a write does not complete in :data:`STALL_S`) means
  the program has gone away: the session is ramped down (an emergency stop if it cannot
  ramp) and ``run`` exits with the ``controller_lost`` exit code.
* stdin at end of file (the program exited or closed it) ends the session the same way;
  a program that wants the session to run keeps stdin open. This holds for a terminal too
  (Ctrl-D): there is no stdin on which an end of file means "carry on".
* every command line is read with a bound (:data:`MAX_LINE_BYTES`; the rest of a longer
  line is discarded unread into memory) and checked strictly: known command names, exact
  types (``"channel": 1``, not ``1.9``, ``true`` or ``"1"``), finite numbers, no unknown or
  repeated keys. A bad line is answered with an ``error`` event (which the session record
  keeps), quoting at most :data:`QUOTE_CHARS` characters of it; the session and its output
  stay as they were.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tensctl.api import RunningSession
from tensctl.cli import console
from tensctl.engine.events import SessionEvent
from tensctl.engine.runner import run_realtime
from tensctl.engine.session import TERMINAL
from tensctl.engine.states import State
from tensctl.errors import TensctlError

QUEUE_EVENTS = 2000  # events waiting for stdout before the reader counts as gone
STALL_S = 3.0  # real seconds one line may take to write before stdout counts as blocked
MAX_LINE_BYTES = 4096  # a command line longer than this is refused (commands are ~60 bytes)
QUOTE_CHARS = 200  # at most this much of a bad line goes into an event or the record
READ_CHUNK = 65536
LOCK_WAIT_S = 2.0  # the session lock not free this long: emergency stop instead of a ramp
ENDING_GRACE_S = 10.0  # real seconds for the ramp-down before an emergency stop ends it
LIVE = frozenset({State.ramping_up, State.stimulating, State.paused})  # a stop ramps these
LOST_REASON = "controller_lost"  # the session record's end reason


def _thread(target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
    """A daemon thread that never takes SIGINT: the kernel gives a signal to any thread that
    does not block it, and one taken here may be merged with the next before the main
    thread runs the handler (a second Ctrl-C, the emergency stop, would be lost)."""

    def masked() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        target(*args)

    return threading.Thread(target=masked, name=name, daemon=True)


# ---- stdin: lines with a bound -----------------------------------------------------------


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    data: bytes  # at most MAX_LINE_BYTES of it
    size: int  # bytes in the whole line, newline excluded

    @property
    def too_long(self) -> bool:
        return self.size > len(self.data)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def quote(line: Line) -> dict[str, Any]:
    """At most :data:`QUOTE_CHARS` characters of a line, with its length in bytes and
    whether what is shown is all of it."""
    text = line.text()
    shown = text[:QUOTE_CHARS]
    cut = line.too_long or len(shown) < len(text)
    return {"input": shown, "input_bytes": line.size, "input_truncated": cut}


def read_lines(read: Callable[[int], bytes], max_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """The lines ``read`` gives until end of file, each cut to ``max_bytes``: what is beyond
    is counted and dropped as it arrives, never held."""
    kept, size, number = bytearray(), 0, 0
    while True:
        chunk = read(READ_CHUNK)
        if not chunk:
            if size:
                yield Line(number + 1, bytes(kept), size)
            return
        start = 0
        while start <= len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline < 0 else newline
            room = max_bytes - len(kept)
            if room > 0:
                kept += chunk[start : min(end, start + room)]
            size += end - start
            if newline < 0:
                break
            number += 1
            yield Line(number, bytes(kept), size)
            kept, size = bytearray(), 0
            start = newline + 1


def stdin_read() -> Callable[[int], bytes]:
    """Reads of stdin straight from its file descriptor: no Python buffer (and no buffer
    lock held by a thread blocked in a read when the process exits)."""
    stream = sys.stdin
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # no stdin at all: an end of file at once
            return lambda n: b""
        return lambda n: bytes(buffer.read1(n))
    return lambda n: os.read(fd, n)


# ---- commands: strict ------------------------------------------------------------------


class BadCommand(Exception):
    """A command line not taken: where in it (a field, or the line), and why."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where, self.why = where, why


@dataclass(frozen=True)
class Command:
    name: str
    channel: int = 0
    delta_ma: float = 0.0


FIELDS: dict[str, tuple[str, ...]] = {
    "pause": (),
    "resume": (),
    "stop": (),
    "emergency_stop": (),
    "adjust": ("channel", "delta_ma"),
}
EXAMPLE = '{"cmd": "adjust", "channel": 1, "delta_ma": -1}'


def _shown(value: Any) -> str:
    """A JSON value as the user wrote it, named in words."""
    if isinstance(value, bool):
        return f"{json.dumps(value)} (true/false)"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:40] + "…"
        return f"the text {json.dumps(text)}"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return json.dumps(value)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise BadCommand(f"field '{key[:40]}'", "given twice; give each field once")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise BadCommand("the line", f"{name} is not a number here; give a finite number")


def parse_command(text: str, channels: Sequence[int]) -> Command:
    """One command line, checked field by field; :class:`BadCommand` says what is wrong."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise BadCommand(
            "the line", f"not JSON ({exc.msg} at character {exc.pos + 1}); expected e.g. {EXAMPLE}"
        ) from None
    except RecursionError:
        raise BadCommand("the line", "nested too deeply to be a command") from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise BadCommand("the line", f"not a command: {exc}") from None
    if not isinstance(value, dict):
        raise BadCommand(
            "the line", f"expected a JSON object such as {EXAMPLE}, found {_shown(value)}"
        )
    known = ", ".join(FIELDS)
    if "cmd" not in value:
        raise BadCommand("field 'cmd'", f"missing; say which command: {known}")
    name = value["cmd"]
    if not isinstance(name, str) or name not in FIELDS:
        shown = json.dumps(name[:40]) if isinstance(name, str) else _shown(name)
        raise BadCommand("field 'cmd'", f"unknown command {shown}; the commands are {known}")
    takes = FIELDS[name]
    for key in value:
        if key != "cmd" and key not in takes:
            fields = ", ".join(f"'{k}'" for k in takes)
            also = f"it takes {fields}" if takes else "it takes no other field"
            raise BadCommand(f"field '{key[:40]}'", f"unknown to '{name}' ({also})")
    for key in takes:
        if key not in value:
            raise BadCommand(f"field '{key}'", f"missing; e.g. {EXAMPLE}")
    if name != "adjust":
        return Command(name)
    channel, delta = value["channel"], value["delta_ma"]
    if type(channel) is not int:
        raise BadCommand(
            "field 'channel'", f"must be a whole number such as 1, found {_shown(channel)}"
        )
    if channel not in channels:
        numbers = ", ".join(str(c) for c in channels)
        raise BadCommand("field 'channel'", f"no channel {channel} here (channels: {numbers})")
    if type(delta) not in (int, float):
        raise BadCommand(
            "field 'delta_ma'", f"must be a number of mA such as -1 or 0.5, found {_shown(delta)}"
        )
    try:
        delta_ma = float(delta)
    except OverflowError:
        delta_ma = math.inf
    if not math.isfinite(delta_ma):
        raise BadCommand(
            "field 'delta_ma'", f"must be a finite number of mA, found {_shown(delta)}"
        )
    return Command(name, channel, delta_ma)


# ---- stdout: a writer thread with a bound ------------------------------------------------


def stdout_write() -> Callable[[bytes], None]:
    """Writes to stdout's file descriptor (no Python buffer whose lock a blocked write
    would hold at exit), or to the stream when it has none (an in-process test)."""
    stream = sys.stdout
    try:
        stream.flush()
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):

        def write_stream(data: bytes) -> None:
            stream.write(data.decode("utf-8"))
            stream.flush()

        return write_stream

    def write_fd(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return write_fd


class EventWriter:
    """Session events to stdout from a thread of its own. :meth:`put` (the session's
    listener, called under its lock) never blocks and never writes; a stdout that is closed,
    not read or stalled is reported once to ``on_lost`` and written to no more."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        on_lost: Callable[[str, str], None],
        capacity: int = QUEUE_EVENTS,
        stall_s: float = STALL_S,
    ) -> None:
        self._write, self.stall_s = write, stall_s
        self._on_lost = on_lost  # (source, why)
        self._queue: queue.Queue[bytes | None] = queue.Queue(capacity)
        self._lost_lock = threading.Lock()
        self.lost: str | None = None
        self._busy_since: float | None = None
        self._done = threading.Event()
        self._writer = _thread(self._run, "tensctl-stdout")
        self._watch = _thread(self._watcher, "tensctl-stdout-watch")

    def start(self) -> None:
        self._writer.start()
        self._watch.start()

    def put(self, event: SessionEvent) -> None:
        if self.lost is not None:
            return
        try:
            line = json.dumps(event.as_dict(), default=str) + "\n"
        except (TypeError, ValueError) as exc:  # never into the session: it runs under its lock
            bad = {"event": "error", "elapsed_s": event.elapsed_s, "kind": event.kind}
            line = json.dumps({**bad, "why": f"event not printable: {exc}"}) + "\n"
        try:
            self._queue.put_nowait(line.encode("utf-8"))
        except queue.Full:
            self._lose(f"stdout is not being read ({self._queue.maxsize} events waiting)")

    def close(self) -> None:
        """Write what is queued, as long as stdout takes it (a stall ends the wait)."""
        try:
            self._queue.put(None, timeout=self.stall_s)
        except queue.Full:
            self._lose(f"stdout is not being read ({self._queue.maxsize} events waiting)")
        while self._writer.is_alive() and self.lost is None:
            self._writer.join(0.05)
        self._done.set()

    def _lose(self, why: str) -> None:
        with self._lost_lock:
            if self.lost is not None:
                return
            self.lost = why
        self._on_lost("stdout", why)

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            if line is None:
                return
            if self.lost is not None:
                continue  # nobody reads it: dropped
            self._busy_since = time.monotonic()
            try:
                self._write(line)
            except OSError as exc:
                what = "closed" if isinstance(exc, BrokenPipeError) else "not writable"
                self._lose(f"stdout is {what} ({exc.strerror or exc})")
            finally:
                self._busy_since = None

    def _watcher(self) -> None:
        while not self._done.wait(min(0.1, self.stall_s / 4)):
            since = self._busy_since
            if since is not None and time.monotonic() - since > self.stall_s:
                self._lose(f"stdout is blocked (a write has not completed in {self.stall_s:g} s)")
                return


# ---- the controlling program went away: end the session ----------------------------------


class Ending:
    """Ends the session, once, when the controlling program is gone. :meth:`lose` may be
    called from anywhere (under the session's lock too): it only sets a flag and starts a
    thread, which asks for a ramp-down and, if the session cannot ramp or the ramp does not
    end in :data:`ENDING_GRACE_S`, makes an emergency stop."""

    def __init__(self, session: RunningSession) -> None:
        self.session = session
        self._lock = threading.Lock()  # guards the flags only: never held while calling out
        self.why: str | None = None  # the session was ended for this
        self.source = ""  # "stdout" or "stdin": which one went away
        self.late: list[str] = []  # stdout lost after the session had ended on its own
        self._phase = "before"  # before → starting → running → over

    def lose(self, source: str, why: str) -> None:
        """``source`` ("stdout" or "stdin") is gone, for ``why``."""
        with self._lock:
            if self.why is not None:
                return
            if self._phase == "over" or self.session.state in TERMINAL:
                if source == "stdout":
                    self.late.append(why)
                return
            self.why, self.source = why, source
        args = (source, why)
        _thread(self._end, "tensctl-ending", *args).start()

    def may_start(self) -> bool:
        """False once the program is gone: the session is then not started at all."""
        with self._lock:
            if self.why is not None:
                return False
            self._phase = "starting"
            return True

    def started(self) -> None:
        with self._lock:
            self._phase = "running"

    def over(self) -> None:
        with self._lock:
            self._phase = "over"

    def _starting(self) -> bool:
        with self._lock:
            return self._phase == "starting"

    def _end(self, source: str, why: str) -> None:
        s = self.session
        with contextlib.suppress(Exception):  # the record is told if it can be; the stop comes
            s.emit(LOST_REASON, source=source, why=why)
        deadline = time.monotonic() + ENDING_GRACE_S
        while self._starting() and s.state not in LIVE and s.state not in TERMINAL:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if s.state in LIVE:
            self._ramp_down(f"{LOST_REASON}:{source}")
        _warn(f"{why}: the controlling program is gone, the session is being ended")
        while s.state is State.ramping_down and time.monotonic() < deadline:
            time.sleep(0.02)
        if s.state in LIVE or s.state is State.ramping_down:
            self._emergency(f"controller lost ({why}): the ramp-down did not end in time")

    def _ramp_down(self, reason: str) -> None:
        """A stop with ramp-down; an emergency stop if it cannot be asked for."""
        s = self.session
        if not s.lock.acquire(timeout=LOCK_WAIT_S):
            self._emergency("controller lost: the session is busy, stopping at once")
            return
        try:
            s.stop()
            if s.end_reason == "stopped_by_user":  # not the user: the record says who
                s.end_reason = reason
        except Exception as exc:
            self._emergency(f"controller lost: the ramp-down failed ({exc})")
        finally:
            s.lock.release()
        if s.state in LIVE:  # the stop did not take
            self._emergency("controller lost: the session did not ramp down")

    def _emergency(self, reason: str) -> None:
        try:
            self.session.emergency_stop(reason)
        except Exception as exc:
            _warn(f"emergency stop failed: {exc}")


def _warn(message: str) -> None:
    with contextlib.suppress(Exception):  # stderr gone too: nothing left to tell
        console.warning(message)


# ---- the session ---------------------------------------------------------------------------


class JsonLines:
    """``run --json`` around a session: enter before the session's own context (so that
    stdout is drained after the session's last events), then :meth:`run`."""

    def __init__(
        self,
        session: RunningSession,
        read: Callable[[int], bytes] | None = None,
        write: Callable[[bytes], None] | None = None,
    ) -> None:
        self.session = session
        self.ending = Ending(session)
        self.writer = EventWriter(write or stdout_write(), self.ending.lose)
        self._read = read or stdin_read()
        self._reader = _thread(self._commands, "tensctl-stdin")

    @property
    def lost(self) -> str | None:
        """Why the session was ended because the controlling program went away, if it was."""
        return self.ending.why

    def __enter__(self) -> JsonLines:
        self.writer.start()
        for past in list(self.session.hub.history):
            self.writer.put(past)
        self.session.subscribe(self.writer.put)
        return self

    def __exit__(self, *exc: object) -> None:
        self.ending.over()
        self.writer.close()
        for why in self.ending.late:
            _warn(f"{why}; the session had ended already, not every event may have been read")

    def run(self) -> State:
        """Start the session (unless the program is gone already) and run it to its end."""
        s = self.session
        self._reader.start()
        if not self.ending.may_start():  # gone during the checks: never started
            s.end_reason = s.end_reason or f"{LOST_REASON}:{self.ending.source}"
            return s.state
        try:
            if s.state is State.ready:
                s.start()
        finally:
            self.ending.started()
        state = run_realtime(s)
        self.ending.over()
        return state

    def _commands(self) -> None:
        try:
            for line in read_lines(self._read):
                if self.ending.why is not None or self.session.state in TERMINAL:
                    continue  # the session is ending: commands no longer apply
                self._command(line)
        except OSError as exc:
            self.ending.lose("stdin", f"stdin cannot be read ({exc.strerror or exc})")
            return
        self.ending.lose("stdin", "stdin is closed (end of file)")

    def _command(self, line: Line) -> None:
        text = line.text()
        if not text.strip():
            return  # a blank line: nothing asked
        where = f"stdin line {line.number}"
        try:
            if line.too_long:
                raise BadCommand(
                    "the line", f"{line.size} bytes long; a command is at most {MAX_LINE_BYTES}"
                )
            command = parse_command(text, self.session.channels)
        except BadCommand as bad:
            self._error(
                where if bad.where == "the line" else f"{where}, {bad.where}", bad.why, line
            )
            return
        try:
            self._apply(command)
        except TensctlError as exc:
            self._error(where, str(exc), line)
        except Exception as exc:  # a command that fails is reported, never fatal
            self._error(where, f"{type(exc).__name__}: {exc}", line)

    def _apply(self, command: Command) -> None:
        s = self.session
        if command.name == "adjust":
            s.adjust(command.channel, command.delta_ma)
        elif command.name == "emergency_stop":
            s.emergency_stop()
        else:
            getattr(s, command.name)()

    def _error(self, where: str, why: str, line: Line) -> None:
        self.session.emit(
            "error",
            what="command not taken; the session goes on as it was",
            where=where,
            why=why,
            message=f"{where}: {why}; the command was not taken",
            **quote(line),
        )
