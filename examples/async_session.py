"""A session from an asyncio program (a web back end, an instrument framework): one task
runs it, another follows its events as they come, and the operator's calls are awaited —
nothing waits for the device on the event loop. Runs on the built-in simulator in virtual
time (a second, not four minutes), recorded in the examples' own store (``examples.sqlite3``
next to the default store; the path is printed) under a demonstration id.

Every way out of an ``async with`` block leaves every output at 0; a task cancelled while it
holds a session (``task.cancel()``, ``asyncio.timeout``, Ctrl-C under ``asyncio.run``) is an
emergency stop: every output to 0 at once, with no ramp.

    python examples/async_session.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import tensctl.aio
from tensctl.engine.events import SessionEvent
from tensctl.errors import SafetyRefused
from tensctl.journal.store import default_path

URL = "sim://"
PROTOCOL = "conventional-hf"
PATIENT = "DEMO-003"  # a demonstration id: never a real patient's


async def follow(events: AsyncIterator[SessionEvent]) -> int:
    """Print what changes, as it happens; the iterator ends when the session does."""
    count = 0
    async for event in events:
        count += 1
        if event.kind == "state":
            print(f"{event.elapsed_s:7.1f} s  {event.data['previous']} → {event.data['state']}")
        elif event.kind == "adjust":
            data = event.data
            print(
                f"{event.elapsed_s:7.1f} s  channel {data['channel']}: "
                f"{data['previous_ma']:g} → {data['target_ma']:g} mA"
            )
    return count


async def run_session() -> int:
    store = default_path().with_name("examples.sqlite3")  # the examples' own store
    async with (
        tensctl.aio.connect(URL, virtual=True, journal=store) as device,
        device.session(
            PROTOCOL,
            patient=PATIENT,
            intensity=20,
            ceiling=24,
            screened=True,
            outcomes_before={"pain_rest": 6, "pain_movement": 7, "fatigue": 3},
        ) as session,
    ):
        # the iterator is made here, so it has every event from here on; the task that
        # reads it starts running only when this one first waits
        following = asyncio.create_task(follow(session.events()))
        await session.run_for(120)  # two minutes in
        await session.adjust(1, -2)  # the patient asks for less
        try:
            await session.adjust(1, +10)  # over the ceiling: refused, the target as it was
        except SafetyRefused as refusal:
            print(f"{session.elapsed_s():7.1f} s  not changed: {refusal}")
        await session.run_for(60)
        await session.stop()  # ramp down to 0 and end
        state = await session.run()
        await session.record_outcomes({"pain_rest": 3, "pain_movement": 4, "fatigue": 2})
        events = await following
    print(
        f"{state.value} ({session.end_reason}) after {session.elapsed_s():.0f} s, "
        f"{events} events; session {session.record_id} in {store}"
    )
    return 0


def main() -> int:
    return asyncio.run(run_session())


if __name__ == "__main__":
    raise SystemExit(main())
