"""Fault injection at run time: a Unix socket that takes scenario events as JSON lines.

``tensctl sim --control PATH`` listens on PATH. Each line a client sends is one scenario
event without ``at_s`` — it happens now — for example::

    {"kind": "electrode_off", "channel": 1}
    {"kind": "link_quality", "corruption_rate": 0.01}

and each gets one line back: ``{"ok": true}`` or ``{"ok": false, "error": "..."}``.
:func:`send` is the client side, for tests and scripts.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tenssim.scenario import ScenarioEvent

_EVENT: TypeAdapter[ScenarioEvent] = TypeAdapter(ScenarioEvent)


def parse_event(line: str) -> ScenarioEvent:
    """One control line → a scenario event; raises ValueError with a readable reason."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object, e.g. {"kind": "electrode_off", "channel": 1}')
    if "at_s" in data:
        raise ValueError("'at_s' does not apply: a control event happens when it arrives")
    try:
        return _EVENT.validate_python({**data, "at_s": 0})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else first["msg"]) from None


class ControlSocket:
    """The listening socket and its clients; the server's select loop drives it."""

    def __init__(self, path: Path, apply: Callable[[ScenarioEvent], None]) -> None:
        self.path, self.apply = path, apply
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.clients: dict[socket.socket, bytearray] = {}

    def accept(self) -> socket.socket:
        conn, _ = self.listener.accept()
        conn.setblocking(False)
        self.clients[conn] = bytearray()
        return conn

    def readable(self, conn: socket.socket) -> bool:
        """Handle what a client sent; False when it has gone."""
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            return False
        buffer = self.clients[conn]
        buffer += data
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            conn.sendall(json.dumps(self._handle(line.decode("utf-8", "replace"))).encode() + b"\n")
        return True

    def drop(self, conn: socket.socket) -> None:
        self.clients.pop(conn, None)
        conn.close()

    def _handle(self, line: str) -> dict[str, Any]:
        try:
            event = parse_event(line)
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        self.apply(event)
        return {"ok": True}

    def close(self) -> None:
        for conn in list(self.clients):
            conn.close()
        self.listener.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def send(path: Path, event: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one event to a running simulator's control socket; returns its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout_s)
        conn.connect(str(path))
        conn.sendall(json.dumps(event).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    result: dict[str, Any] = json.loads(answer)
    return result
