"""The asyncio API: ``tensctl.aio.connect(url)`` and ``device.session(protocol, …)``, awaited.

A thin layer over the one engine that the threaded API (:mod:`tensctl.api`) drives: the
same :class:`~tensctl.api.Device` and :class:`~tensctl.api.RunningSession` underneath, the
same checks, records, errors and guarantees. Nothing that can wait for the device runs on
the event loop::

    import asyncio
    import tensctl.aio

    async def main() -> None:
        async with tensctl.aio.connect("sim://", virtual=True) as device:
            async with device.session("conventional-hf", patient="DEMO-001",
                                      intensity=20, screened=True) as s:
                await s.run_for(60)
                await s.adjust(1, -2)
                print(await s.run())             # State.completed

    asyncio.run(main())

Every way out of an ``async with`` block leaves every output at 0: normal, an exception, and
cancellation. A cancelled task is an emergency stop — every output to 0 at once, no ramp —
whether it was waiting in :meth:`AsyncSession.run` or anywhere in the block (``asyncio.
timeout``, a ``TaskGroup`` whose other task failed, Ctrl-C under ``asyncio.run``).

Where the work happens — never on the loop:

- every call into the engine goes to a thread of its own, started at once (never queued
  behind other work) by a launcher thread, so that the loop does not wait even for a thread
  to start; the loop awaits a future the thread settles through
  ``loop.call_soon_threadsafe``;
- a run (:meth:`AsyncSession.run`, :meth:`~AsyncSession.run_for`) ticks on its thread, as
  ``session.run(background=True)`` does, under the host watchdog in real time;
- an operator call (adjust, pause, resume, stop, titration marks, …) may wait there for the
  session's lock, which a tick holds while it talks to the device;
- an emergency stop, and the close on the way out, are waited for to the end even when the
  waiting task is cancelled meanwhile; their threads are not daemons, so the interpreter
  does not exit before the output is at 0;
- events cross from the engine's threads to the loop through ``loop.call_soon_threadsafe``;
  the engine never waits for a consumer (see :meth:`AsyncSession.events` for a consumer
  that falls behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from tensctl import api
from tensctl.drivers.base import DeviceInfo
from tensctl.engine.events import SessionEvent
from tensctl.engine.session import TERMINAL
from tensctl.engine.states import OUTPUT_STATES, State
from tensctl.engine.titration import Titration
from tensctl.errors import UsageError
from tensctl.model.device import DeviceProfile
from tensctl.model.outcomes import Outcomes
from tensctl.model.protocol import Threshold

__all__ = ["EVENT_LIMIT", "AsyncDevice", "AsyncSession", "EventsLost", "connect"]

T = TypeVar("T")
P = ParamSpec("P")

EVENT_LIMIT = 10_000
"""How many events one :meth:`AsyncSession.events` iterator holds for a consumer that has
not taken them yet (about 15 minutes of a session's events at its busiest)."""

YIELD_EVERY = 64
"""An iterator with events waiting hands them over without waiting, and gives the loop to
other tasks once every this many: a reader catching up on a backlog does not hold the loop."""

CANCELLED = "task cancelled"
"""The reason an emergency stop gives when the task that held the session was cancelled."""


class EventsLost(UsageError):
    """The program took a session's events too slowly: more than the iterator holds were
    waiting. The session itself runs on, unaffected, and its record has every event."""


# ---- threads and the loop --------------------------------------------------------------


def _on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """``callback()`` on ``loop``, from any thread, never waiting; nothing if the loop has
    closed (nobody is left to tell)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback)


_JOBS: queue.SimpleQueue[tuple[Callable[[], None], str]] = queue.SimpleQueue()
_launcher: threading.Thread | None = None
_launcher_lock = threading.Lock()


def _launch(body: Callable[[], None], name: str) -> None:
    """``body()`` on a new thread, started by the launcher thread, not by the caller:
    ``Thread.start()`` waits until the new thread runs, which on a busy host (the engine's
    threads holding the interpreter lock, other processes on the cores) can take tens of
    milliseconds — too long for the event loop. Here the loop only puts the job on a queue.
    The launcher is started on first use (once per process)."""
    global _launcher
    with _launcher_lock:
        if _launcher is None or not _launcher.is_alive():
            _launcher = threading.Thread(
                target=_launch_forever, name="tensctl-aio-launcher", daemon=True
            )
            _launcher.start()
    _JOBS.put((body, name))


def _launch_forever() -> None:
    while True:
        body, name = _JOBS.get()
        # not a daemon: the interpreter waits for a stop or a close under way at exit
        try:
            threading.Thread(target=body, name=f"tensctl-aio-{name}", daemon=False).start()
        except RuntimeError:  # no thread to be had (the interpreter is shutting down, or
            body()  # the system's limit): done here, late, rather than never


def _in_thread(work: Callable[[], T], name: str) -> asyncio.Future[T]:
    """``work()`` on a thread of its own (:func:`_launch`); its result or error on a
    future of the running loop. Not a daemon thread: the interpreter waits for it at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]  # value is a T when no error

    def body() -> None:
        try:
            value = work()
        except BaseException as error:  # delivered to the awaiting coroutine
            _on_loop(loop, functools.partial(settle, None, error))
        else:
            _on_loop(loop, functools.partial(settle, value, None))

    _launch(body, name)
    return future


async def _to_the_end(future: asyncio.Future[T]) -> T:
    """Wait for ``future`` to the end, through cancellations of the waiting task (a stop
    or a close is never cut short); a cancellation that came meanwhile is raised after."""
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                raise
            cancelled = True
            continue
        break
    if cancelled:
        raise asyncio.CancelledError
    return result


# ---- events ----------------------------------------------------------------------------


class _EventStream:
    """One :meth:`AsyncSession.events` iterator: events pushed from the engine's threads,
    taken on the loop in order. No lock: a ``deque`` takes appends and pops from different
    threads, and the flags below are each written by one side and read by the other in an
    order that cannot lose a wake-up (the engine never waits, the loop never waits for it).
    The loop is woken only when the reader sleeps, not once per event."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop, self._limit = loop, limit
        self._items: deque[SessionEvent] = deque()
        self._lost = 0  # events dropped: the reader fell more than the limit behind
        self._ended = False
        self._asleep = False  # the reader waits for a wake-up
        self._waiter: asyncio.Future[None] | None = None  # touched on the loop only
        self._taken = 0

    def push(self, event: SessionEvent) -> None:
        """From the engine's thread: queued, or counted as lost (and every event after it,
        so that what the reader gets has no gap); the reader woken if it sleeps. Never
        waits, never raises."""
        if self._ended:
            return
        if self._lost or len(self._items) >= self._limit:
            self._lost += 1
        else:
            self._items.append(event)
        self._nudge()

    def end(self) -> None:
        self._ended = True
        self._nudge()

    def _nudge(self) -> None:
        # after the append (or the flag): a reader that went to sleep before it is woken;
        # one that goes to sleep after it sees the event on its last look
        if self._asleep:
            self._asleep = False
            _on_loop(self._loop, self._wake)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _news(self) -> bool:
        return bool(self._items) or self._ended or self._lost > 0

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> SessionEvent:
        self._taken += 1
        if self._taken % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # a backlog taken in one go lets other tasks run too
        while True:
            if self._items:
                return self._items.popleft()
            if self._lost:
                raise EventsLost(
                    f"{self._lost} session events were not delivered: the program fell more "
                    f"than {self._limit} events behind (the session ran on, and its record "
                    "has them all)"
                )
            if self._ended:
                if self._items:  # pushed just before the end
                    continue
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            self._asleep = True
            if self._news():  # pushed between the looks above and going to sleep
                self._asleep, self._waiter = False, None
                continue
            try:
                await self._waiter
            finally:
                self._waiter = None


# ---- the session -----------------------------------------------------------------------


class AsyncSession:
    """A session, awaited: :class:`~tensctl.api.RunningSession` (:attr:`sync`) underneath.
    Reading it (:attr:`state`, :attr:`end_reason`, :meth:`elapsed_s`, …) never waits."""

    def __init__(self, sync: api.RunningSession) -> None:
        self.sync = sync
        self._streams: list[_EventStream] = []
        self._streams_lock = threading.Lock()
        self._over = False  # ended (completed, stopped, faulted) or closed, until a reset
        self._runs = 0  # runs under way: counted on the loop, ended on their threads
        self._runs_lock = threading.Lock()
        sync.subscribe(self._fan_out)

    # ---- what it is at -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self.sync.state

    @property
    def end_reason(self) -> str:
        return self.sync.end_reason

    @property
    def record_id(self) -> int | None:
        """The session's id in the store (``tensctl sessions show ID``)."""
        return self.sync.record_id

    @property
    def channels(self) -> list[int]:
        return self.sync.channels

    @property
    def targets_ma(self) -> Mapping[int, float]:
        return self.sync.targets_ma

    @property
    def ceilings_ma(self) -> Mapping[int, float]:
        return self.sync.ceilings_ma

    @property
    def titration(self) -> Titration | None:
        return self.sync.titration

    def elapsed_s(self) -> float:
        return self.sync.elapsed_s()

    # ---- events ------------------------------------------------------------------------

    def events(self, *, limit: int = EVENT_LIMIT) -> AsyncIterator[SessionEvent]:
        """Every event from this call on, in order, until the session ends — completed,
        stopped or faulted, with the events of its last transition (``end``, ``stop``,
        ``fault``) — or is closed. Called after the end, it ends at once (after a
        :meth:`reset`, it follows the new run).

        The engine never waits for the consumer: the iterator holds up to ``limit`` events
        not yet taken; when a consumer falls further behind, the events from there on are
        dropped for it, and once it has taken those held it gets :class:`EventsLost`.
        The session is not affected, and its record has every event."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise UsageError(f"limit must be a whole number of events above 0, found {limit!r}")
        stream = _EventStream(asyncio.get_running_loop(), limit)
        with self._streams_lock:
            if self._over:
                stream.end()
            else:
                self._streams.append(stream)
        return stream

    def _fan_out(self, event: SessionEvent) -> None:
        """The session's listener (on the emitting thread, under the session's lock)."""
        with self._streams_lock:
            streams = list(self._streams)
        for stream in streams:
            stream.push(event)

    def _end_streams(self) -> None:
        with self._streams_lock:
            self._over = True
            streams, self._streams = self._streams, []
        for stream in streams:
            stream.end()

    def _settle(self) -> None:
        """After a call into the engine: a session that has ended ends its iterators. Under
        the session's lock, so that a transition under way (an emergency stop taking the
        state to stopped, then its ``stop`` event) is out in full first."""
        with self.sync.lock:
            over = self.sync.state in TERMINAL
        if over:
            self._end_streams()

    def _settling(self, work: Callable[[], T]) -> T:
        try:
            return work()
        finally:
            self._settle()

    async def _call(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """An operator call on a thread of its own: it may wait for the session's lock,
        which a tick holds while it talks to the device. Cancelled while it waits, the call
        still happens (the task's cancellation is then an emergency stop on the way out of
        the ``async with``)."""
        call = functools.partial(self._settling, functools.partial(work, *args, **kwargs))
        return await _in_thread(call, getattr(work, "__name__", "call"))

    # ---- running -----------------------------------------------------------------------

    async def run(self) -> State:
        """Start (if ready) and tick until the session ends; returns its state. A refusal
        to start raises here (:class:`~tensctl.errors.SafetyRefused`, as in the threaded
        API). Cancelled, it is an emergency stop: every output to 0 at once."""
        return await self._running(self.sync.run, "run")

    async def run_for(self, seconds: float) -> State:
        """Tick for ``seconds`` of the session's clock (virtual clocks: at once, in wall
        time), starting it if it is ready. Cancelled, it is an emergency stop."""
        return await self._running(functools.partial(self.sync.run_for, seconds), "run-for")

    async def _running(self, work: Callable[[], State], name: str) -> State:
        with self._runs_lock:
            self._runs += 1
        ticking = _in_thread(functools.partial(self._ticking, work), name)
        try:
            return await asyncio.shield(ticking)
        except asyncio.CancelledError:
            if ticking.done():
                raise
            await self._stop_now(CANCELLED)  # whatever the state: the run may be starting
            with contextlib.suppress(Exception):
                await _to_the_end(ticking)  # the ticks end with the stop; then the task ends
            raise

    def _ticking(self, work: Callable[[], State]) -> State:
        """On the run's thread: the run, then the count of runs under way down by one (here,
        not in a callback on the loop, which might run after the count is read)."""
        try:
            return self._settling(work)
        finally:
            with self._runs_lock:
                self._runs -= 1

    def _may_deliver(self) -> bool:
        """Output may be on, or may come on: a state with output (or paused), or a run
        under way that has not ended (it may be starting)."""
        state = self.sync.state
        if state in OUTPUT_STATES or state is State.paused:
            return True
        return self._runs > 0 and state not in TERMINAL

    async def _stop_now(self, reason: str) -> None:
        stopping = _in_thread(
            functools.partial(self._settling, functools.partial(self.sync.emergency_stop, reason)),
            "e-stop",
        )
        await _to_the_end(stopping)

    # ---- operator calls ----------------------------------------------------------------

    async def emergency_stop(self, reason: str = "operator") -> None:
        """Every output to 0 now (the device first, then the books): the session stops."""
        await self._stop_now(reason)

    async def stop(self) -> None:
        """Ramp down to 0 and end the session (stopped by the user): a run under way
        returns once the ramp is down (``completed``, end reason ``stopped_by_user``)."""
        await self._call(self.sync.stop)

    async def pause(self) -> None:
        """Every output to 0, the protocol's clock held."""
        await self._call(self.sync.pause)

    async def resume(self) -> None:
        """Back to the protocol after a pause (no channel climbs on its own above the most
        it delivered in the last minute)."""
        await self._call(self.sync.resume)

    async def adjust(self, channel: int, delta_ma: float) -> float:
        """Raise or lower one channel's target within its ceiling; returns the new target.
        Over the ceiling: :class:`~tensctl.errors.SafetyRefused`, the target as it was."""
        return await self._call(self.sync.adjust, channel, delta_ma)

    async def start(self) -> None:
        """Start a checked session without ticking it (:meth:`run` starts it too)."""
        await self._call(self.sync.start)

    async def check(self) -> None:
        """The checks again (impedance, contraindications, the static safety check)."""
        await self._call(self.sync.check)

    async def reset(self) -> None:
        """After a fault or stop: the cause shown gone, the device cleared, the checks
        again; the session can then run again from the beginning."""
        await self._call(self.sync.reset)
        with self._streams_lock:
            if self.sync.state not in TERMINAL:
                self._over = False

    async def titrate(self, channel: int) -> Titration:
        """Begin the SIT titration on ``channel``. The :class:`Titration` returned is raised
        and lowered with its own ``up()`` and ``down()`` (they only set the level the next
        tick goes to: nothing to await); marked with :meth:`mark`."""
        return await self._call(self.sync.titrate, channel)

    async def mark(self) -> Threshold:
        """Record what the titrated channel delivers now as the next threshold."""
        return await self._call(self.sync.mark)

    async def finish_titration(self, use: Threshold | None = None) -> dict[Threshold, float]:
        """End the titration: output to 0, the thresholds stored, the checks run again."""
        return await self._call(self.sync.finish_titration, use)

    async def record_outcomes(
        self, after: Mapping[str, Any] | Outcomes, *, reason: str | None = None
    ) -> None:
        """Outcomes after the session, written at once (after the ``async with`` too)."""
        await self._call(self.sync.record_outcomes, after, reason=reason)

    # ---- the way out -------------------------------------------------------------------

    async def close(self) -> None:
        """Every output to 0, then the record's end; closing twice does nothing more."""
        closing = _in_thread(
            functools.partial(self._settling, functools.partial(self._close, self._runs > 0)),
            "close",
        )
        try:
            await _to_the_end(closing)
        finally:
            self._end_streams()

    def _close(self, running: bool) -> None:
        if running and self.sync.state not in TERMINAL:  # a run may be starting: stop first
            self.sync.emergency_stop("session closed", operator=False)
        self.sync.close()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if isinstance(error, asyncio.CancelledError) and self._may_deliver():
                await self._stop_now(CANCELLED)  # a cancelled task: an emergency stop
        finally:
            await self.close()


class _Closable(Protocol):
    async def close(self) -> None: ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


A = TypeVar("A", bound=_Closable)


class _Opening(Generic[T, A]):
    """What :func:`connect` and :meth:`AsyncDevice.session` return: ``async with`` it (or
    await it) for the opened object. ``opening`` runs off the loop (it talks to the device:
    identifying, checking impedance and safety); cancelled meanwhile, the late result is
    closed once it comes (at 0) before the cancellation goes on."""

    def __init__(self, opening: Callable[[], T], wrap: Callable[[T], A], what: str) -> None:
        self._opening, self._wrap, self._what = opening, wrap, what
        self._opened: A | None = None

    async def _open(self) -> A:
        opening = _in_thread(self._opening, self._what)
        try:
            sync = await asyncio.shield(opening)
        except asyncio.CancelledError:
            if opening.done():
                raise
            with contextlib.suppress(Exception):
                late = await _to_the_end(opening)
                await self._wrap(late).close()
            raise
        return self._wrap(sync)

    def __await__(self) -> Generator[Any, None, A]:
        return self._open().__await__()

    async def __aenter__(self) -> A:
        self._opened = await self._open()
        return self._opened

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._opened is not None
        await self._opened.__aexit__(kind, error, tb)


_OpenSession = _Opening[api.RunningSession, "AsyncSession"]
_Connecting = _Opening[api.Device, "AsyncDevice"]


def _awaited(
    opening: Callable[Concatenate[api.Device, P], api.RunningSession],
) -> Callable[Concatenate[AsyncDevice, P], _OpenSession]:
    """:meth:`AsyncDevice.session` takes what :meth:`api.Device.session` takes: one
    signature, kept by the threaded API (mypy checks the calls against it)."""

    def session(self: AsyncDevice, /, *args: P.args, **kwargs: P.kwargs) -> _OpenSession:
        return _Opening(
            functools.partial(opening, self.sync, *args, **kwargs), AsyncSession, "session"
        )

    session.__doc__ = (
        "``async with device.session(…) as s`` (or ``s = await device.session(…)``): an\n"
        "AsyncSession, opened and checked off the loop. As the threaded API:\n\n"
        + inspect.cleandoc(opening.__doc__ or "")
    )
    signature = inspect.signature(opening).replace(return_annotation="_OpenSession")
    session.__signature__ = signature  # type: ignore[attr-defined]  # help() shows it
    return session


# ---- the device ------------------------------------------------------------------------


class AsyncDevice:
    """A connected stimulator, awaited: :class:`~tensctl.api.Device` (:attr:`sync`)
    underneath — its profile, clock, store and what it identified itself as."""

    def __init__(self, sync: api.Device) -> None:
        self.sync = sync

    @property
    def info(self) -> DeviceInfo:
        return self.sync.info

    @property
    def profile(self) -> DeviceProfile:
        return self.sync.profile

    @property
    def simulated(self) -> bool:
        return self.sync.simulated

    session = _awaited(api.Device.session)
    """``async with device.session(protocol, patient=…, intensity=…, …) as s``: the
    arguments of :meth:`tensctl.api.Device.session`; checked (impedance, contraindications,
    the static safety check, the daily cap) off the loop. A refusal raises as there."""

    async def close(self) -> None:
        """Every output to 0 and the link closed (never cut short by a cancellation)."""
        await _to_the_end(_in_thread(self.sync.close, "device-close"))

    async def __aenter__(self) -> AsyncDevice:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _connecting(
    opening: Callable[P, api.Device],
) -> Callable[P, _Connecting]:
    def connect(*args: P.args, **kwargs: P.kwargs) -> _Connecting:
        return _Opening(functools.partial(opening, *args, **kwargs), AsyncDevice, "connect")

    connect.__doc__ = (
        "``async with tensctl.aio.connect(…) as device`` (or ``await``): an AsyncDevice,\n"
        "opened and identified off the loop. As the threaded API:\n\n"
        + inspect.cleandoc(opening.__doc__ or "")
    )
    signature = inspect.signature(opening).replace(return_annotation="_Connecting")
    connect.__signature__ = signature  # type: ignore[attr-defined]  # help() shows it
    return connect


connect = _connecting(api.connect)
"""``async with tensctl.aio.connect(url, speed=…, virtual=…, journal=…) as device``: the
arguments of :func:`tensctl.api.connect`; the device opened and identified off the loop."""
