"""Clocks the engine runs on: real (monotonic), paced (``--speed N`` on the simulator) and
virtual (``--speed max``, tests). The engine reads ``now()`` and waits with
``sleep_until()``; it never adds up sleeps, so a late wake-up is never carried into the next
deadline.

The paced and the virtual clock are virtual time: it moves only when the engine sleeps to a
deadline, and a wake-up, however late, lands exactly on that deadline. The session and the
in-process simulator share the one clock, so on it neither ever sees a late tick: a host
descheduled for a second (a loaded laptop) costs a second of wall time, not a fault."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

MAX_SPEED = 100.0
"""The fastest ``--speed N``: a tick every millisecond of real time, about as fast as a tick
can be done (``--speed max`` goes as fast as it can, unpaced)."""
CATCH_UP_S = 0.1
"""A paced clock woken up to this much late (wall time) makes it up: the next deadlines come
back to back until the pace is kept again, so on average N virtual seconds take one wall
second. Later than that it takes up the pace from where it is: a stall is not followed by a
rush of virtual time."""


class Clock(Protocol):
    speed: float
    """How many of this clock's seconds the watchdogs that catch a stalled host count as one
    second of their real-time limit: 1 on every clock the engine builds (on virtual time a
    tick is never late, so its own seconds are the ones to count)."""
    virtual: bool
    """Time moves only when the engine sleeps to a deadline (paced or not): a tick cannot be
    late on it, so no real-time host watchdog watches it (:mod:`tensctl.engine.runner`)."""

    def now(self) -> float:
        """Seconds on a monotonic scale (the origin is arbitrary)."""

    def sleep_until(self, deadline: float) -> None:
        """Return at ``deadline`` or later (at once if it has passed)."""

    def __call__(self) -> float:
        """Same as :meth:`now`, so a clock can be passed where a callable is expected."""


class RealClock:
    speed = 1.0
    virtual = False

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def __call__(self) -> float:
        return self.now()


class PacedClock:
    """Virtual time paced at ``pace`` times wall time (``--speed N``, the simulator only).

    Time stands still while the engine works and moves while it sleeps to a deadline:
    ``pace`` virtual seconds for each wall second, never past the deadline slept to. The
    sleeper wakes exactly at its deadline, however late the host let it run (up to
    :data:`CATCH_UP_S` behind, the pace is made up; more, and it is taken up from there).
    Another thread (a key pressed: stop, adjust, emergency stop) reading :meth:`now`
    meanwhile gets the time reached so far, so what it does happens between two ticks, at
    the moment it happened, and the time it read is never passed by the tick that follows.

    ``wall`` and ``sleep`` are injected by tests (seconds, monotonic; a sleep of so long)."""

    speed = 1.0
    virtual = True

    def __init__(
        self,
        pace: float,
        *,
        start: float = 0.0,
        wall: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (math.isfinite(pace) and 0 < pace <= MAX_SPEED):
            raise ValueError(f"pace must be above 0 and at most {MAX_SPEED:g}, found {pace}")
        self.pace = pace
        self._wall, self._sleep = wall, sleep
        self._t = start  # the time reached: now() never goes below it
        self._limit = start  # how far time may run while the sleepers sleep
        self._sleepers = 0
        self._anchor = (start, wall())  # (virtual, wall) on the pace line
        # reentrant: a signal handler (Ctrl-C) in the sleeping thread may read the time
        self._lock = threading.RLock()

    def now(self) -> float:
        with self._lock:
            virtual, wall = self._anchor
            paced = virtual + (self._wall() - wall) * self.pace
            self._t = max(self._t, min(self._limit, paced))
            return self._t

    def sleep_until(self, deadline: float) -> None:
        with self._lock:
            if not deadline > self._t:  # passed (or NaN): at once
                return
            self._sleepers += 1
            self._limit = max(self._limit, deadline)
            wake = self._wall_at(deadline)
        reached = False
        try:
            while (left := wake - self._wall()) > 0:
                self._sleep(left)
            reached = True
        finally:
            with self._lock:
                self._sleepers -= 1
                if reached:
                    self._t = max(self._t, deadline)
                    woke = self._wall()
                    if woke - self._wall_at(deadline) > CATCH_UP_S:
                        self._anchor = (deadline, woke)  # the pace from here, no rush
                else:  # interrupted (KeyboardInterrupt): as far as it got
                    self.now()
                if self._sleepers == 0:
                    self._limit = self._t

    def _wall_at(self, virtual: float) -> float:
        """When ``virtual`` is due on the wall clock, on the pace line."""
        anchor_virtual, anchor_wall = self._anchor
        return anchor_wall + (virtual - anchor_virtual) / self.pace

    def __call__(self) -> float:
        return self.now()


class VirtualClock:
    """Time moves only when told: ``sleep_until`` jumps to the deadline at once (as fast as
    it can: ``--speed max``, and tests)."""

    virtual = True
    speed = 1.0

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += max(0.0, seconds)

    def sleep_until(self, deadline: float) -> None:
        with self._lock:
            self._t = max(self._t, deadline)

    def __call__(self) -> float:
        return self._t
