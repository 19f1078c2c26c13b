"""The in-process transport (``sim://``): the simulated device behind an object that
reads and writes like a pyserial port, on whatever clock it is given.

With a virtual clock the device lives entirely in the host's time: it advances when the
host writes or reads, so a 30-minute session takes as long as its commands take to
process. With a real clock it behaves like the pty and TCP transports without the OS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tenssim.device import SimDevice

POLL_S = 0.002


class SimPort:
    synchronous = True
    ticking = False
    """The device answers inside :meth:`write`; :meth:`read_available` collects it."""

    def __init__(self, device: SimDevice, clock: Callable[[], float], timeout: float = 0.05):
        self.device, self.clock = device, clock
        self.timeout: float | None = timeout
        self.is_open = True
        self._buffer = bytearray()
        self._wake = threading.Condition()

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise OSError("port is closed")
        self.device.receive(bytes(data), self.clock())
        self._collect()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        deadline = time.monotonic() + (self.timeout or 0.0)
        with self._wake:
            while self.is_open:
                self._collect()
                if self._buffer:
                    out = bytes(self._buffer[:size])
                    del self._buffer[:size]
                    return out
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(min(left, POLL_S))
        return b""

    def start_ticking(self, period_s: float = POLL_S) -> None:
        """Advance the device from a thread, as real hardware runs on its own."""
        self.ticking = True

        def tick() -> None:
            while self.is_open:
                self._collect()
                time.sleep(period_s)

        threading.Thread(target=tick, name="tenssim-tick", daemon=True).start()

    def read_available(self) -> bytes:
        """Everything the device has sent by now, without waiting."""
        with self._wake:
            self._collect()
            out = bytes(self._buffer)
            self._buffer.clear()
            return out

    @property
    def in_waiting(self) -> int:
        self._collect()
        return len(self._buffer)

    def _collect(self) -> None:
        now = self.clock()
        self.device.advance(now)
        data = self.device.take_output(now)
        if data:
            with self._wake:
                self._buffer += data
                self._wake.notify_all()

    def reset_input_buffer(self) -> None:
        with self._wake:
            self._buffer.clear()

    def close(self) -> None:
        with self._wake:
            self.is_open = False
            self._wake.notify_all()
