"""Running a test's coroutine the way the asyncio API is held to: the event loop in debug
mode, which raises on a call from the wrong thread and reports a task destroyed while
pending, an exception never retrieved or a coroutine never awaited — none may appear.

How long a callback held the loop (debug mode's "Executing <…> took 0.054 seconds") is a
wall-clock figure that a loaded machine or coverage tracing moves: it is not asserted here.
That nothing blocking runs on the loop is checked deterministically instead (every engine
call and event on a thread other than the loop's: test_aio_virtual.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def _slow_callback(message: str) -> bool:
    return message.startswith("Executing ") and " took " in message


def run_debug(main: Coroutine[Any, Any, T], caplog: pytest.LogCaptureFixture) -> T:
    """``asyncio.run(main, debug=True)``; fails on anything the loop reported but a slow
    callback's time."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    result = asyncio.run(main, debug=True)
    said = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    reported = [m for m in said if not _slow_callback(m)]
    assert not reported, reported  # no task destroyed pending, no unretrieved error, …
    return result
