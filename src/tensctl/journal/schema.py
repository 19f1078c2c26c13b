"""The session store's schema and its migrations.

The schema version lives in SQLite's ``user_version``. Each entry of :data:`MIGRATIONS`
takes the store from version *i* to *i + 1*, inside one transaction; opening a store runs
whatever is missing, and refuses a store written by a newer tensctl. An entry is an SQL
script, or a function of the connection where SQL alone cannot do it (hashes).

Records are append-only: triggers refuse updates and deletes of events, seals, and any
change to a session's header. They stop accidents, not a determined editor — the hash
chains (:mod:`tensctl.journal.chain`) are what make an edit detectable.

Version 2 adds the seals (:func:`v2`): the end of a session seals its event count and last
hash into a chain of seals. Migrating seals every session that has already ended, in id
order, as it is at that moment — a store written before version 2 is protected from then
on, not before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from tensctl.errors import StoreError
from tensctl.journal import chain
from tensctl.journal.clock import utc_now

Migration = str | Callable[[sqlite3.Connection], None]

V1 = """
CREATE TABLE patients (
    id TEXT PRIMARY KEY,
    created_utc TEXT NOT NULL
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    patient_id TEXT REFERENCES patients(id),
    protocol_id TEXT NOT NULL,
    protocol_name TEXT NOT NULL,
    protocol_json TEXT NOT NULL,
    protocol_sha256 TEXT NOT NULL,
    device_url TEXT NOT NULL,
    device_model TEXT NOT NULL,
    device_serial TEXT NOT NULL,
    firmware TEXT NOT NULL,
    simulated INTEGER NOT NULL,
    operator TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_utc TEXT NOT NULL,
    ended_utc TEXT,
    end_reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX sessions_by_patient ON sessions (patient_id, id);
CREATE TABLE events (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    time_utc TEXT NOT NULL,
    elapsed_s REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'session events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'session events are append-only'); END;
CREATE TRIGGER sessions_no_delete BEFORE DELETE ON sessions
BEGIN SELECT RAISE(ABORT, 'sessions are never deleted'); END;
CREATE TRIGGER sessions_end_once BEFORE UPDATE ON sessions
WHEN OLD.end_reason IS NOT NULL
  OR NEW.id IS NOT OLD.id OR NEW.hash IS NOT OLD.hash OR NEW.prev_hash IS NOT OLD.prev_hash
  OR NEW.protocol_json IS NOT OLD.protocol_json OR NEW.patient_id IS NOT OLD.patient_id
  OR NEW.started_utc IS NOT OLD.started_utc
BEGIN SELECT RAISE(ABORT, 'a session header is never changed; its end is written once'); END;
"""

SEALS = """
CREATE TABLE seals (
    seq INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    events INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    sealed_utc TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX seals_by_session ON seals (session_id, seq);
CREATE TRIGGER seals_no_update BEFORE UPDATE ON seals
BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;
CREATE TRIGGER seals_no_delete BEFORE DELETE ON seals
BEGIN SELECT RAISE(ABORT, 'seals are append-only'); END;
"""


def seal(conn: sqlite3.Connection, session_id: int, events: int, last_hash: str) -> None:
    """Append a seal of ``session_id`` (its first ``events`` events, the last of which has
    ``last_hash``) to the chain of seals. Inside the caller's write transaction."""
    found = conn.execute("SELECT seq, hash FROM seals ORDER BY seq DESC LIMIT 1").fetchone()
    prev = found[1] if found else chain.GENESIS
    row = {
        "seq": (found[0] if found else 0) + 1,
        "session_id": session_id,
        "events": events,
        "last_hash": last_hash,
        "sealed_utc": utc_now(),
    }
    row["prev_hash"], row["hash"] = prev, chain.seal_hash(prev, row)
    columns = [*chain.SEAL_FIELDS, "prev_hash", "hash"]
    conn.execute(
        f"INSERT INTO seals ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [row[c] for c in columns],
    )


def v2(conn: sqlite3.Connection) -> None:
    """The seals table, and a seal of every session that has already ended."""
    for statement in _statements(SEALS):
        conn.execute(statement)
    ended = conn.execute("SELECT id, hash FROM sessions WHERE end_reason IS NOT NULL ORDER BY id")
    for session_id, header_hash in ended.fetchall():
        last = conn.execute(
            "SELECT seq, hash FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        seal(conn, session_id, last[0] if last else 0, last[1] if last else header_hash)


MIGRATIONS: tuple[Migration, ...] = (V1, v2)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, where: str = ""
) -> int:
    """Bring the store to the latest version, all in one transaction taken with the write
    lock (two processes opening a new store at once: the second finds it done). Returns
    the version it was at."""
    found = check_readable(conn, where, migrations)
    if found == len(migrations):
        return found
    number = found
    try:
        conn.execute("BEGIN IMMEDIATE")
        found = number = version(conn)  # again, under the lock
        for number, script in enumerate(migrations[found:], start=found + 1):
            if callable(script):
                script(conn)
            else:
                for statement in _statements(script):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.rollback()
        prefix = f"{where}: " if where else ""
        raise StoreError(
            f"{prefix}migrating the session store to version {number}: {exc}"
        ) from None
    return found


def check_readable(
    conn: sqlite3.Connection, where: str = "", migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """The store's version, if this tensctl understands it."""
    found = version(conn)
    if found > len(migrations):
        prefix = f"{where}: " if where else ""
        raise StoreError(
            f"{prefix}the session store is at schema version {found}, newer than this tensctl "
            f"understands ({len(migrations)}); upgrade tensctl"
        )
    return found


def _statements(script: str) -> list[str]:
    """The SQL statements of a script (trigger bodies kept whole)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
