"""``tensctl.aio`` against the in-process simulator (``sim://``) in virtual time: a session
run, adjusted and stopped from coroutines; events in order; the engine's errors as in the
threaded API; every way out at 0 — cancellation an emergency stop. Every test runs its loop
in debug mode and fails on a slow callback (:func:`aio_helpers.run_debug`)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from aio_helpers import run_debug

import tensctl
import tensctl.aio as aio
from tensctl.engine.events import SessionEvent
from tensctl.engine.states import State
from tensctl.errors import InputError, SafetyRefused, UsageError, WrongState
from tensctl.journal.store import Store

PATIENT = "DEMO-101"


def device_output_ua(device: aio.AsyncDevice, channel: int = 1) -> int:
    sim = device.sync.driver.device  # type: ignore[attr-defined]
    return int(sim.status(device.sync.clock.now())[channel - 1]["amplitude_ua"])


async def output_ua(device: aio.AsyncDevice, channel: int = 1) -> int:
    """What the simulated device delivers now (its own state, not the session's), read off
    the loop: the simulator's state is behind the lock its ticks hold."""
    return await asyncio.to_thread(device_output_ua, device, channel)


def end_reason_on_record(db: Path, record_id: int | None) -> str:
    assert record_id is not None
    with Store(db, must_exist=True) as store:
        return str(store.session(record_id)["end_reason"])


def end_reasons_on_record(db: Path) -> list[str]:
    with Store(db, must_exist=True) as store:
        return [str(r["end_reason"]) for r in store.sessions(PATIENT)]


def test_run_adjust_and_stop_from_a_coroutine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "s.sqlite3"

    async def main() -> tuple[list[State], list[float], int | None, list[int]]:
        states, targets, zero = [], [], []
        async with aio.connect("sim://", virtual=True, journal=db) as device:
            async with device.session(
                "conventional-hf", patient=PATIENT, intensity=20, screened=True
            ) as s:
                on_loop = threading.get_ident()
                emitted_on: set[int] = set()
                s.sync.subscribe(lambda event: emitted_on.add(threading.get_ident()))
                states.append(await s.run_for(30))
                assert await output_ua(device) == 20_000
                targets.append(await s.adjust(1, -2))
                targets.append(await s.adjust(1, +1))
                await s.run_for(5)
                assert await output_ua(device) == 19_000
                await s.pause()
                states.append(s.state)
                assert await output_ua(device) == 0
                await s.resume()
                await s.run_for(5)
                await s.stop()
                states.append(s.state)
                states.append(await s.run())
                zero.append(await output_ua(device))
            # every call into the engine (each one emits events) ran off the loop's thread
            # (on a thread of its own; finished threads' idents are reused, so not counted)
            assert emitted_on and on_loop not in emitted_on
            zero.append(await output_ua(device))  # after the close too
        return states, targets, s.record_id, zero

    states, targets, record_id, zero = run_debug(main(), caplog)
    assert states == [State.stimulating, State.paused, State.ramping_down, State.completed]
    assert targets == [18.0, 19.0]
    assert zero == [0, 0]
    assert end_reason_on_record(db, record_id) == "stopped_by_user"


def test_operator_calls_from_another_task_while_the_session_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``run()`` awaited in one task (paced virtual time, 20x); a second task follows the
    events, lowers the intensity once the session stimulates, then stops it."""

    async def main() -> tuple[State, str, list[str]]:
        async with (
            aio.connect("sim://", speed=20, journal=False) as device,
            device.session("conventional-hf", patient=PATIENT, intensity=20, screened=True) as s,
        ):
            seen: list[str] = []

            async def operator() -> None:
                async for event in s.events():
                    seen.append(event.kind)
                    if event.kind == "state" and event.data["state"] == "stimulating":
                        assert await s.adjust(1, -5) == 15.0
                        await s.stop()

            watching = asyncio.create_task(operator())
            state = await s.run()
            await watching  # its iterator ended with the session
            return state, s.end_reason, seen

    state, reason, seen = run_debug(main(), caplog)
    assert state is State.completed and reason == "stopped_by_user"
    assert "adjust" in seen and seen[-2:] == ["state", "end"]


def test_events_arrive_in_order_and_end_with_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The iterator gives what a callback on the threaded session gets, in the same order,
    and ends when the run does — before the ``async with`` closes the session."""

    async def main() -> tuple[list[SessionEvent], list[SessionEvent], bool, State]:
        async with (
            aio.connect("sim://", virtual=True, journal=False) as device,
            device.session("burst", patient=PATIENT, intensity=18, screened=True) as s,
        ):
            called: list[SessionEvent] = []
            s.sync.subscribe(called.append)
            events = s.events()

            async def collect() -> list[SessionEvent]:
                return [event async for event in events]

            collecting = asyncio.create_task(collect())
            state = await s.run()
            got = await asyncio.wait_for(collecting, 10)
            after = [e async for e in s.events()]  # the session has ended: at once
            return got, called, not after, state

    got, called, ended_at_once, state = run_debug(main(), caplog)
    assert state is State.completed
    assert len(got) > 100 and got == called[: len(got)]
    kinds = [e.kind for e in got]
    assert kinds[-2:] == ["state", "end"] and got[-2].data["state"] == "completed"
    assert [e.elapsed_s for e in got] == sorted(e.elapsed_s for e in got)
    assert ended_at_once


def test_a_consumer_that_falls_behind_is_told_and_the_session_runs_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[list[str], list[str], str, State]:
        async with (
            aio.connect("sim://", virtual=True, journal=False) as device,
            device.session("burst", patient=PATIENT, intensity=18, screened=True) as s,
        ):
            called: list[SessionEvent] = []
            s.sync.subscribe(called.append)
            events = s.events(limit=5)
            state = await s.run()  # nothing taken meanwhile
            got: list[str] = []
            with pytest.raises(aio.EventsLost) as lost:
                async for event in events:
                    got.append(event.kind)
            return got, [e.kind for e in called], str(lost.value), state

    got, called, message, state = run_debug(main(), caplog)
    assert state is State.completed and len(called) > 100
    assert got == called[:5]  # the first five, and nothing after the gap
    assert "fell more than 5 events behind" in message and "record has them all" in message


def test_refusals_are_the_errors_of_the_threaded_api(caplog: pytest.LogCaptureFixture) -> None:
    """The same error class and words as ``tensctl.connect``'s session, and the session as
    it was."""
    with (
        tensctl.connect("sim://", virtual=True, journal=False) as device,
        device.session(
            "conventional-hf", patient=PATIENT, intensity=20, ceiling=22, screened=True
        ) as s,
    ):
        s.run_for(20)
        with pytest.raises(SafetyRefused) as threaded:
            s.adjust(1, 5)

    async def main() -> tuple[list[BaseException], dict[int, float], State, int]:
        errors: list[BaseException] = []
        async with (
            aio.connect("sim://", virtual=True, journal=False) as device,
            device.session(
                "conventional-hf", patient=PATIENT, intensity=20, ceiling=22, screened=True
            ) as s,
        ):
            await s.run_for(20)
            for call in (s.adjust(1, 5), s.adjust(3, 1), s.resume()):
                try:
                    await call
                except Exception as error:
                    errors.append(error)
            await s.run_for(1)
            return errors, dict(s.targets_ma), s.state, (await output_ua(device))

    errors, targets, state, delivered = run_debug(main(), caplog)
    assert [type(e) for e in errors] == [SafetyRefused, InputError, WrongState]
    assert str(errors[0]) == str(threaded.value)
    assert "above its ceiling of 22 mA" in str(errors[0])
    assert targets == {1: 20.0} and state is State.stimulating and delivered == 20_000


def test_a_session_refused_by_its_checks_raises_on_the_way_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with aio.connect("sim://", virtual=True, journal=False) as device:
            with pytest.raises(SafetyRefused, match="ceiling"):
                async with device.session("conventional-hf", intensity=150, screened=True):
                    raise AssertionError("not reached")
            async with device.session("conventional-hf", intensity=10, screened=True) as s:
                assert await s.run_for(1) is State.ramping_up  # the device is still usable

    run_debug(main(), caplog)


def test_a_cancelled_task_is_an_emergency_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "s.sqlite3"

    async def main() -> tuple[State, str, int, list[str], int | None]:
        async with aio.connect("sim://", speed=20, journal=db) as device:
            opened = asyncio.Event()
            holder: list[aio.AsyncSession] = []

            async def session() -> None:
                async with device.session(
                    "conventional-hf", patient=PATIENT, intensity=20, screened=True
                ) as s:
                    holder.append(s)
                    opened.set()
                    await s.run()

            task = asyncio.create_task(session())
            await opened.wait()
            async for event in holder[0].events():
                if event.kind == "state" and event.data["state"] == "stimulating":
                    break
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            s = holder[0]
            stops = [e.data["reason"] for e in s.sync.hub.history if e.kind == "stop"]
            return s.state, s.end_reason, (await output_ua(device)), stops, s.record_id

    state, reason, delivered, stops, record_id = run_debug(main(), caplog)
    assert state is State.stopped and reason == "emergency_stop" and delivered == 0
    assert stops == [aio.CANCELLED]  # once: the run's cancellation, not again on the way out
    assert end_reason_on_record(db, record_id) == "emergency_stop"


def test_a_timeout_around_the_run_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """``asyncio.timeout`` cancels: the output drops to 0 with no ramp (real time here, a
    1-second timeout into a session at 10 mA)."""

    async def main() -> tuple[float, State, str, list[float]]:
        async with (
            aio.connect("sim://", journal=False) as device,
            device.session("conventional-hf", patient=PATIENT, intensity=10, screened=True) as s,
        ):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.0):
                    await s.run()
            at_stop = [e.data["amplitude_ma"] for e in s.sync.hub.history if e.kind == "setpoint"]
            return s.elapsed_s(), s.state, s.end_reason, at_stop

    elapsed, state, reason, setpoints = run_debug(main(), caplog)
    assert 0.9 <= elapsed < 2.0 and state is State.stopped and reason == "emergency_stop"
    assert setpoints == sorted(setpoints) and setpoints[-1] > 0  # rising, then no ramp down


def test_an_exception_in_the_block_leaves_the_output_at_0(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "s.sqlite3"

    async def main() -> tuple[int, int | None, State]:
        async with aio.connect("sim://", virtual=True, journal=db) as device:
            with pytest.raises(ZeroDivisionError):
                async with device.session(
                    "conventional-hf", patient=PATIENT, intensity=20, screened=True
                ) as s:
                    await s.run_for(20)
                    assert await output_ua(device) == 20_000
                    _ = 1 / 0
            return (await output_ua(device)), s.record_id, s.state

    delivered, record_id, state = run_debug(main(), caplog)
    assert delivered == 0 and state is State.stopped
    assert end_reason_on_record(db, record_id) == "emergency_stop"


def test_titration_marks_are_awaited(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[dict[str, float], dict[int, float], State]:
        async with (
            aio.connect("sim://", virtual=True, journal=False) as device,
            device.session("burst", patient=PATIENT, screened=True) as s,
        ):
            t = await s.titrate(1)
            for level in (4, 12, 18, 14):
                while t.level_ma < level:
                    t.up()
                while t.level_ma > level:
                    t.down()
                await s.run_for(6)  # the slew limit lets the output reach the level
                await s.mark()
            values = await s.finish_titration()
            return {k.value: v for k, v in values.items()}, dict(s.targets_ma), s.state

    values, targets, state = run_debug(main(), caplog)
    assert values == {"ST": 4.0, "SC1": 12.0, "N": 18.0, "SC2": 14.0}
    assert targets == {1: 14.0} and state is State.ready


def test_cancelled_anywhere_in_the_block_is_an_emergency_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not only in ``run()``: a task cancelled while it waits for something else, the
    session stimulating between two runs, stops at once — the cancellation's emergency stop,
    not the close's."""
    db = tmp_path / "s.sqlite3"

    async def main() -> tuple[State, str, int, list[str], int | None]:
        async with aio.connect("sim://", virtual=True, journal=db) as device:
            holder: list[aio.AsyncSession] = []
            stimulating = asyncio.Event()

            async def session() -> None:
                async with device.session(
                    "conventional-hf", patient=PATIENT, intensity=20, screened=True
                ) as s:
                    holder.append(s)
                    await s.run_for(30)
                    stimulating.set()
                    await asyncio.sleep(3600)  # the operator reads the screen

            task = asyncio.create_task(session())
            await stimulating.wait()
            assert await output_ua(device) == 20_000
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            s = holder[0]
            stops = [e.data["reason"] for e in s.sync.hub.history if e.kind == "stop"]
            return s.state, s.end_reason, (await output_ua(device)), stops, s.record_id

    state, reason, delivered, stops, record_id = run_debug(main(), caplog)
    assert state is State.stopped and reason == "emergency_stop" and delivered == 0
    assert stops == [aio.CANCELLED]
    assert end_reason_on_record(db, record_id) == "emergency_stop"


def test_a_task_cancelled_before_the_start_leaves_a_closed_session_at_0(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelled while the checks run (the session is being opened): the checks end, the
    session is closed on record, nothing was delivered, and the device takes the next."""
    db = tmp_path / "s.sqlite3"

    async def main() -> tuple[int, list[str], State]:
        async with aio.connect("sim://", virtual=True, journal=db) as device:
            opening = asyncio.create_task(
                device.session(
                    "conventional-hf", patient=PATIENT, intensity=20, screened=True
                ).__aenter__()
            )
            await asyncio.sleep(0)  # the checks begin on their thread
            opening.cancel()
            with pytest.raises(asyncio.CancelledError):
                await opening
            reasons = await asyncio.to_thread(end_reasons_on_record, db)
            async with device.session(
                "conventional-hf", patient=PATIENT, intensity=20, screened=True
            ) as s:
                state = await s.run_for(5)
            return (await output_ua(device)), reasons, state

    delivered, reasons, state = run_debug(main(), caplog)
    assert delivered == 0 and reasons == ["ended in state ready"]  # closed, as in the API
    assert state is State.ramping_up


def test_awaited_without_async_with_and_wrong_arguments(caplog: pytest.LogCaptureFixture) -> None:
    """``await`` opens the device and the session as ``async with`` does (closing them is
    then the program's); wrong arguments are the threaded API's errors, with its words."""
    with pytest.raises(InputError) as threaded:
        tensctl.connect("sim://", virtual=True, journal=False).session("no-such-protocol")

    async def main() -> tuple[str, State, State, int]:
        device = await aio.connect("sim://", virtual=True, journal=False)
        try:
            with pytest.raises(InputError) as unknown:
                await device.session("no-such-protocol")
            s = await device.session("burst", patient=PATIENT, intensity=18, screened=True)
            with pytest.raises(UsageError, match="whole number of events above 0"):
                s.events(limit=0)
            state = await s.run_for(20)
            await s.close()
            await s.close()  # twice: nothing more
            return str(unknown.value), state, s.state, await output_ua(device)
        finally:
            await device.close()

    message, running, closed, delivered = run_debug(main(), caplog)
    assert message == str(threaded.value)
    assert running is State.stimulating and closed is State.stopped and delivered == 0
