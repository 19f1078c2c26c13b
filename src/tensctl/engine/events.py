"""What a session reports as it runs: one :class:`SessionEvent` per state change, phase
change, set-point change, adjustment, warning, fault, titration mark, and a telemetry
summary each second. Delivered to callbacks and to iterators (``Session.events()``)."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SessionEvent:
    kind: str  # state, phase, setpoint, adjust, telemetry, warning, fault, titration, end
    elapsed_s: float  # session time: protocol seconds since start (pauses excluded)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "elapsed_s": round(self.elapsed_s, 3), **self.data}


Listener = Callable[[SessionEvent], None]


class Emit(Protocol):
    """How the engine's parts report: ``emit("phase", index=1, name="…")``."""

    def __call__(self, kind: str, /, **data: Any) -> None: ...


HISTORY_EVENTS = 1000
_END = object()


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._queues: list[queue.SimpleQueue[object]] = []
        # the latest events, for late subscribers (the session record keeps them all)
        self.history: deque[SessionEvent] = deque(maxlen=HISTORY_EVENTS)

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event: SessionEvent) -> None:
        with self._lock:
            self.history.append(event)
            listeners, queues = list(self._listeners), list(self._queues)
        for q in queues:
            q.put(event)
        for listener in listeners:
            listener(event)

    def close(self) -> None:
        with self._lock:
            queues = list(self._queues)
        for q in queues:
            q.put(_END)

    def iterate(self) -> Iterator[SessionEvent]:
        """Every event from now on, until the session ends."""
        q: queue.SimpleQueue[object] = queue.SimpleQueue()
        with self._lock:
            self._queues.append(q)
        while True:
            item = q.get()
            if item is _END:
                return
            assert isinstance(item, SessionEvent)
            yield item
