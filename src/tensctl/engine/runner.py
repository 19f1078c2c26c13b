"""Drive a session's ticks until it ends: on deadlines from a fixed origin (no drift), with a
host watchdog thread in real time that latches a fault if the ticks stop.

The watchdog watches a real clock only. On a virtual clock — ``--speed N`` (paced) or
``--speed max``, always the in-process simulator — time moves only when this loop sleeps to
its next deadline, and lands on it: the loop cannot be late in the session's own time, and
the simulated device lives in that same time. What a watchdog would see there is the host's
scheduling jitter in wall time, which is not the session's time and puts no current anywhere;
a stall costs wall time and nothing else. The simulated device's own watchdog still runs in
virtual time and catches a host that stops feeding it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tensctl.engine.control import TICK_S
from tensctl.engine.session import TERMINAL, Session
from tensctl.engine.states import State


class HostWatchdog:
    """A thread independent of the tick loop: if the loop stalls while output may be on,
    every output goes to 0 and the session faults."""

    def __init__(self, session: Session, period_s: float = TICK_S / 2) -> None:
        self.session, self.period_s = session, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tensctl-watchdog", daemon=True)

    def __enter__(self) -> HostWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        s = self.session
        while not self._stop.wait(self.period_s):
            late = s.late_ms(s.clock.now())
            if late is not None:
                s.fault("host_watchdog", f"the supervisor loop is {late:.0f} ms late")


def run(session: Session, on_tick: Callable[[], None] | None = None) -> State:
    """Tick ``session`` when each tick is due (every 100 ms of its clock, or later on a
    virtual-time plateau) until it completes, faults or stops. Deadlines come from the
    session, never from summed sleeps; a late wake-up is not carried forward. A session
    that is ready (checked) is started first."""
    clock = session.clock
    if session.state is State.ready:
        session.start()
    while session.state not in TERMINAL:
        due = session.control.tick_due_s
        clock.sleep_until(due if due is not None else clock.now())
        session.tick()
        if on_tick is not None:
            on_tick()
    return session.state


def run_realtime(session: Session, on_tick: Callable[[], None] | None = None) -> State:
    """:func:`run` under the host watchdog, on a real clock; on a virtual one (paced or not)
    :func:`run` alone (see the module's note)."""
    if session.clock.virtual:
        return run(session, on_tick)
    with HostWatchdog(session):
        return run(session, on_tick)
