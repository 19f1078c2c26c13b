"""Running a test's coroutine the way the asyncio API is held to: the event loop in debug
mode, with a small slow-callback threshold, and no callback on the loop that took longer
(asyncio logs "Executing <…> took 0.123 seconds" for each one)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

SLOW_CALLBACK_S = 0.05
"""Anything on the loop that waits for the device (a round trip on a pty, a tick) takes
longer than this; a callback that only moves an event onto the loop takes microseconds.
Not smaller: the host has two cores shared with other work, and the engine's threads hold
the interpreter lock for a few milliseconds at a time."""


def run_debug(main: Coroutine[Any, Any, T], caplog: pytest.LogCaptureFixture) -> T:
    """``asyncio.run(main, debug=True)``; fails if the loop reported a slow callback."""

    async def watched() -> T:
        asyncio.get_running_loop().slow_callback_duration = SLOW_CALLBACK_S
        return await main

    caplog.set_level(logging.WARNING, logger="asyncio")
    result = asyncio.run(watched(), debug=True)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not [m for m in slow if "Executing" in m and "took" in m], slow
    assert not slow, slow  # nothing else either: no task destroyed pending, no unretrieved error
    return result
