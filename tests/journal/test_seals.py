"""Seals and anchors: a record cut short or a session removed is found by ``verify``.

Each session's end seals its event count and last hash into a chain of seals; an anchor
kept outside the store pins its newest sessions. The edits here are a determined editor's:
the append-only triggers are dropped first.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_journal_store import record_session

import tensctl
from tensctl.journal import anchor, chain, schema
from tensctl.journal.store import Store
from tensctl.journal.verify import verify


def record_estopped(db: Path) -> int:
    """A session ended by an emergency stop: its last events are the stop and its end."""
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        dev.session("brief-intense", patient="P-7", intensity=15, screened=True) as s,
    ):
        s.run_for(3)
        s.emergency_stop()
        assert s.record_id is not None
        return s.record_id


def tamper(db: Path, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Edit the file as someone who can: triggers dropped, foreign keys off."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement, params if "?" in statement else ())
    conn.close()


def cut_tail(db: Path, session_id: int, count: int, *, end_too: bool = True) -> None:
    """Remove a session's last ``count`` events (and, with ``end_too``, its end from the
    header, so the cut session looks like one whose process died)."""
    conn = sqlite3.connect(db)
    last = conn.execute("SELECT max(seq) FROM events WHERE session_id = ?", (session_id,))
    keep = last.fetchone()[0] - count
    conn.close()
    statements = [f"DELETE FROM events WHERE session_id = {session_id} AND seq > {keep}"]
    if end_too:
        statements.append(
            f"UPDATE sessions SET end_reason = NULL, ended_utc = NULL WHERE id = {session_id}"
        )
    tamper(db, *statements)


def remove_session(db: Path, session_id: int) -> None:
    tamper(
        db,
        f"DELETE FROM events WHERE session_id = {session_id}",
        f"DELETE FROM seals WHERE session_id = {session_id}",
        f"DELETE FROM sessions WHERE id = {session_id}",
    )


@pytest.fixture
def dead(monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes that recorded the sessions (this one) count as gone: the next open
    of the store marks their unfinished sessions interrupted, as after a crash."""
    monkeypatch.setattr("tensctl.journal.store.gone", lambda host, pid: True)
    monkeypatch.setattr("tensctl.journal.verify.gone", lambda host, pid: True)


def check(db: Path, anchors: tuple[anchor.Anchor, ...] = ()) -> Any:
    with Store(db, mark_interrupted=False, must_exist=True) as store:
        return verify(store, anchors) if anchors else verify(store)


def take_anchor(db: Path) -> anchor.Anchor:
    result = check(db)
    assert result.ok and result.head is not None
    return anchor.read(result.head.line(), "anchors.jsonl")[0]


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """A store of three sessions: completed, e-stopped, stopped by the user."""
    db = tmp_path / "s.sqlite3"
    assert record_session(db, seconds=3) == 1
    assert record_estopped(db) == 2
    assert record_session(db, seconds=3) == 3
    return db


def test_each_end_seals_the_session_into_a_chain_of_seals(three: Path) -> None:
    with Store(three) as store:
        seals = store.seals()
        counts = {h["id"]: len(store.events(h["id"])) for h in store.sessions()}
    assert [(s["seq"], s["session_id"]) for s in seals] == [(1, 1), (2, 2), (3, 3)]
    assert [s["events"] for s in seals] == [counts[1], counts[2], counts[3]]
    assert seals[0]["prev_hash"] == chain.GENESIS
    assert [s["prev_hash"] for s in seals[1:]] == [s["hash"] for s in seals[:-1]]
    result = check(three)
    assert result.ok and result.seals == 3
    assert result.status == {1: "ended", 2: "ended", 3: "ended"}
    assert result.head is not None and (result.head.sessions, result.head.seals) == (3, 3)


def test_the_last_events_of_a_sealed_session_cut_off_are_found(three: Path, dead: None) -> None:
    """Its emergency stop and end removed, and its end taken out of the header: the seal
    still says how long it was. Opening the store does not relabel it interrupted."""
    with Store(three) as store:
        kinds = [e["kind"] for e in store.events(2)]
    assert "stop" in kinds[-6:] and kinds[-1] == "closed"
    cut_tail(three, 2, 6)
    with Store(three) as store:  # an ordinary open: marks the sessions of dead processes
        assert store.session(2)["end_reason"] is None  # not relabelled interrupted
    result = check(three)
    assert not result.ok
    assert result.findings[0].session_id == 2
    assert any("truncated" in f.message and f.session_id == 2 for f in result.findings)
    assert result.status[2] == "tampered" and result.having("interrupted") == []
    assert result.status[1] == result.status[3] == "ended"


def test_a_cut_that_leaves_the_end_in_the_header_is_found_too(three: Path) -> None:
    cut_tail(three, 2, 2, end_too=False)
    result = check(three)
    assert not result.ok and {f.session_id for f in result.findings} == {2}
    assert any("truncated: sealed with" in f.message for f in result.findings)


def test_a_middle_session_cut_and_its_seal_removed_breaks_the_chain_of_seals(
    three: Path, dead: None
) -> None:
    """The cut session now looks interrupted, but the seal after it no longer follows: it
    is reported, not taken for interrupted, even once the store is opened again."""
    cut_tail(three, 2, 6)
    tamper(three, "DELETE FROM seals WHERE session_id = 2")
    result = check(three)
    assert not result.ok
    assert any(f.seal == 2 and "missing" in f.message for f in result.findings)
    assert result.status[2] == "tampered" and result.having("interrupted") == []
    with Store(three) as store:  # a seal is missing: nothing is marked interrupted
        assert store.session(2)["end_reason"] is None
    result = check(three)
    assert not result.ok and result.status[2] == "tampered"


def test_a_middle_session_removed_whole_is_found(three: Path) -> None:
    remove_session(three, 2)
    result = check(three)
    assert not result.ok
    assert result.findings[0].session_id == 2 and "missing" in result.findings[0].message
    assert any(f.seal == 2 and "missing" in f.message for f in result.findings)


def test_the_newest_session_removed_is_found_against_an_anchor(three: Path) -> None:
    pinned = take_anchor(three)
    remove_session(three, 3)
    assert check(three).ok  # what the store alone cannot show: a valid shorter chain
    result = check(three, (pinned,))
    assert not result.ok
    assert {f.session_id for f in result.findings} == {3}
    assert "sessions were removed" in result.findings[0].message
    assert result.anchors == [(pinned, False)]


def test_the_newest_session_cut_its_seal_removed_and_relabelled_is_found_by_the_anchor(
    three: Path, dead: None
) -> None:
    pinned = take_anchor(three)
    cut_tail(three, 3, 4)
    tamper(three, "DELETE FROM seals WHERE session_id = 3")
    result = check(three, (pinned,))
    assert not result.ok and result.status[3] == "tampered"
    assert any(f.session_id == 3 and "seal 3 is missing" in f.message for f in result.findings)
    with Store(three) as store:  # nothing in the store says it was sealed: marked interrupted
        assert store.session(3)["end_reason"] == "interrupted"
    result = check(three, (pinned,))
    assert not result.ok and result.status[3] == "tampered"
    assert any(f.session_id == 3 and "differs from anchor" in f.message for f in result.findings)


def test_an_anchor_still_holds_after_more_sessions(three: Path) -> None:
    pinned = take_anchor(three)
    record_session(three, seconds=2)
    result = check(three, (pinned,))
    assert result.ok and result.anchors == [(pinned, True)]


def test_an_honestly_interrupted_session_is_interrupted_not_tampered(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    record_session(db, seconds=2)
    code = (
        "import os, tensctl\n"
        f"dev = tensctl.connect('sim://', virtual=True, journal={str(db)!r})\n"
        "s = dev.session('brief-intense', intensity=15, screened=True)\n"
        "s.run_for(5)\n"
        "os._exit(9)\n"  # no close, no end record, no seal: as if killed
    )
    subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    result = check(db)  # before anyone marked it
    assert result.ok and result.status == {1: "ended", 2: "interrupted"}
    pinned = take_anchor(db)
    with Store(db) as store:  # the next open closes it as interrupted, and seals it
        assert store.session(2)["end_reason"] == "interrupted"
        assert [s["session_id"] for s in store.seals()] == [1, 2]
    record_session(db, seconds=2)
    result = check(db, (pinned,))
    assert result.ok and result.status == {1: "ended", 2: "interrupted", 3: "ended"}


def test_outcomes_added_after_the_end_are_sealed_too(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    record_session(db, seconds=2)
    with Store(db) as store:
        writer, _ = store.resume(1)
        writer.append("outcome", 1.0, {"when": "after", "pain_rest": 1})
        seals = store.seals()
    assert [s["session_id"] for s in seals] == [1, 1]
    assert seals[1]["events"] == seals[0]["events"] + 1
    assert check(db).ok
    cut_tail(db, 1, 1, end_too=False)  # the outcome added later, removed
    result = check(db)
    assert not result.ok and "truncated" in result.findings[0].message


def test_an_event_forged_onto_a_sealed_session_is_found(three: Path) -> None:
    with Store(three) as store:
        last = store.events(1, raw=True)[-1]
    row = {**last, "seq": last["seq"] + 1, "kind": "outcome", "data": '{"when":"after"}'}
    digest = chain.event_hash(last["hash"], row)  # chained properly: only the seal shows it
    tamper(
        three,
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params=(*(row[f] for f in chain.EVENT_FIELDS), last["hash"], digest),
    )
    result = check(three)
    assert [str(f) for f in result.findings] == [
        f"session 1 event {row['seq']}: written after the session was sealed (seal 1)"
    ]


def test_a_seal_changed_is_found(three: Path) -> None:
    tamper(three, "UPDATE seals SET events = events - 1 WHERE seq = 2")
    result = check(three)
    assert any(f.seal == 2 and "seal was changed" in f.message for f in result.findings)


def test_a_store_from_before_seals_is_migrated_and_its_ended_sessions_sealed(
    tmp_path: Path,
) -> None:
    """Version 1 had no seals: opening it seals every session that had ended."""
    db = tmp_path / "s.sqlite3"
    record_session(db, seconds=2)
    record_session(db, seconds=2)
    tamper(db, "DROP TABLE seals", "PRAGMA user_version = 1")  # as tensctl 1 left it
    with Store(db, mark_interrupted=False) as store:
        assert schema.version(store.conn) == len(schema.MIGRATIONS)
        assert [s["session_id"] for s in store.seals()] == [1, 2]
        assert "seals_no_delete" in {
            r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")
        }
    assert check(db).ok


def test_anchor_files_are_read_line_by_line_and_bad_lines_named(three: Path) -> None:
    line = take_anchor(three).line()
    data = json.loads(line)
    assert data["format"] == "tensctl-anchor/1" and data["sessions"] == 3
    two = anchor.read(f"# kept by the clinic\n{line}\n\n{line}\n", "a.jsonl")
    assert [a.source for a in two] == ["a.jsonl:2", "a.jsonl:4"]
    bad = json.dumps({**data, "seals": -1})
    with pytest.raises(Exception, match=r"a.jsonl:2: 'seals' must be a whole number") as caught:
        anchor.read(f"{line}\n{bad}\nnot json\n", "a.jsonl")
    assert "a.jsonl:3: not a tensctl-anchor/1 line" in str(caught.value)
    with pytest.raises(Exception, match="no tensctl-anchor/1 line"):
        anchor.read("\n", "a.jsonl")
