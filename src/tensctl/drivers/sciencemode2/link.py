"""The ScienceMode2 link: reader thread, the Init handshake, command/ack with retries.

The device starts the connection: it sends ``Init`` every 500 ms until it gets ``InitAck``
(echoing the Init's packet number). :meth:`Link.connect` waits for one and answers it. An
Init after the session is established (the first command acked) means the device restarted
its connection — a power cycle or its watchdog — and is reported through ``on_reset``.

Every command carries a new packet number; its Ack echoes it. A command waits for its Ack
(command + 1) up to the timeout and is sent again (new number: commands are absolute) on
silence, a transfer error or "busy"; after the last try the link counts as lost. Writes
hold the write lock only while writing, so a stop goes out at once even while another
command waits for its Ack. ``Watchdog`` is never answered.

The reader thread also runs the driver's event callbacks, and cannot wait for a reply only
it can read: from there :meth:`Link.request` refuses (:class:`Reentrant`), and
:meth:`Link.request_later` sends from a helper thread that waits for the Ack instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tensctl.drivers.errors import LinkLost
from tensctl.drivers.port import Port
from tensctl.wire.sciencemode2 import (
    Command,
    Deframer,
    FrameError,
    Init,
    InitAck,
    Message,
    Result,
    StimulationError,
    UnknownCommand,
    decode,
)

READ_POLL_S = 0.01
RETRYABLE = frozenset({Result.TRANSFER_ERROR, Result.BUSY})


class Cancelled(Exception):
    """The operation was overtaken by an emergency stop or a device reset."""


class Reentrant(Exception):
    """A request from the reader thread, which would wait for its own reply."""


class _Waiter:
    def __init__(self, ack: int) -> None:
        self.ack = ack
        self.done = threading.Event()
        self.reply: Message | None = None


class Link:
    def __init__(
        self,
        port: Port,
        url: str,
        timeout_s: float,
        retries: int,
        on_reset: Callable[[], None],
        on_error: Callable[[int], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.port, self.url = port, url
        self.timeout_s, self.retries = timeout_s, retries
        self._on_reset, self._on_error, self._on_lost = on_reset, on_error, on_lost
        if port.timeout != READ_POLL_S:  # pyserial reconfigures the line on every set, and a
            port.timeout = READ_POLL_S  # pty may refuse to set even parity twice (EINVAL)
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._number = 0
        self._pending: dict[int, _Waiter] = {}
        self._deframer = Deframer()
        self._init_seen = threading.Event()
        self.established = False
        self.error: str | None = None
        self.bad_frames = 0
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="sm2-reader", daemon=True)
        self._reader.start()

    # ---- connection --------------------------------------------------------------------

    def connect(self, wait_s: float) -> None:
        """Wait for the device's Init (already answered by the reader thread)."""
        if not self._init_seen.wait(wait_s):
            raise LinkLost(
                f"{self.url}: no Init from the device in {wait_s:g} s "
                "(is it a RehaStim2 in ScienceMode2?)"
            )

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if not self.on_reader_thread():
            self._reader.join(timeout=1.0)
        self.port.close()

    # ---- commands ----------------------------------------------------------------------

    def send(self, make: Callable[[int], Message]) -> None:
        """A packet without an answer (Watchdog)."""
        with self._write_lock:
            self._write(make(self._next()).encode())

    def on_reader_thread(self) -> bool:
        return threading.current_thread() is self._reader

    def request_later(
        self,
        make: Callable[[int], Message],
        what: str,
        attempts: int | None = None,
        allowed: Callable[[], bool] = lambda: True,
    ) -> None:
        """:meth:`request` from a helper thread, at once (for the reader thread's callbacks:
        the reader stays free to read the Ack). No answer after every try: the link is lost."""

        def run() -> None:
            try:
                self.request(make, what, attempts, allowed)
            except LinkLost as exc:
                self._lose(str(exc))
            except Cancelled:
                pass  # overtaken: whatever overtook it has been sent

        threading.Thread(target=run, name="sm2-request", daemon=True).start()

    def request(
        self,
        make: Callable[[int], Message],
        what: str,
        attempts: int | None = None,
        allowed: Callable[[], bool] = lambda: True,
    ) -> Message:
        """Send until an Ack with a final result comes back; returns it. ``allowed`` is
        checked before each write (an emergency stop since the operation began: no)."""
        if self.on_reader_thread():
            raise Reentrant(what)
        tries = attempts if attempts is not None else self.retries + 1
        reply: Message | None = None
        for _ in range(tries):
            if self._closed.is_set():
                raise LinkLost(f"{self.url}: the driver is closed")
            with self._write_lock:
                if not allowed():
                    raise Cancelled(what)
                number = self._next()
                message = make(number)
                waiter = _Waiter(message.COMMAND + 1)
                with self._state_lock:
                    self._pending[number] = waiter
                self._write(message.encode())
            waiter.done.wait(self.timeout_s)
            with self._state_lock:
                self._pending.pop(number, None)
            if self.error is not None and waiter.reply is None:
                raise LinkLost(f"{self.url}: link lost during {what}: {self.error}")
            reply = waiter.reply
            if reply is None or getattr(reply, "result", Result.OK) in RETRYABLE:
                continue
            self.established = True
            return reply
        if reply is not None:
            return reply  # a retryable result every time: the caller refuses with it
        raise LinkLost(f"{self.url}: no answer to {what} after {tries} tries")

    def _next(self) -> int:
        number, self._number = self._number, (self._number + 1) & 0xFF
        return number

    def _write(self, frame: bytes) -> None:
        try:
            self.port.write(frame)
        except Exception as exc:  # pyserial raises SerialException or OSError
            self._lose(f"write failed: {exc}")
            raise LinkLost(f"{self.url}: write failed: {exc}") from None

    # ---- the reader thread -------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.port.read(1)
                waiting = getattr(self.port, "in_waiting", 0) if data else 0
                if waiting:
                    data += self.port.read(waiting)
            except Exception as exc:  # unplugged, closed
                if not self._closed.is_set():
                    self._lose(f"read failed: {exc}")
                return
            if data:
                self._feed(data)

    def _feed(self, data: bytes) -> None:
        for item in self._deframer.feed(data):
            if isinstance(item, FrameError):
                self.bad_frames += 1
                continue
            message = decode(item)
            if not isinstance(message, Message):
                self.bad_frames += 1
                continue
            self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        if isinstance(message, Init):
            with self._write_lock:  # answer at once: the device repeats Init every 500 ms
                self._write_quietly(InitAck(message.packet_number, Result.OK).encode())
            if self.established:
                self.established = False
                self._on_reset()
            self._init_seen.set()
        elif isinstance(message, StimulationError):
            self._on_error(message.error)
        elif message.COMMAND in (Command.INIT_ACK, Command.WATCHDOG):
            pass
        else:
            with self._state_lock:
                waiter = self._pending.get(message.packet_number)
            fits = isinstance(message, UnknownCommand) or (
                waiter is not None and waiter.ack == message.COMMAND
            )
            if waiter is not None and fits and waiter.reply is None:
                waiter.reply = message
                waiter.done.set()

    def _write_quietly(self, frame: bytes) -> None:
        try:
            self.port.write(frame)
        except Exception as exc:
            self._lose(f"write failed: {exc}")

    def _lose(self, reason: str) -> None:
        with self._state_lock:
            if self.error is not None:
                return
            self.error = reason
            waiters = list(self._pending.values())
        for waiter in waiters:
            waiter.done.set()
        self._on_lost(reason)
