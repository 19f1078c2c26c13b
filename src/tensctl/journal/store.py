"""The session store: one SQLite file (WAL) holding patients, sessions and their events.

Where: ``--db PATH``, else ``$TENSCTL_DB``, else ``sessions.sqlite3`` in the user data
directory (platformdirs). Every event is its own committed transaction, written to the
write-ahead log before the engine goes on, so a crash of the process loses at most the event
being written. The log is synced to disk by a checkpoint every 2 s on a separate thread
(``synchronous=NORMAL``): a power failure loses at most those 2 s, and no event write — so no
supervisor tick — ever waits for the disk to sync. Sessions whose process died without
closing them are marked ``interrupted`` the next time the store is opened on that host.
A session's end is sealed in the same transaction that writes it (:func:`schema.seal`), and
so is each outcome added after the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from tensctl.errors import InputError, Problem, StoreError
from tensctl.journal import chain, schema
from tensctl.journal.checkpoint import Checkpointer
from tensctl.journal.clock import utc_now
from tensctl.journal.processes import gone, this_host
from tensctl.journal.session_writer import AFTER_END, SessionWriter
from tensctl.model.outcomes import Outcomes, outcome_event, recorded_outcomes

Row = dict[str, Any]
T = TypeVar("T")

SEALED_BY = AFTER_END | {"closed"}  # the end, and what is added after it

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


class Store:
    """A session store. Thread-safe; several processes may write to one file."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        mark_interrupted: bool = True,
        must_exist: bool = False,
        read_only: bool = False,
    ) -> None:
        """``must_exist``: a store to read (a mistyped path is an error, not a new store)."""
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        if (must_exist or read_only) and not self.path.is_file():
            raise StoreError(f"{self.path}: no session store there (give --db or $TENSCTL_DB)")
        try:
            if read_only:
                self.conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                )
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(
                    self.path, timeout=2.0, check_same_thread=False, isolation_level=None
                )
            self.conn.row_factory = sqlite3.Row
            if not read_only:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job
                self.conn.execute("PRAGMA foreign_keys=ON")
                schema.migrate(self.conn, where=str(self.path))
            else:
                schema.check_readable(self.conn, str(self.path))
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the session store: {exc}") from None
        self._checkpointer = Checkpointer(self.path) if not read_only else None
        if mark_interrupted and not read_only:
            self.mark_interrupted()

    # ---- plumbing -------------------------------------------------------------------------

    def _do(self, what: str, action: Callable[[], T]) -> T:
        try:
            with self._lock:
                return action()
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):  # a closed connection cannot roll back
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
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            self.conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[Store]:
        """A read-only view of the store as of now (one read transaction on its own
        connection): what a live session writes meanwhile is not seen half-way."""
        view = Store(self.path, must_exist=True, read_only=True)
        try:
            view.conn.execute("BEGIN")
            yield view
        finally:
            with contextlib.suppress(sqlite3.Error):
                view.conn.execute("COMMIT")
            view.close()

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
                    "host": this_host(),
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

    def append(
        self, session_id: int, seq: int, prev_hash: str, events: Sequence[Mapping[str, Any]]
    ) -> str:
        """Append events ``seq``, ``seq + 1``, … in one transaction; returns the last hash."""
        rows, digest = [], prev_hash
        for n, event in enumerate(events):
            row: Row = {
                "session_id": session_id,
                "seq": seq + n,
                "time_utc": event.get("time_utc") or utc_now(),
                "elapsed_s": float(event["elapsed_s"]),
                "kind": str(event["kind"]),
                "data": chain.canonical(event.get("data", {})),
            }
            previous, digest = digest, chain.event_hash(digest, row)
            rows.append((*(row[f] for f in chain.EVENT_FIELDS), previous, digest))

        def write() -> str:
            with self._write() as db:
                db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                for event in events:
                    if event["kind"] == "closed":
                        ended = event["data"]
                        db.execute(
                            "UPDATE sessions SET ended_utc = ?, end_reason = ? WHERE id = ?",
                            (ended["ended_utc"], ended["reason"], session_id),
                        )
                if any(e["kind"] in SEALED_BY for e in events) and self._ended(db, session_id):
                    schema.seal(db, session_id, seq + len(events) - 1, digest)
            return digest

        return self._do(f"writing event {seq} of session {session_id}", write)

    @staticmethod
    def _ended(db: sqlite3.Connection, session_id: int) -> bool:
        found = db.execute("SELECT end_reason FROM sessions WHERE id = ?", (session_id,))
        return bool(found.fetchone()[0] is not None)

    def mark_interrupted(self) -> list[int]:
        """Close, as ``interrupted``, the open sessions of processes on this host that are
        gone: those of an earlier boot, and those whose process no longer exists. A session
        with a seal had ended: if its end is gone, its record was cut, and it is left as it
        is for ``verify`` to report (never relabelled interrupted); and while a seal is
        missing from the chain of seals, no session is marked — any unsealed one may be the
        one it sealed."""
        marked: list[int] = []
        count, last = self._do(
            "reading the seals",
            lambda: self.conn.execute("SELECT count(*), max(seq) FROM seals").fetchone(),
        )
        if count != (last or 0):
            return marked
        open_rows = self._do(
            "finding unfinished sessions",
            lambda: self.conn.execute(
                "SELECT id, pid, host FROM sessions WHERE end_reason IS NULL "
                "AND id NOT IN (SELECT session_id FROM seals)"
            ).fetchall(),
        )
        for found in open_rows:
            if not gone(found["host"], found["pid"]):
                continue
            try:
                writer, last = self.resume(found["id"], open_ok=True)
                ended = last["time_utc"] if last else self.session(found["id"])["started_utc"]
                writer.close("interrupted", elapsed_s=last["elapsed_s"] if last else 0.0, at=ended)
            except StoreError:
                continue  # another process closed it first
            marked.append(found["id"])
        return marked

    def resume(self, session_id: int, open_ok: bool = False) -> tuple[SessionWriter, Row | None]:
        """A writer that continues a stored session's chain, and its last event. A session
        still open belongs to its own writer: refused unless ``open_ok``."""
        if not open_ok and self.session(session_id)["end_reason"] is None:
            raise InputError(
                [
                    Problem(
                        f"session {session_id} has not ended (still running, or its end not "
                        "yet recorded): add outcomes or notes once it has",
                        "<argument>",
                        path="ID",
                    )
                ]
            )
        events = self.events(session_id)
        last = events[-1] if events else None
        head = last["hash"] if last else self.session(session_id)["hash"]
        writer = SessionWriter(self, session_id, head, seq=last["seq"] if last else 0)
        writer.closed = any(e["kind"] == "closed" for e in events)
        return writer, last

    def add_outcomes(
        self,
        session_id: int,
        when: str,
        values: Outcomes,
        operator: str,
        reason: str | None = None,
        source: str = "",
    ) -> int:
        """Outcomes of an ended session, appended to its chain and sealed with it. Outcomes
        ``when`` already recorded are amended — a new event naming the one it corrects, with
        the ``reason`` (required) — never replaced. Returns the new event's number."""
        writer, last = self.resume(session_id)
        earlier = recorded_outcomes(self.events(session_id)).get(when)
        data = outcome_event(when, values, operator, earlier, reason, source)
        writer.append("outcome", last["elapsed_s"] if last else 0.0, data)
        return writer.seq

    def add_note(self, session_id: int, text: str, operator: str, source: str = "") -> int:
        """A therapist's note on an ended session: a new ``note`` event (its time is when it
        was written; ``text`` and ``operator``), appended to the chain and sealed with it —
        a note is never edited, a later note may correct an earlier one. Returns its number."""
        said = text.strip()
        if not said:
            raise InputError([Problem("a note needs some text", source or "<argument>")])
        writer, last = self.resume(session_id)
        writer.append(
            "note", last["elapsed_s"] if last else 0.0, {"text": said, "operator": operator}
        )
        return writer.seq

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

    def seals(self) -> list[Row]:
        """The chain of seals, in order."""
        rows = self._do(
            "reading the seals",
            lambda: self.conn.execute("SELECT * FROM seals ORDER BY seq").fetchall(),
        )
        return [dict(r) for r in rows]

    def patients(self) -> list[Row]:
        rows = self._do(
            "listing patients",
            lambda: self.conn.execute("SELECT * FROM patients ORDER BY id").fetchall(),
        )
        return [dict(r) for r in rows]

    def last_titration(
        self, patient: str, *, before_session: int | None = None, simulated: bool = False
    ) -> Row | None:
        """The patient's most recent titration before session ``before_session`` (simulated
        sessions only with simulated ones): ``session_id``, ``started_utc`` and ``values``,
        channel → threshold name → mA (the last mark of each, in the order they were made)."""
        query = (
            "SELECT s.id, s.started_utc, e.data FROM events e JOIN sessions s "
            "ON s.id = e.session_id WHERE s.patient_id = ? AND s.simulated = ? "
            "AND e.kind = 'titration' AND s.id < ? ORDER BY s.id DESC, e.seq"
        )
        args = (patient, int(simulated), before_session if before_session is not None else 2**62)
        rows = self._do(
            f"reading the last titration of patient {patient}",
            lambda: self.conn.execute(query, args).fetchall(),
        )
        if not rows:
            return None
        newest = rows[0][0]
        values: dict[int, dict[str, float]] = {}
        for session_id, _, data in rows:
            if session_id == newest:
                mark = json.loads(data)
                values.setdefault(int(mark["channel"]), {})[mark["threshold"]] = float(
                    mark["amplitude_ma"]
                )
        return {"session_id": newest, "started_utc": rows[0][1], "values": values}

    def stimulation_between(self, patient: str, since_utc: str, until_utc: str) -> list[Row]:
        """The sessions of ``patient`` started in ``[since_utc, until_utc)`` (UTC stamps as
        stored), each as ``id``, ``started_utc``, ``simulated``, ``end_reason`` and the
        ``events`` its stimulated time is read from, in order: its state changes, its end,
        and its last event (a session still running, or cut, counts up to there)."""

        def read() -> list[Row]:
            found = self.conn.execute(
                "SELECT id, started_utc, simulated, end_reason FROM sessions "
                "WHERE patient_id = ? AND started_utc >= ? AND started_utc < ? ORDER BY id",
                (patient, since_utc, until_utc),
            ).fetchall()
            out = []
            for row in found:
                events = self.conn.execute(
                    "SELECT seq, elapsed_s, kind, data FROM events WHERE session_id = ? "
                    "AND (kind IN ('state', 'closed') OR seq = "
                    "(SELECT max(seq) FROM events WHERE session_id = ?)) ORDER BY seq",
                    (row["id"], row["id"]),
                ).fetchall()
                parsed = [{**dict(e), "data": json.loads(e["data"])} for e in events]
                out.append({**dict(row), "simulated": bool(row["simulated"]), "events": parsed})
            return out

        return self._do(f"reading the sessions of patient '{patient}'", read)
