"""``tensctl.aio`` against the simulator as a real process on a pty, in real time: what the
device did is read from the simulator's own log, not from the host's account of it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aio_helpers import run_debug

import tensctl.aio as aio
from tensctl.engine.states import State
from tensctl.journal.store import Store
from tensctl.testing import SimulatorFactory

SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s
PATIENT = "DEMO-102"


def outputs(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == "output" and e["channel"] == 1]


def test_a_cancelled_task_ends_at_0_ma_in_the_simulators_log(
    tenssim_factory: SimulatorFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The task holding the session is cancelled while it stimulates at 5 mA: the device is
    sent an emergency stop, and its output goes from 5 mA to 0 in one step (no ramp)."""
    db = tmp_path / "s.sqlite3"

    async def main(address: str) -> tuple[State, str, int | None]:
        async with aio.connect(address, journal=db) as device:
            opened = asyncio.Event()
            holder: list[aio.AsyncSession] = []

            async def session() -> None:
                async with device.session(SHORT, patient=PATIENT, screened=True) as s:
                    holder.append(s)
                    opened.set()
                    await s.run()

            task = asyncio.create_task(session())
            await opened.wait()
            async for event in holder[0].events():
                if event.kind == "state" and event.data["state"] == "stimulating":
                    break
            await asyncio.sleep(0.5)  # at 5 mA for a while
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            s = holder[0]
            return s.state, s.end_reason, s.record_id

    with tenssim_factory() as sim:
        state, reason, record_id = run_debug(main(sim.address), caplog)
        time.sleep(0.2)
        log = sim.log()

    assert state is State.stopped and reason == "emergency_stop"
    # no ramp: the device's own log shows the step (how fast is a bench figure, not a test's)
    delivered = [e["amplitude_ua"] for e in outputs(log)]
    assert delivered[-1] == 0 and delivered[-2] == 5000  # from 5 mA straight to 0
    assert outputs(log)[-1]["cause"] == "emergency_stop"
    (stop,) = [e for e in log if e["event"] == "command" and e["type"] == "EMERGENCY_STOP"]
    assert not [e for e in outputs(log) if e["amplitude_ua"] > 0 and e["t"] > stop["t"]]
    assert record_id is not None
    with Store(db, must_exist=True) as store:
        assert store.session(record_id)["end_reason"] == "emergency_stop"


def test_a_session_runs_to_completion_off_the_loop(
    tenssim_factory: SimulatorFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Six seconds in real time: the loop keeps its own time meanwhile (a coroutine ticking
    every 10 ms kept running), and the device delivered the protocol and ended at 0."""

    async def main(address: str) -> tuple[State, int]:
        beats = 0
        done = asyncio.Event()

        async def pulse() -> None:
            nonlocal beats
            while not done.is_set():
                await asyncio.sleep(0.01)
                beats += 1

        async with aio.connect(address, journal=False) as device:
            beat = asyncio.create_task(pulse())
            async with device.session(SHORT, patient=PATIENT, screened=True) as s:
                state = await s.run()
            done.set()
            await beat
        return state, beats

    with tenssim_factory() as sim:
        state, beats = run_debug(main(sim.address), caplog)
        time.sleep(0.2)
        log = sim.log()
    assert state is State.completed
    assert beats > 50  # the loop ran its own coroutines all through the 6 s session
    delivered = [e["amplitude_ua"] for e in outputs(log)]
    assert max(delivered) == 5000 and delivered[-1] == 0


CTRL_C_SCRIPT = """
import asyncio, sys
import tensctl.aio

async def main(address, protocol):
    async with tensctl.aio.connect(address, journal=False) as device:
        async with device.session(protocol, patient="DEMO-102", screened=True) as s:
            events = s.events()
            running = asyncio.create_task(s.run())
            async for event in events:
                if event.kind == "state" and event.data["state"] == "stimulating":
                    print("stimulating", flush=True)
            await running

try:
    asyncio.run(main(sys.argv[1], sys.argv[2]))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise SystemExit(7)
"""


def test_ctrl_c_under_asyncio_run_is_an_emergency_stop(
    tenssim_factory: SimulatorFactory, tmp_path: Path
) -> None:
    """A program of its own, as a user writes it: ``asyncio.run`` turns Ctrl-C into the
    main task's cancellation, and that is an emergency stop at the device."""
    script = tmp_path / "program.py"
    script.write_text(CTRL_C_SCRIPT, encoding="utf-8")
    with tenssim_factory() as sim:
        program = subprocess.Popen(
            [sys.executable, str(script), sim.address, str(SHORT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert program.stdout is not None
        assert program.stdout.readline() == "stimulating\n"
        time.sleep(0.3)
        program.send_signal(signal.SIGINT)
        out, err = program.communicate(timeout=30)
        time.sleep(0.2)
        log = sim.log()
    assert program.returncode == 7 and out == "interrupted\n", err
    assert "Traceback" not in err
    delivered = [e["amplitude_ua"] for e in outputs(log)]
    assert delivered[-2:] == [5000, 0] and outputs(log)[-1]["cause"] == "emergency_stop"
