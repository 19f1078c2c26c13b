"""Checkpoints of the session store's write-ahead log, off every writer's path."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path


class Checkpointer:
    """Copies the write-ahead log into the database (and syncs it to disk) every
    ``period_s`` on its own thread and connection, so no event write ever waits for a
    checkpoint: an event costs a write to the log, a checkpoint's fsync happens here."""

    def __init__(self, path: Path, period_s: float = 2.0) -> None:
        self.path, self.period_s = path, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tensctl-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(self.period_s):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):  # busy or gone: the next round does it
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
