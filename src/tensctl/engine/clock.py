"""Clocks the engine runs on: real (monotonic), scaled (``--speed`` on the simulator) and
virtual (tests). The engine reads ``now()`` and waits with ``sleep_until()``; it never adds
up sleeps, so a late wake-up is never carried into the next deadline."""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

MAX_SPEED = 100.0
"""The fastest ``--speed``: a tick every millisecond of real time, about as fast as a
tick can be done; beyond it every tick is late and the session would jump in time."""


class Clock(Protocol):
    speed: float
    """How many of this clock's seconds pass in one second of real time (1 but for
    :class:`ScaledClock`): the host watchdog judges a late tick in real seconds."""

    def now(self) -> float:
        """Seconds on a monotonic scale (the origin is arbitrary)."""

    def sleep_until(self, deadline: float) -> None:
        """Return at ``deadline`` or later (at once if it has passed)."""

    def __call__(self) -> float:
        """Same as :meth:`now`, so a clock can be passed where a callable is expected."""


class RealClock:
    speed = 1.0

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def __call__(self) -> float:
        return self.now()


class ScaledClock:
    """Real time sped up ``speed`` times: only for the simulator, which shares this clock."""

    def __init__(self, speed: float) -> None:
        if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
            raise ValueError(f"speed must be above 0 and at most {MAX_SPEED:g}, found {speed}")
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep_until(self, deadline: float) -> None:
        delay = (deadline - self.now()) / self.speed
        if delay > 0:
            time.sleep(delay)

    def __call__(self) -> float:
        return self.now()


class VirtualClock:
    """Time moves only when told: ``sleep_until`` jumps to the deadline at once."""

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
