"""Appending to one session's hash chain, in order, from any thread."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from tensctl.journal.clock import utc_now

AFTER_END = frozenset({"outcome", "note"})
"""The events a session takes after its end: outcomes taken afterwards (and corrections of
them) and the therapist's notes. Each is appended to its chain and sealed with it."""


class EventStore(Protocol):
    """What a writer needs of the store (:class:`~tensctl.journal.store.Store` is one): to
    append events to a session's chain. ``path`` only says where (the recorder reports it)."""

    @property
    def path(self) -> Path: ...

    def append(
        self, session_id: int, seq: int, prev_hash: str, events: Sequence[Mapping[str, Any]]
    ) -> str:
        """Append events ``seq``, ``seq + 1``, … in one transaction; returns the last hash."""
        ...


class SessionWriter:
    """Appends one session's events to its chain, in order, from any thread."""

    def __init__(self, store: EventStore, session_id: int, last_hash: str, seq: int = 0) -> None:
        self.store, self.session_id = store, session_id
        self._last_hash, self._seq = last_hash, seq
        self._lock = threading.Lock()
        self.closed = False

    @property
    def seq(self) -> int:
        """The number of the last event written (0: none yet)."""
        return self._seq

    def append(
        self, kind: str, elapsed_s: float, data: Mapping[str, Any], at: str | None = None
    ) -> None:
        self.append_many([{"kind": kind, "elapsed_s": elapsed_s, "data": data, "time_utc": at}])

    def append_many(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Events (``kind``, ``elapsed_s``, ``data``, ``time_utc``) in one transaction."""
        with self._lock:
            if self.closed:  # after its end: outcomes (pain afterwards) and notes only
                events = [e for e in events if e["kind"] in AFTER_END]
            if not events:
                return
            self._last_hash = self.store.append(
                self.session_id, self._seq + 1, self._last_hash, events
            )
            self._seq += len(events)

    def close(self, reason: str, elapsed_s: float, at: str | None = None) -> None:
        """The session's last record: why and when it ended (written once)."""
        if self.closed:
            return
        self.append("closed", elapsed_s, {"reason": reason, "ended_utc": at or utc_now()})
        self.closed = True
