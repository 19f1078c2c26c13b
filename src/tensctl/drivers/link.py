"""One threaded request/reply link under every driver: the reader thread, the waiters,
retries, link loss. A protocol subclasses :class:`Link` and supplies only its hooks: how a
request is written (:meth:`Link._encode`), what the bytes read are (:meth:`Link._decode`),
which waiting request a reply answers (:meth:`Link._answers`), which replies ask for the
request again (:meth:`Link._retryable`) and what a reply means to the caller
(:meth:`Link._result`).

Every request carries a new number; a request without a final reply within the timeout is
sent again with a new number (every command of every protocol here is absolute, so a repeat
is harmless); after the last try the link reports ``on_lost(tries)`` and raises
:class:`LinkLost`. A port that fails (read or write) loses the link for good: every waiter
wakes at once, ``on_lost(0)``.

Locks and threads:

- ``_write_lock``: taken by a requesting thread only while it checks that its request is
  still wanted, numbers it, registers its waiter and writes it (on a synchronous port also
  while it reads what the device answered inside the write). Nobody waits for a reply while
  holding it, so an emergency stop waits at most for one write in progress, never behind
  another request's reply. The reader thread takes it only to answer the device at once
  (ScienceMode2's InitAck), and never holds it while it dispatches.
- ``_state_lock``: the waiters and the link's error. A leaf: held for a few lines, never
  around a write, a wait or a callback. Order: ``_write_lock`` → ``_state_lock``.
- The reader thread never waits for a reply: it cannot, it is the one to read it. A
  protocol that says so (``refuses_reentrant``) refuses a request from it
  (:class:`Reentrant`); :meth:`Link.request_later` sends one from a helper thread instead.
- The hooks and ``on_lost`` are called with no link lock held — except on a synchronous
  port (the in-process simulator in virtual time: no reader thread), where the requesting
  thread reads and dispatches the device's answer under ``_write_lock``; a callback that
  runs there must not call the driver.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from tensctl.drivers.errors import CommandRefused, LinkLost
from tensctl.drivers.port import READ_TIMEOUT_S, InProcessPort, Port

Req = TypeVar("Req")  # what a caller asks the link to send
Msg = TypeVar("Msg")  # what the link reads: a decoded message (and what the protocol needs)
Res = TypeVar("Res")  # what a request returns


class Cancelled(Exception):
    """The request was no longer wanted when its turn to be written came (``allowed``)."""


class Reentrant(Exception):
    """A request from the reader thread, which would wait for its own reply."""


class Answers(NamedTuple):
    """The waiting requests a reply answers: its number and the kind of reply awaited;
    None matches any (a transfer error answers every waiter). A tuple: one is made for
    every reply."""

    number: int | None
    kind: int | None


@dataclass(frozen=True)
class LinkSetup:
    """Where a link runs and how patient it is: the port, the device's URL (for messages),
    how long a reply may take and how often a request is sent again, and whom to tell when
    the link is lost (``on_lost(tries)``: the tries without an answer, 0 if the port
    failed)."""

    port: Port
    url: str
    timeout_s: float
    retries: int
    on_lost: Callable[[int], None]


class _Waiter(Generic[Msg]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: Msg | None = None


class Link(ABC, Generic[Req, Msg, Res]):
    reader_name = "tensctl-reader"
    numbers = 0x10000
    """How many request numbers the protocol has before they wrap."""
    refuses_reentrant = False
    """A request from the reader thread raises :class:`Reentrant` (else it is sent, and can
    only wait out its tries)."""
    writes_when_lost = True
    """After the port failed, a request is still written once (a stop may get through);
    False: refused unwritten (:class:`LinkLost`)."""
    answers_when_retries_run_out = False
    """After the last try, the last retryable reply is the answer (else: no answer)."""
    synchronous_ports = False
    """On a synchronous port (:class:`~tensctl.drivers.port.InProcessPort`) the requester
    reads the device's answer itself and no reader thread runs (else: a reader thread
    reads it like any port's)."""

    def __init__(self, setup: LinkSetup) -> None:
        port = self.port = setup.port
        self.url, self.timeout_s, self.retries = setup.url, setup.timeout_s, setup.retries
        self._on_lost = setup.on_lost
        if port.timeout != READ_TIMEOUT_S:  # pyserial reconfigures the line on every set,
            port.timeout = READ_TIMEOUT_S  # and a pty may refuse even parity twice (EINVAL)
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._number = 0
        self._pending: dict[tuple[int, int], _Waiter[Msg]] = {}
        self._error: str | None = None
        self._closed = threading.Event()
        self.bad_frames = 0
        # A synchronous port (the in-process simulator) answers inside write(): the requester
        # then reads the reply itself instead of waiting for a reader thread.
        self._sync: InProcessPort | None = None
        if self.synchronous_ports and isinstance(port, InProcessPort) and port.synchronous:
            self._sync = port
        self._reader = threading.Thread(target=self._read_loop, name=self.reader_name, daemon=True)

    def start(self) -> None:
        """Start reading (a subclass calls it at the end of its constructor)."""
        if self._sync is None:
            self._reader.start()

    # ---- the protocol's hooks -----------------------------------------------------------

    @abstractmethod
    def _encode(self, request: Req, number: int) -> tuple[int, bytes]:
        """(the kind of reply awaited, the frame) for ``request`` numbered ``number``.
        Called under the write lock, just before the frame is written."""

    @abstractmethod
    def _decode(self, data: bytes) -> Iterable[Msg | None]:
        """What ``data`` completes, in order; None for a frame that does not decode."""

    @abstractmethod
    def _answers(self, message: Msg) -> Answers | None:
        """The waiters ``message`` answers; None: not a reply (see :meth:`_received`)."""

    @abstractmethod
    def _result(self, reply: Msg, what: str) -> Res:
        """What the final ``reply`` to ``what`` returns; raises if it is a refusal."""

    def _retryable(self, reply: Msg) -> bool:
        """``reply`` asks for the request again (busy, damaged in transfer)."""
        return False

    def _received(self, message: Msg) -> None:
        """A message that answers no request (telemetry, events, the device's own news)."""

    def _answered(self, reply: Msg) -> None:
        """``reply`` is handed to its waiter (called before the waiter wakes)."""

    def _cancelled(self, what: str) -> Exception:
        """What a request raises when ``allowed`` says no before a write."""
        return Cancelled(what)

    # ---- requests ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def error(self) -> str | None:
        """Why the link was lost (the port failed), or None."""
        return self._error

    def on_reader_thread(self) -> bool:
        return threading.current_thread() is self._reader

    def request(
        self,
        request: Req,
        what: str,
        attempts: int | None = None,
        allowed: Callable[[], bool] | None = None,
    ) -> Res:
        """Send ``request`` until a final reply comes back; returns :meth:`_result` of it.
        ``allowed`` is asked before every write, under the write lock: False raises
        :meth:`_cancelled` with nothing more written."""
        if self.refuses_reentrant and self.on_reader_thread():
            raise Reentrant(what)
        tries = attempts if attempts is not None else self.retries + 1
        reply: Msg | None = None
        for _ in range(tries):
            if self._closed.is_set():
                raise LinkLost(f"{self.url}: the driver is closed")
            if self._error is not None and not self.writes_when_lost:
                raise LinkLost(f"{self.url}: link lost before {what}: {self._error}")
            waiter: _Waiter[Msg] = _Waiter()
            with self._write_lock:
                if allowed is not None and not allowed():
                    raise self._cancelled(what)
                number, self._number = self._number, (self._number + 1) % self.numbers
                kind, frame = self._encode(request, number)
                with self._state_lock:
                    self._pending[(number, kind)] = waiter
                failure = self._write(frame)
                if self._sync is not None and failure is None:
                    self._pump(self._sync)  # no reply now is no reply: a timeout, no wait
            if failure is not None:
                self._lose(failure)  # wakes this waiter too
            if self._sync is None:
                waiter.done.wait(self.timeout_s)
            with self._state_lock:
                self._pending.pop((number, kind), None)
            reply = waiter.reply
            if reply is None and self._error is not None:
                raise LinkLost(f"{self.url}: link lost during {what}: {self._error}")
            if reply is not None and not self._retryable(reply):
                return self._result(reply, what)
        if reply is not None and self.answers_when_retries_run_out:
            return self._result(reply, what)  # a retryable reply every time: the caller's
        self._on_lost(tries)
        ms = self.timeout_s * 1000
        raise LinkLost(f"{self.url}: no answer to {what} after {tries} tries of {ms:.0f} ms")

    def request_later(
        self,
        request: Req,
        what: str,
        attempts: int | None = None,
        allowed: Callable[[], bool] | None = None,
    ) -> None:
        """:meth:`request` from a helper thread, at once (for the reader thread's callbacks:
        the reader stays free to read the reply). No answer after every try: the link is
        lost; a refusal is the helper's to drop (whatever overtook it has been sent)."""

        def run() -> None:
            try:
                self.request(request, what, attempts, allowed)
            except LinkLost as exc:
                self._lose(str(exc), tell=False)  # told already, as the tries ran out
            except (Cancelled, CommandRefused):
                pass

        threading.Thread(target=run, name=f"{self.reader_name}-request", daemon=True).start()

    def post(self, request: Req) -> None:
        """A frame without a reply (a keep-alive), not behind any request's reply."""
        with self._write_lock:
            number, self._number = self._number, (self._number + 1) % self.numbers
            _, frame = self._encode(request, number)
            failure = self._write(frame)
        if failure is not None:
            self._lose(failure)
            raise LinkLost(f"{self.url}: {failure}")

    def write_now(self, frame: bytes) -> None:
        """``frame`` as it is (an answer to the device's own request); a failure loses the
        link."""
        with self._write_lock:
            failure = self._write(frame)
        if failure is not None:
            self._lose(failure)

    def refresh(self) -> None:
        """A synchronous port that runs on its own (real time) may have news at any moment;
        one in virtual time has news only when asked something (it is read then)."""
        if self._sync is not None and self._sync.ticking:
            with self._write_lock:
                self._pump(self._sync)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._reader.is_alive() and not self.on_reader_thread():
            self._reader.join(timeout=1.0)
        self.port.close()

    def _write(self, frame: bytes) -> str | None:
        """Writes ``frame`` (under the write lock); what failed, if it did: the caller
        loses the link once it has let go of the lock (``on_lost`` may call the driver)."""
        try:
            self.port.write(frame)
        except Exception as exc:  # pyserial raises SerialException or OSError
            return f"write failed: {exc}"
        return None

    # ---- the reader thread -------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                # read(n) waits for n bytes or the timeout, so read one byte (returns as soon
                # as it comes) and then what is waiting: a reply is seen at once, not 10 ms on
                data = self.port.read(1)
                waiting = self.port.in_waiting if data else 0
                if waiting:
                    data += self.port.read(waiting)
            except Exception as exc:  # the port went away: unplugged, closed, socket reset
                if not self._closed.is_set():
                    self._lose(f"read failed: {exc}")
                return
            if data:
                self._feed(data)

    def _pump(self, port: InProcessPort) -> None:
        """Synchronous ports: take and handle everything the device has sent so far."""
        data = port.read_available()
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        for message in self._decode(data):
            if message is None:
                self.bad_frames += 1
            else:
                self._dispatch(message)

    def _dispatch(self, message: Msg) -> None:
        answers = self._answers(message)
        if answers is None:
            self._received(message)
            return
        with self._state_lock:
            if answers.number is not None and answers.kind is not None:  # the usual reply
                found = self._pending.get((answers.number, answers.kind))
                waiters = [found] if found is not None else []
            else:
                waiters = [
                    w
                    for (number, kind), w in self._pending.items()
                    if answers.number in (None, number) and answers.kind in (None, kind)
                ]
        for waiter in waiters:
            if waiter.reply is None:
                self._answered(message)
                waiter.reply = message
                waiter.done.set()

    def _lose(self, reason: str, tell: bool = True) -> None:
        with self._state_lock:
            if self._error is not None:
                return
            self._error = reason
            waiters = list(self._pending.values())
        for waiter in waiters:
            waiter.done.set()
        if tell:
            self._on_lost(0)
