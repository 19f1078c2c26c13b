"""Real-time transports: the simulated device behind a pseudo-terminal or a TCP socket.

One thread runs a select loop: bytes from the host go into the device, the device's clock
advances every few milliseconds (so its watchdog fires on time), and its output goes back.
The loop runs until :attr:`Server.stop` is set (the CLI sets it on SIGINT/SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from tenssim.control import ControlSocket
from tenssim.device import SimDevice

SERVE_POLL_S = 0.002
"""How long the select loop waits for bytes from the host before it advances the device's
clock again: the simulator's own polling, not the host supervisor's tick."""

LINE_CHECK_S = 0.005
"""How often the pty server puts a baud rate the host set back to :data:`RESTING_BAUD`."""

RESTING_BAUD = termios.B50
"""The baud rate a pty rests at between the host's settings: one no real device uses, so
that whatever line settings a host asks for differ from it (see :class:`PtyServer`)."""


class Server:
    """Base of the transports: owns the device, the clock and the stop flag."""

    def __init__(self, device: SimDevice, clock: Callable[[], float]) -> None:
        self.device, self.clock = device, clock
        self.stop = threading.Event()
        self.selector = selectors.DefaultSelector()
        self.control: ControlSocket | None = None

    def add_control(self, path: Path) -> None:
        """Also take run-time fault injections on a Unix socket at ``path``."""
        self.control = ControlSocket(path, lambda e: self.device.inject(e, self.clock()))
        self.selector.register(self.control.listener, selectors.EVENT_READ)

    @property
    def address(self) -> str:
        raise NotImplementedError

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for key, _ in self.selector.select(SERVE_POLL_S):
                    if not self._on_control(key.fileobj):
                        self.on_readable(key.fileobj)
                now = self.clock()
                self.housekeeping(now)
                self.device.advance(now)
                out = self.device.take_output(now)
                if out:
                    self.write(out)
        finally:
            self.close()

    def _on_control(self, fileobj: object) -> bool:
        control = self.control
        if control is None:
            return False
        if fileobj is control.listener:
            self.selector.register(control.accept(), selectors.EVENT_READ)
            return True
        if isinstance(fileobj, socket.socket) and fileobj in control.clients:
            if not control.readable(fileobj):
                self.selector.unregister(fileobj)
                control.drop(fileobj)
            return True
        return False

    def on_readable(self, fileobj: object) -> None:
        raise NotImplementedError

    def housekeeping(self, now_s: float) -> None:
        """Once per turn of the loop: what the transport itself needs done."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        self.selector.close()


class PtyServer(Server):
    """The host opens :attr:`address` (``/dev/pts/N``) like any serial port, as often as it
    likes, one controller at a time.

    A pty keeps the line settings the last host set, but has no parity or character size
    of its own: it drops those bits. Linux refuses (``EINVAL``) a change of settings whose
    only differences are bits it drops, so the second host to ask for 8E1 at the baud rate
    the first one left (a RehaStim2's 460800 8E1) could not open the port. The server
    therefore puts the baud rate back to :data:`RESTING_BAUD` whenever a host has set
    another: what the next host asks for then differs in the baud rate, which a pty keeps,
    and is accepted. A pty passes bytes at any baud rate, and every other setting stays as
    the host made it, so the host that is connected notices nothing."""

    def __init__(self, device: SimDevice, clock: Callable[[], float], link: Path | None) -> None:
        super().__init__(device, clock)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: a clean byte pipe
        self._rest_baud()
        self._line_checked_s = float("-inf")
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.link = link
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(self.path)
        self.selector.register(self.master, selectors.EVENT_READ)

    @property
    def address(self) -> str:
        return self.path

    def on_readable(self, fileobj: object) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return
        if data:
            self.device.receive(data, self.clock())

    def housekeeping(self, now_s: float) -> None:
        if now_s - self._line_checked_s < LINE_CHECK_S:
            return
        self._line_checked_s = now_s
        with contextlib.suppress(termios.error):
            self._rest_baud()

    def _rest_baud(self) -> None:
        line = termios.tcgetattr(self.slave)
        if line[4] != RESTING_BAUD or line[5] != RESTING_BAUD:  # ispeed, ospeed
            line[4] = line[5] = RESTING_BAUD
            termios.tcsetattr(self.slave, termios.TCSANOW, line)

    def write(self, data: bytes) -> None:
        # the host may be slow to read: drop what the pty cannot take, like a UART FIFO
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.master, data)

    def close(self) -> None:
        super().close()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link is not None:
            with contextlib.suppress(OSError):
                self.link.unlink()


class TcpServer(Server):
    """One host at a time; a second connection is closed at once (the port is busy)."""

    def __init__(self, device: SimDevice, clock: Callable[[], float], host: str, port: int) -> None:
        super().__init__(device, clock)
        self.listener = socket.create_server((host, port))
        self.listener.setblocking(False)
        self.client: socket.socket | None = None
        self.selector.register(self.listener, selectors.EVENT_READ)

    @property
    def address(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"socket://{host}:{port}"

    def on_readable(self, fileobj: object) -> None:
        if fileobj is self.listener:
            conn, _ = self.listener.accept()
            if self.client is not None:
                conn.close()
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.client = conn
            self.selector.register(conn, selectors.EVENT_READ)
            return
        assert self.client is not None
        try:
            data = self.client.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        self.device.receive(data, self.clock())

    def _drop_client(self) -> None:
        if self.client is not None:
            self.selector.unregister(self.client)
            self.client.close()
            self.client = None

    def write(self, data: bytes) -> None:
        if self.client is None:
            return  # nobody listening: the bytes are lost, as on an unplugged cable
        try:
            self.client.sendall(data)
        except OSError:
            self._drop_client()

    def close(self) -> None:
        self._drop_client()
        self.listener.close()
        super().close()


def monotonic_from_zero() -> Callable[[], float]:
    t0 = time.monotonic()
    return lambda: time.monotonic() - t0
