"""Run the simulator until SIGINT or SIGTERM: build the device, pick the transport,
announce its address (the first line on stdout), serve, and exit cleanly."""

from __future__ import annotations

import ipaddress
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tensctl.model.device import DeviceProfile
from tenssim.channel import RESET_CLEAR_S
from tenssim.device import SimDevice
from tenssim.firmware import DEFAULT_SERIAL
from tenssim.log import JsonLog
from tenssim.scenario import Scenario
from tenssim.serve import PtyServer, Server, TcpServer, monotonic_from_zero


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> TcpAddress:
        """``HOST:PORT`` (``[::1]:PORT`` for IPv6); raises ValueError with the reason."""
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected HOST:PORT, found {text!r}")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"port must be a number from 0 to 65535, found {port!r}")
        return cls(host.strip("[]"), int(port))

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def run(
    profile: DeviceProfile,
    announce: Callable[[str], None],
    tcp: TcpAddress | None = None,
    link: Path | None = None,
    scenario: Scenario | None = None,
    seed: int = 0,
    log_path: Path | None = None,
    serial: str = DEFAULT_SERIAL,
    control: Path | None = None,
    reset_clear_s: float = RESET_CLEAR_S,
    personality: str = "native",
    lenient_watchdog: bool = False,
) -> None:
    clock = monotonic_from_zero()
    log = JsonLog(log_path)
    device = SimDevice(
        profile,
        clock(),
        scenario=scenario,
        seed=seed,
        serial=serial,
        log=log,
        reset_clear_s=reset_clear_s,
        personality=personality,
        lenient_watchdog=lenient_watchdog,
    )
    server: Server = (
        TcpServer(device, clock, tcp.host, tcp.port)
        if tcp is not None
        else PtyServer(device, clock, link)
    )

    if control is not None:
        server.add_control(control)

    def _stop(signum: int, frame: FrameType | None) -> None:
        server.stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log(
        {
            "t": clock(),
            "event": "listening",
            "address": server.address,
            "profile": profile.id,
            "personality": personality,
            "monotonic_zero_s": time.monotonic() - clock(),  # host clocks can compare
        }
    )
    announce(server.address)
    try:
        server.run()
    finally:
        log({"t": clock(), "event": "shutdown"})
        log.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
