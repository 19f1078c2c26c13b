"""The session store: one SQLite file (WAL) holding patients, sessions and their events.

Where: ``--db PATH``, else ``$TENSCTL_DB``, else ``sessions.sqlite3`` in the user data
directory (platformdirs). Every event is its own committed transaction, written to the
write-ahead log before the engine goes on, so a crash of the process loses at most the event
being written. The log is synced to disk by a checkpoint every 2 s on a separate thread
(``synchronous=NORMAL``): a power failure loses at most those 2 s, and no event write — so no
supervisor tick — ever waits for the disk to sync. Sessions whose process died without
closing them are marked ``interrupted`` the next time the store is opened on that host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from tensctl.errors import InputError, Problem, StoreError
from tensctl.journal import chain, schema

Row = dict[str, Any]
T = TypeVar("T")

SUMMARY_COLUMNS = (
    "id, patient_id, protocol_id, protocol_name, protocol_sha256, device_url, device_model, "
    "device_serial, firmware, simulated, operator, host, pid, started_utc, ended_utc, "
    "end_reason, prev_hash, hash"
)


def default_path() -> Path:
    env = os.environ.get("TENSCTL_DB")
    if env:
        return Path(env)
    return platformdirs.user_data_path("tensctl", appauthor=False) / "sessions.sqlite3"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """A session store. Thread-safe; several processes may write to one file."""

    def __init__(self, path: Path | str | None = None, *, mark_interrupted: bool = True) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                self.path, timeout=2.0, check_same_thread=False, isolation_level=None
            )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
            self.conn.execute("PRAGMA foreign_keys=ON")
            schema.migrate(self.conn)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the session store: {exc}") from None
        self._checkpointer = _Checkpointer(self.path)
        if mark_interrupted:
            self.mark_interrupted()

    # ---- plumbing -------------------------------------------------------------------------

    def _do(self, what: str, action: Callable[[], T]) -> T:
        try:
            with self._lock:
                return action()
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.rollback()
            raise StoreError(f"{self.path}: {what}: {exc}") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction (writers queue on the file lock, readers never wait)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self._checkpointer.stop()
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing --------------------------------------------------------------------------

    def open_session(self, header: Mapping[str, Any], protocol_json: str) -> SessionWriter:
        """Start a session record; ``header`` holds :data:`chain.HEADER_FIELDS` except
        ``id``, ``protocol_sha256``, ``host``, ``pid`` and ``started_utc``, filled in here."""

        def write() -> SessionWriter:
            with self._write() as db:
                last = db.execute("SELECT id, hash FROM sessions ORDER BY id DESC LIMIT 1")
                found = last.fetchone()
                prev = found["hash"] if found else chain.GENESIS
                row: Row = {
                    **header,
                    "id": (found["id"] if found else 0) + 1,
                    "protocol_sha256": chain.sha256(protocol_json),
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started_utc": utc_now(),
                    "simulated": int(bool(header["simulated"])),
                }
                row["prev_hash"], row["hash"] = prev, chain.header_hash(prev, row)
                if row["patient_id"] is not None:
                    db.execute(
                        "INSERT OR IGNORE INTO patients (id, created_utc) VALUES (?, ?)",
                        (row["patient_id"], row["started_utc"]),
                    )
                columns = [*chain.HEADER_FIELDS, "protocol_json", "prev_hash", "hash"]
                values = [row[c] for c in columns if c != "protocol_json"]
                values.insert(len(chain.HEADER_FIELDS), protocol_json)
                marks = ", ".join("?" * len(columns))
                db.execute(f"INSERT INTO sessions ({', '.join(columns)}) VALUES ({marks})", values)
            return SessionWriter(self, row["id"], row["hash"])

        return self._do("opening a session record", write)

    def append(self, session_id: int, seq: int, prev_hash: str, event: Mapping[str, Any]) -> str:
        """Append one event (its own transaction); returns its hash."""
        row: Row = {
            "session_id": session_id,
            "seq": seq,
            "time_utc": event.get("time_utc") or utc_now(),
            "elapsed_s": float(event["elapsed_s"]),
            "kind": str(event["kind"]),
            "data": chain.canonical(event.get("data", {})),
        }
        digest = chain.event_hash(prev_hash, row)

        def write() -> str:
            with self._write() as db:
                db.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*(row[f] for f in chain.EVENT_FIELDS), prev_hash, digest),
                )
                if row["kind"] == "closed":
                    ended = event["data"]
                    db.execute(
                        "UPDATE sessions SET ended_utc = ?, end_reason = ? WHERE id = ?",
                        (ended["ended_utc"], ended["reason"], session_id),
                    )
            return digest

        return self._do(f"writing event {seq} of session {session_id}", write)

    def mark_interrupted(self) -> list[int]:
        """Close, as ``interrupted``, the open sessions of dead processes on this host."""
        host, marked = socket.gethostname(), []
        open_rows = self._do(
            "finding unfinished sessions",
            lambda: self.conn.execute(
                "SELECT id, pid FROM sessions WHERE end_reason IS NULL AND host = ?", (host,)
            ).fetchall(),
        )
        for found in open_rows:
            if found["pid"] == os.getpid() or _alive(found["pid"]):
                continue
            writer, last = self.resume(found["id"])
            ended = last["time_utc"] if last else self.session(found["id"])["started_utc"]
            writer.close("interrupted", elapsed_s=last["elapsed_s"] if last else 0.0, at=ended)
            marked.append(found["id"])
        return marked

    def resume(self, session_id: int) -> tuple[SessionWriter, Row | None]:
        """A writer that continues a stored session's chain, and its last event."""
        events = self.events(session_id)
        last = events[-1] if events else None
        head = last["hash"] if last else self.session(session_id)["hash"]
        writer = SessionWriter(self, session_id, head, seq=last["seq"] if last else 0)
        writer.closed = any(e["kind"] == "closed" for e in events)
        return writer, last

    # ---- reading --------------------------------------------------------------------------

    def sessions(self, patient: str | None = None) -> list[Row]:
        where, args = ("WHERE patient_id = ?", (patient,)) if patient is not None else ("", ())
        query = f"SELECT {SUMMARY_COLUMNS} FROM sessions {where} ORDER BY id"
        rows = self._do("listing sessions", lambda: self.conn.execute(query, args).fetchall())
        return [dict(r) for r in rows]

    def session(self, session_id: int) -> Row:
        found = self._do(
            f"reading session {session_id}",
            lambda: self.conn.execute(
                "SELECT * FROM sessions WHERE id = ?", (session_id,)
            ).fetchone(),
        )
        if found is None:
            raise InputError(
                [Problem(f"no session {session_id} in {self.path}", "<argument>", path="ID")]
            )
        return dict(found)

    def events(self, session_id: int, *, raw: bool = False) -> list[Row]:
        """A session's events in order; ``data`` parsed unless ``raw``."""
        rows = self._do(
            f"reading the events of session {session_id}",
            lambda: self.conn.execute(
                "SELECT * FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall(),
        )
        out = [dict(r) for r in rows]
        if not raw:
            for r in out:
                r["data"] = json.loads(r["data"])
        return out

    def patients(self) -> list[Row]:
        rows = self._do(
            "listing patients",
            lambda: self.conn.execute("SELECT * FROM patients ORDER BY id").fetchall(),
        )
        return [dict(r) for r in rows]


class _Checkpointer:
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


class SessionWriter:
    """Appends one session's events to its chain, in order, from any thread."""

    def __init__(self, store: Store, session_id: int, last_hash: str, seq: int = 0) -> None:
        self.store, self.session_id = store, session_id
        self._last_hash, self._seq = last_hash, seq
        self._lock = threading.Lock()
        self.closed = False

    def append(
        self, kind: str, elapsed_s: float, data: Mapping[str, Any], at: str | None = None
    ) -> None:
        with self._lock:
            if self.closed and kind != "outcome":
                return  # after its end a session takes only outcomes (pain afterwards)
            event = {"kind": kind, "elapsed_s": elapsed_s, "data": data, "time_utc": at}
            self._last_hash = self.store.append(
                self.session_id, self._seq + 1, self._last_hash, event
            )
            self._seq += 1

    def close(self, reason: str, elapsed_s: float, at: str | None = None) -> None:
        """The session's last record: why and when it ended (written once)."""
        if self.closed:
            return
        self.append("closed", elapsed_s, {"reason": reason, "ended_utc": at or utc_now()})
        self.closed = True
