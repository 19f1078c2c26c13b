"""Request and acknowledge over ScienceMode4: packet numbers, a reader thread, retries.

Every request carries a packet number (0-63); the device answers ``command + 1`` with the
same number. A reader thread splits the incoming stream into packets and wakes the request
waiting for that (command, number). Requests hold the write lock only while writing, so an
emergency stop goes out at once even while another request waits for its acknowledge. A
request without an answer is sent again with a new number (every mid-level command is
absolute, so a repeat is harmless); after the last try the link counts as lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tensctl.drivers.errors import CommandRefused, LinkLost
from tensctl.drivers.port import Port
from tensctl.wire.sciencemode4 import (
    Deframer,
    FrameError,
    GeneralError,
    Message,
    MessageError,
    Packet,
    Result,
    UnknownCommand,
    decode_message,
    result_name,
    result_reason,
)

READ_POLL_S = 0.01


class _Waiter:
    def __init__(self, command: int, number: int) -> None:
        self.key = (command + 1, number)
        self.done = threading.Event()
        self.reply: Message | None = None


class Link:
    def __init__(
        self, port: Port, url: str, timeout_s: float, retries: int, on_lost: Callable[[int], None]
    ) -> None:
        self.url, self._port, self.timeout_s, self.retries = url, port, timeout_s, retries
        self._on_lost = on_lost
        port.timeout = READ_POLL_S
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._number = 0
        self._pending: dict[tuple[int, int], _Waiter] = {}
        self._deframer = Deframer()
        self._closed = threading.Event()
        self._error: str | None = None
        self.bad_frames = 0
        self.transfer_errors = 0
        self._reader = threading.Thread(target=self._read_loop, name="sm4-reader", daemon=True)
        self._reader.start()

    def request(
        self,
        message: Message,
        what: str,
        attempts: int | None = None,
        still_wanted: Callable[[], bool] | None = None,
    ) -> Message:
        """Send ``message`` until its acknowledge arrives; returns the acknowledge.
        ``still_wanted`` is asked before every write: False refuses the command unsent."""
        tries = attempts if attempts is not None else self.retries + 1
        for _ in range(tries):
            if self._closed.is_set():
                raise LinkLost(f"{self.url}: the driver is closed")
            if self._error is not None:  # the port failed: nothing more gets through
                raise LinkLost(f"{self.url}: link lost before {what}: {self._error}")
            with self._write_lock:
                if still_wanted is not None and not still_wanted():
                    raise CommandRefused(what, "FAULT_LATCHED", "an emergency stop intervened")
                number, self._number = self._number, (self._number + 1) % 64
                waiter = _Waiter(message.COMMAND, number)
                with self._state_lock:
                    self._pending[waiter.key] = waiter
                try:
                    self._port.write(message.encode(number))
                except Exception as exc:  # pyserial raises SerialException or OSError
                    self.lose(f"write failed: {exc}")
            answered = waiter.done.wait(self.timeout_s)
            with self._state_lock:
                self._pending.pop(waiter.key, None)
            if self._error is not None and waiter.reply is None:
                raise LinkLost(f"{self.url}: link lost during {what}: {self._error}")
            reply = waiter.reply
            if isinstance(reply, UnknownCommand):
                raise CommandRefused(what, "INVALID_COMMAND", "the device does not know it")
            if answered and reply is not None and not isinstance(reply, GeneralError):
                return reply
        self._on_lost(tries)
        raise LinkLost(f"{self.url}: no answer to {what} after {tries} tries")

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        self._port.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # ---- the reader thread -------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._port.read(1)
                waiting = getattr(self._port, "in_waiting", 0) if data else 0
                if waiting:
                    data += self._port.read(waiting)
            except Exception as exc:  # unplugged, closed
                if not self._closed.is_set():
                    self.lose(f"read failed: {exc}")
                return
            if data:
                self.feed(data)

    def feed(self, data: bytes) -> None:
        for item in self._deframer.feed(data):
            if isinstance(item, FrameError):
                self.bad_frames += 1
                continue
            self._dispatch(item, decode_message(item))

    def _dispatch(self, packet: Packet, message: Message | MessageError) -> None:
        if isinstance(message, MessageError):
            self.bad_frames += 1
            return
        with self._state_lock:
            if isinstance(message, GeneralError):  # a transfer error: every waiter retries
                self.transfer_errors += 1
                waiters = list(self._pending.values())
            elif isinstance(message, UnknownCommand):  # answers whatever had this number
                waiters = [w for k, w in self._pending.items() if k[1] == packet.number]
            else:
                found = self._pending.get((packet.command, packet.number))
                waiters = [found] if found is not None else []
        for waiter in waiters:
            if waiter.reply is None:
                waiter.reply = message
                waiter.done.set()

    def lose(self, reason: str) -> None:
        with self._state_lock:
            if self._error is not None:
                return
            self._error = reason
            waiters = list(self._pending.values())
        for waiter in waiters:
            waiter.done.set()
        self._on_lost(0)


def checked(reply: Message, what: str, ok_if_idle: bool = False) -> Message:
    """``reply`` if its result is 0 (or 7, not initialised, where that means nothing runs);
    otherwise :class:`CommandRefused` named after the result."""
    code = getattr(reply, "result", Result.OK)
    if code == Result.OK or (ok_if_idle and code == Result.NOT_INITIALIZED):
        return reply
    raise CommandRefused(what, result_name(code), result_reason(code))
