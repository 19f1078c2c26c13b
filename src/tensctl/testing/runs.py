"""``tensctl run`` as a subprocess against a device URL, for end-to-end tests: the command,
started or run to its end, and the JSON lines it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_command(device_url: str, *extra: str, protocol: Path | str) -> list[str]:
    """``tensctl run PROTOCOL --device URL --yes --json …`` as a subprocess command (with
    this interpreter, so it runs the tensctl the tests import)."""
    return [
        sys.executable,
        "-m",
        "tensctl",
        "run",
        str(protocol),
        "--device",
        device_url,
        "--yes",
        "--json",
        *extra,
    ]


def start_run(device_url: str, *extra: str, protocol: Path | str) -> subprocess.Popen[str]:
    """Started with stdin a pipe held open (``proc.stdin``): ``run --json`` ends the session
    when its stdin closes."""
    return subprocess.Popen(
        run_command(device_url, *extra, protocol=protocol),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.PIPE,
    )


def run_to_end(
    command: list[str], timeout: float = 60, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command)`` with stdout and stderr captured and stdin a pipe held open
    until the process has exited (``run --json`` ends the session when its stdin closes)."""
    read, write = os.pipe()
    try:
        return subprocess.run(
            command, stdin=read, capture_output=True, text=True, timeout=timeout, **options
        )
    finally:
        os.close(read)
        os.close(write)


def read_until(
    proc: subprocess.Popen[str], done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The JSON events a running ``tensctl run --json`` prints, until ``done(events)``."""
    if proc.stdout is None:
        raise ValueError("the process was started without stdout=PIPE")
    events: list[dict[str, Any]] = []
    for line in proc.stdout:
        if line.startswith("{"):
            events.append(json.loads(line))
            if done(events):
                break
    return events
