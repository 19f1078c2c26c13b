"""The simulator as a process, and ``tensctl run`` against it, for the end-to-end tests
(see :mod:`tenssim.process`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenssim.process import SimProcess

__all__ = ["SHORT", "SimProcess", "read_until", "run_command", "run_to_end", "start_run"]

SHORT = Path(__file__).resolve().parent / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


def run_command(address: str, *extra: str, protocol: Path = SHORT) -> list[str]:
    """``tensctl run PROTOCOL --device ADDRESS --yes --json …`` as a subprocess command."""
    return [
        sys.executable,
        "-m",
        "tensctl",
        "run",
        str(protocol),
        "--device",
        address,
        "--yes",
        "--json",
        *extra,
    ]


def start_run(address: str, *extra: str, protocol: Path = SHORT) -> subprocess.Popen[str]:
    """Started with stdin a pipe held open (``proc.stdin``): ``run --json`` ends the session
    when its stdin closes."""
    return subprocess.Popen(
        run_command(address, *extra, protocol=protocol),
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
    assert proc.stdout is not None
    events: list[dict[str, Any]] = []
    for line in proc.stdout:
        if line.startswith("{"):
            events.append(json.loads(line))
            if done(events):
                break
    return events
