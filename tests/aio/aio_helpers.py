"""Running a test's coroutine the way the asyncio API is held to: the event loop in debug
mode, with a small slow-callback threshold, and no callback on the loop that took longer
(asyncio logs "Executing <…> took 0.123 seconds" for each one)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

SLOW_CALLBACK_S = 0.05
"""Anything on the loop that waits for the device (a round trip on a pty, a tick) takes
longer than this; a callback that only moves an event onto the loop takes microseconds.
Not smaller: the host has two cores shared with other work, and the engine's threads hold
the interpreter lock for a few milliseconds at a time."""


SWITCH_S = 0.001
"""The interpreter's thread switch interval while the loop runs (5 ms by default): on
virtual time the engine's thread computes flat out, and the loop's thread, waiting for the
interpreter lock behind it, would count that wait as its own callback's time."""


def run_debug(main: Coroutine[Any, Any, T], caplog: pytest.LogCaptureFixture) -> T:
    """``asyncio.run(main, debug=True)``; fails if the loop reported a slow callback."""

    async def watched() -> T:
        asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK_S
        return await main

    caplog.set_level(logging.WARNING, logger="asyncio")
    switch_s = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_S)
    # the test process's heap (pytest, every module loaded) out of the collector's way: a
    # full collection that lands on the loop's thread would scan it all, 20-70 ms here,
    # and be counted as the callback's time; what the session allocates is still collected
    gc.collect()
    gc.freeze()
    try:
        result = asyncio.run(watched(), debug=True)
    finally:
        gc.unfreeze()
        sys.setswitchinterval(switch_s)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not [m for m in slow if "Executing" in m and "took" in m], slow
    assert not slow, slow  # nothing else either: no task destroyed pending, no unretrieved error
    return result
