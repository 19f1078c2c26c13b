"""The session store's schema and its migrations.

The schema version lives in SQLite's ``user_version``. Each entry of :data:`MIGRATIONS`
takes the store from version *i* to *i + 1*, inside one transaction; opening a store runs
whatever is missing, and refuses a store written by a newer tensctl.

Records are append-only: triggers refuse updates and deletes of events, and any change to a
session's header. They stop accidents, not a determined editor — the hash chains
(:mod:`tensctl.journal.chain`) are what make an edit detectable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tensctl.errors import StoreError

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

MIGRATIONS: tuple[str, ...] = (V1,)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(
    conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS, where: str = ""
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
    conn: sqlite3.Connection, where: str = "", migrations: Sequence[str] = MIGRATIONS
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
