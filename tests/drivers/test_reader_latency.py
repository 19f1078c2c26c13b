"""The reader thread must hand a reply over as soon as its bytes arrive. pyserial's
``read(n)`` waits for n bytes or its timeout; asking for more than has come made every
request wait out the 10 ms poll (found by bench/estop.py: 10.5 ms round trips, now < 1 ms).
Checked without a clock: a port like pyserial's counts the times it had to wait for bytes
beyond those already there."""

from __future__ import annotations

import threading
import time

from tenssim.device import SimDevice
from tenssim.inprocess import SimPort

from tensctl.drivers.native import NativeDriver
from tensctl.model.library import DEFAULT_DEVICE, find_device


class SerialLikePort(SimPort):
    """A threaded port whose read(n) blocks until n bytes or the timeout, like pyserial."""

    synchronous = False

    def __init__(self) -> None:
        t0 = time.monotonic()
        device = SimDevice(find_device(DEFAULT_DEVICE)[0], 0.0)
        super().__init__(device, lambda: time.monotonic() - t0, timeout=0.01)
        self.partial_waits = 0
        self.lock = threading.Lock()

    def read(self, size: int = 1) -> bytes:
        deadline = time.monotonic() + (self.timeout or 0.0)
        out = b""
        while len(out) < size and time.monotonic() < deadline and self.is_open:
            out += super().read(size - len(out)) if self.in_waiting else b""
            if 0 < len(out) < size:
                with self.lock:
                    self.partial_waits += 1  # bytes in hand, waiting for more
                time.sleep(0.001)
            elif not out:
                time.sleep(0.001)
        return out

    def close(self) -> None:
        self.is_open = False


def test_replies_are_read_without_waiting_for_more_bytes() -> None:
    port = SerialLikePort()
    driver = NativeDriver(port, "serial-like://")
    try:
        driver.identify()
        for _ in range(5):
            driver.heartbeat()
            driver.measure_impedance(1)
    finally:
        driver.close()
    assert port.partial_waits == 0
