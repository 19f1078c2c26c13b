"""Writing a session's events off the output path.

The supervisor's tick must never wait for a disk (a stall, another process holding the
store's write lock). Events go on a queue; one thread per session commits them in order.
The tick waits for its event's commit only while the writer keeps up — at most
:data:`WAIT_S` — so normally every event is on disk before the session goes on (a crash
loses at most the event in flight), and a stalled store costs the tick at most one short
wait before the backlog builds. A backlog older than :data:`MAX_LAG_S`, or a failed write,
is reported by :meth:`QueuedWriter.problem` (the session faults on it).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tensctl.errors import StoreError
from tensctl.journal.clock import utc_now
from tensctl.journal.session_writer import SessionWriter

WAIT_S = 0.02
MAX_LAG_S = 1.0
BATCH = 500  # events per transaction at most, when the writer has fallen behind
BULK = frozenset({"setpoint", "telemetry"})  # batched in virtual time


@dataclass
class _Item:
    kind: str
    elapsed_s: float
    data: Mapping[str, Any]
    at: str
    queued_s: float
    done: threading.Event = field(default_factory=threading.Event)


class BatchedWriter:
    """For a session on a virtual clock (no patient, no real-time duty): events are written
    in the caller's thread; set-points and telemetry summaries wait for the next event of
    another kind (or :data:`BATCH` of them) and go in one transaction with it, so the record
    keeps pace however fast virtual time runs and costs little. A failed write is reported
    like the queued writer's (the session faults on it); a crash may lose the set-points and
    summaries since the last other event."""

    def __init__(self, writer: SessionWriter) -> None:
        self.writer = writer
        self.error: str | None = None
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put(self, kind: str, elapsed_s: float, data: Mapping[str, Any]) -> None:
        with self._lock:
            self._buffer.append(
                {"kind": kind, "elapsed_s": elapsed_s, "data": data, "time_utc": utc_now()}
            )
            due = len(self._buffer) >= BATCH or kind not in BULK
        if due:
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            events, self._buffer = self._buffer, []
            if events and self.error is None:
                try:
                    self.writer.append_many(events)
                except StoreError as exc:
                    self.error = str(exc)

    def flush(self, timeout_s: float = 5.0) -> None:
        self._drain()
        if self.error is not None:
            raise StoreError(self.error)

    def problem(self) -> str | None:
        return self.error

    def stop(self, timeout_s: float = 5.0) -> None:
        self._drain()


class QueuedWriter:
    """``wait_s``: how long a put waits for its commit while the writer keeps up."""

    def __init__(self, writer: SessionWriter, wait_s: float = WAIT_S) -> None:
        self.writer, self.wait_s = writer, wait_s
        self.error: str | None = None
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._pending = 0  # items put and not yet written (a racy count is fine: a hint)
        self._oldest_s: float | None = None
        self._thread = threading.Thread(target=self._run, name="tensctl-record", daemon=True)
        self._thread.start()

    def put(self, kind: str, elapsed_s: float, data: Mapping[str, Any]) -> None:
        """Queue one event (stamped now); wait briefly for its commit if the writer is
        keeping up. Safe from any thread; never raises."""
        behind = self._pending > 0
        item = _Item(kind, elapsed_s, data, utc_now(), time.monotonic())
        self._pending += 1
        self._queue.put(item)
        if not behind:
            item.done.wait(self.wait_s)

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until everything queued so far is written; raise if it was not. After
        :meth:`stop` everything was written (or its failure kept): nothing to wait for."""
        if not self._thread.is_alive():
            if self.error is not None:
                raise StoreError(self.error)
            return
        marker = _Item("", 0.0, {}, "", time.monotonic())
        self._queue.put(marker)
        if not marker.done.wait(timeout_s):
            raise StoreError(f"the session record is more than {timeout_s:g} s behind")
        if self.error is not None:
            raise StoreError(self.error)

    def problem(self) -> str | None:
        if self.error is not None:
            return self.error
        oldest = self._oldest_s
        if oldest is not None and time.monotonic() - oldest > MAX_LAG_S:
            return f"writing is {time.monotonic() - oldest:.1f} s behind"
        return None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then end the thread (once; later calls return at once)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None and len(batch) < BATCH:  # what else is waiting
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [i for i in batch if i is not None]
            if items:
                self._write(items)
            if batch[-1] is None:
                return

    def _write(self, items: list[_Item]) -> None:
        """One transaction for everything that was waiting (a backlog clears quickly)."""
        self._oldest_s = items[0].queued_s
        events = [
            {"kind": i.kind, "elapsed_s": i.elapsed_s, "data": i.data, "time_utc": i.at}
            for i in items
            if i.kind
        ]
        if events and self.error is None:
            try:
                self.writer.append_many(events)
            except StoreError as exc:
                self.error = str(exc)
        self._pending = max(0, self._pending - len(events))
        self._oldest_s = None
        for item in items:
            item.done.set()
