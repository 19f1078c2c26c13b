"""Run the simulator as a real process (``tensctl sim``), for end-to-end tests and
benchmarks: a real pseudo-terminal or TCP socket, opened by the host through pyserial.

    with SimProcess("pty", Path("sim.jsonl")) as sim:
        driver = open_driver(sim.address)      # /dev/pts/N or socket://127.0.0.1:PORT
        ...
        log = sim.log()                        # what the device did, line by line
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from tenssim.log import read_log


class SimProcess:
    """``tensctl sim --pty|--tcp`` in a subprocess; :attr:`address` is its first line."""

    def __init__(self, transport: str, log: Path, *extra: str) -> None:
        where = ["--pty"] if transport == "pty" else ["--tcp", "127.0.0.1:0"]
        cmd = [sys.executable, "-m", "tensctl", "sim", *where, "--log", str(log), *extra]
        self.log_path = log
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        if not ready:
            self.proc.kill()
            raise RuntimeError("the simulator did not announce its address")
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError(
                f"the simulator failed: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )

    def log(self) -> list[dict[str, Any]]:
        return read_log(self.log_path)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
