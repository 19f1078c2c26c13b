"""The device's channel list as the driver last set it, and the commands that change it.

Stops and decreases never wait behind a list rebuild (up to three commands, each with its
retries): a stop of every channel overtakes whatever is in flight (:meth:`ChannelList.overtake`,
then StopChannelListMode), and a decrease is sent at once (:meth:`ChannelList.lower`) unless a
rebuild is under way — then the rebuild's StartChannelListMode carries it, since every
StartChannelListMode takes the channels' levels when it is written, not when it was asked for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from tensctl.drivers.errors import CommandRefused
from tensctl.drivers.link import Cancelled, Reentrant
from tensctl.drivers.sciencemode2 import plan
from tensctl.drivers.sciencemode2.link import Link
from tensctl.drivers.sciencemode2.state import ChannelState
from tensctl.wire.sciencemode2 import (
    ChannelEntry,
    Message,
    Result,
    StartChannelListMode,
    StopChannelListMode,
    UnknownCommand,
)

REASONS = {
    Result.TRANSFER_ERROR: "the device received the command damaged",
    Result.PARAMETER_ERROR: "a parameter is outside the device's ranges",
    Result.WRONG_MODE: "the device is not in a mode that accepts this command",
    Result.BUSY: "the device is busy",
}
OVERTAKEN = ("FAULT_LATCHED", "overtaken by an emergency stop or a device error")
STOPPED = ("STOPPED", "overtaken by a stop of every channel")
IN_CALLBACK = (
    "IN_CALLBACK",
    "called from an event callback (the driver's reader thread), which cannot wait for the "
    "device's reply: only stop and emergency_stop can be called there",
)


def refused(what: str, code: str, reason: str) -> CommandRefused:
    return CommandRefused(what, code, reason)


class ChannelList:
    """``listed``: the channels in the device's list (stopped ones keep a 0 mA slot until
    the list is rebuilt); ``generation`` changes when something outside the operation in
    progress (a stop of every channel, emergency stop, device error, device reset) stopped
    the device, and ``overtaken`` says what; ``rebuilding``: a rebuild has begun and its
    StartChannelListMode is not written yet."""

    def __init__(self, link: Link, channels: dict[int, ChannelState]) -> None:
        self.link, self.channels = link, channels
        self.lock = threading.Lock()  # guards channel state against the reader thread
        self.generation = 0
        self.overtaken = OVERTAKEN
        self.rebuilding = False
        self.listed: tuple[int, ...] = ()
        self.timing: plan.ListTiming | None = None
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def forget(self) -> None:
        """The device is back in its start mode: no list."""
        self.listed, self.timing = (), None

    def overtake(self, why: tuple[str, str]) -> None:
        """(Under ``lock``.) The device is being stopped: no operation in flight writes again."""
        self.generation += 1
        self.overtaken = why
        self.forget()

    def request(
        self, make: Callable[[int], Message], what: str, allowed: Callable[[], bool] | None = None
    ) -> Message:
        """One command until acked; a result other than 0 is a refusal."""
        try:
            reply = self.link.request(make, what, allowed=allowed or (lambda: True))
        except Cancelled:
            raise refused(what, *self.overtaken) from None
        except Reentrant:
            raise refused(what, *IN_CALLBACK) from None
        return self.check(reply, what)

    def check(self, reply: Message, what: str) -> Message:
        if isinstance(reply, UnknownCommand):
            raise refused(what, "UNKNOWN_COMMAND", "the device does not know this command")
        result = getattr(reply, "result", Result.OK)
        if result != Result.OK:
            try:
                name, reason = Result(result).name, REASONS.get(Result(result), "")
            except ValueError:
                name, reason = f"RESULT_{result}", "a result this driver does not know"
            raise refused(what, name, reason)
        return reply

    def stop(self, what: str, attempts: int | None = None) -> None:
        """StopChannelListMode, not behind anything else (from the reader thread: without
        waiting for its Ack). The caller has forgotten the list (:meth:`overtake`) first."""
        if self.link.on_reader_thread():
            self.link.request_later(StopChannelListMode, what, attempts)
        else:
            self.check(self.link.request(StopChannelListMode, what, attempts), what)

    def lower(self, what: str) -> None:
        """The levels now, with nothing waited for: lower levels only (a stopped channel
        at 0 mA, a decrease). Nothing to send without a list, or while a rebuild is under
        way (its StartChannelListMode carries them)."""
        if self.link.on_reader_thread():
            self.link.request_later(self._start, what, allowed=self._lowerable)
            return
        try:
            reply = self.link.request(self._start, what, allowed=self._lowerable)
        except Cancelled:
            return  # a stop or a rebuild carries the lower levels
        self.check(reply, what)
        self._settle(self.generation, False, what)

    def update(self, what: str, guarded: bool = True) -> None:
        """StartChannelListMode with every listed channel's current (stopped: 0 mA)."""
        generation = self.generation
        allowed = (lambda: self.generation == generation) if guarded else None
        self.request(self._start, what, allowed)
        self._settle(generation, guarded, what)

    def program(self, what: str) -> None:
        """Run the active channels: an update if the list serves them, else a new list
        (stop, init with the active channels, start)."""
        generation = self.generation
        active = [n for n, ch in self.channels.items() if ch.active]
        if not active:
            return  # stopped meanwhile: nothing to run
        try:
            needed = plan.timing({n: self._frequency(n) for n in active})
        except plan.Inexpressible as exc:
            raise refused(what, "UNSUPPORTED", str(exc)) from None
        rebuild = needed != self.timing or not set(active) <= set(self.listed)
        try:
            if rebuild:
                self._rebuild(what, generation, active, needed)
            if self.generation != generation:
                raise refused(what, *self.overtaken)
            self.update(what)
        except BaseException:
            if rebuild:  # the old list may be gone: nothing runs that the driver knows of
                with self.lock:
                    for ch in self.channels.values():
                        ch.off(self.now())
                    self.forget()
            raise
        finally:
            with self.lock:
                self.rebuilding = False

    def _rebuild(
        self, what: str, generation: int, active: list[int], needed: plan.ListTiming
    ) -> None:
        with self.lock:
            if self.generation != generation:
                raise refused(what, *self.overtaken)
            self.rebuilding = True
        allowed = lambda: self.generation == generation  # noqa: E731
        if self.listed:
            self.request(StopChannelListMode, what, allowed)
            with self.lock:
                self.forget()
        init = needed.init(0, active)
        self.request(lambda n: replace(init, packet_number=n), what, allowed)
        with self.lock:
            self.listed, self.timing = tuple(active), needed

    def _start(self, number: int) -> StartChannelListMode:
        """The listed channels' levels as they are now (called as the command is written)."""
        with self.lock:
            self.rebuilding = False
            entries = tuple(
                ChannelEntry(0, self.channels[n].width_us, self._level(n)) for n in self.listed
            )
        return StartChannelListMode(number, entries)

    def _lowerable(self) -> bool:
        with self.lock:
            return bool(self.listed) and not self.rebuilding

    def _settle(self, generation: int, guarded: bool, what: str) -> None:
        with self.lock:
            if guarded and self.generation != generation:
                raise refused(what, *self.overtaken)
            now = self.now()
            for n in self.listed:
                ch = self.channels[n]
                ch.account(now)
                if self.timing is not None:
                    ch.frequency_hz = self.timing.frequency_hz(n)

    def _level(self, n: int) -> int:
        ch = self.channels[n]
        return ch.current_ma if ch.active else 0

    def _frequency(self, n: int) -> float:
        settings = self.channels[n].settings
        assert settings is not None
        return settings.frequency_hz
