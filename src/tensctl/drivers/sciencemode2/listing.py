"""The device's channel list as the driver last set it, and the commands that change it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from tensctl.drivers.errors import CommandRefused
from tensctl.drivers.sciencemode2 import plan
from tensctl.drivers.sciencemode2.link import Cancelled, Link
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
OVERTAKEN = "overtaken by an emergency stop or a device error"


def refused(what: str, code: str, reason: str) -> CommandRefused:
    return CommandRefused(what, code, reason)


class ChannelList:
    """``listed``: the channels in the device's list (stopped ones keep a 0 mA slot until
    the list is rebuilt); ``generation`` changes when something outside the operation in
    progress (emergency stop, device error, device reset) stopped the device."""

    def __init__(self, link: Link, channels: dict[int, ChannelState]) -> None:
        self.link, self.channels = link, channels
        self.lock = threading.Lock()  # guards channel state against the reader thread
        self.generation = 0
        self.listed: tuple[int, ...] = ()
        self.timing: plan.ListTiming | None = None
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def forget(self) -> None:
        """The device is back in its start mode: no list."""
        self.listed, self.timing = (), None

    def request(
        self, make: Callable[[int], Message], what: str, allowed: Callable[[], bool] | None = None
    ) -> None:
        """One command until acked; a result other than 0 is a refusal."""
        try:
            reply = self.link.request(make, what, allowed=allowed or (lambda: True))
        except Cancelled:
            raise refused(what, "FAULT_LATCHED", OVERTAKEN) from None
        if isinstance(reply, UnknownCommand):
            raise refused(what, "UNKNOWN_COMMAND", "the device does not know this command")
        result = getattr(reply, "result", Result.OK)
        if result != Result.OK:
            try:
                name, reason = Result(result).name, REASONS.get(Result(result), "")
            except ValueError:
                name, reason = f"RESULT_{result}", "a result this driver does not know"
            raise refused(what, name, reason)

    def stop(self, what: str) -> None:
        self.request(StopChannelListMode, what)
        self.forget()

    def update(self, what: str, guarded: bool = True) -> None:
        """StartChannelListMode with every listed channel's current (stopped: 0 mA)."""
        generation = self.generation
        allowed = (lambda: self.generation == generation) if guarded else None
        entries = tuple(
            ChannelEntry(0, self.channels[n].width_us, self._level(n)) for n in self.listed
        )
        self.request(lambda n: StartChannelListMode(n, entries), what, allowed)
        self._settle(generation, guarded, what)

    def program(self, what: str) -> None:
        """Run the active channels: an update if the list serves them, else a new list
        (stop, init with the active channels, start)."""
        generation = self.generation
        active = [n for n, ch in self.channels.items() if ch.active]
        try:
            needed = plan.timing({n: self._frequency(n) for n in active})
        except plan.Inexpressible as exc:
            raise refused(what, "UNSUPPORTED", str(exc)) from None
        rebuild = needed != self.timing or not set(active) <= set(self.listed)
        try:
            if rebuild:
                allowed = lambda: self.generation == generation  # noqa: E731
                if self.listed:
                    self.request(StopChannelListMode, what, allowed)
                    self.forget()
                init = needed.init(0, active)
                self.request(lambda n: replace(init, packet_number=n), what, allowed)
                self.listed, self.timing = tuple(active), needed
            if self.generation != generation:
                raise refused(what, "FAULT_LATCHED", OVERTAKEN)
            self.update(what)
        except BaseException:
            if rebuild:  # the old list may be gone: nothing runs that the driver knows of
                with self.lock:
                    for ch in self.channels.values():
                        ch.off(self.now())
                    self.forget()
            raise

    def _settle(self, generation: int, guarded: bool, what: str) -> None:
        with self.lock:
            if guarded and self.generation != generation:
                raise refused(what, "FAULT_LATCHED", OVERTAKEN)
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
