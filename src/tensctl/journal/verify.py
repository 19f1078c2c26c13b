"""``sessions verify``: recompute every hash and cross-check what is not hashed.

Checked, in order, per session: its header in the chain of headers (a missing id is a
removed session); its protocol text against its SHA-256; its event chain (sequence numbers
without gaps, each event's previous hash, its own hash); its end (``ended_utc``,
``end_reason``) against its ``closed`` event; and its seals — each seal's event count and
last hash must still be the session's, nothing may follow its last seal, and a session that
ended must have one. Then the chain of seals itself (a missing seal is a removed one), and
each anchor given (:mod:`tensctl.journal.anchor`): the store must still hold the anchor's
newest session and seal, unchanged.

Every session gets a status: ``ended``; ``interrupted`` (closed as interrupted, or open and
its process gone); ``open`` (its process still running); or ``tampered`` (a finding names
it). An interrupted or open session cannot show whether it was cut: when a seal is known
to be missing (or an anchor's seal differs), each of them is a finding too, never taken for
interrupted. All findings
are listed; the first is the first bad record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tensctl.journal import chain
from tensctl.journal.anchor import Anchor
from tensctl.journal.anchor import of as anchor_of
from tensctl.journal.processes import gone
from tensctl.journal.store import Row, Store

ENDED, INTERRUPTED, OPEN, TAMPERED = "ended", "interrupted", "open", "tampered"


@dataclass(frozen=True)
class Finding:
    session_id: int | None  # None: the chain of seals, not one session
    seq: int | None  # None: the session's header row (or, with ``seal``, that seal)
    message: str
    seal: int | None = None

    def __str__(self) -> str:
        if self.session_id is None:
            where = f"seal {self.seal}" if self.seal is not None else "store"
        else:
            where = f"session {self.session_id}"
            if self.seq is not None:
                where += f" event {self.seq}"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "event": self.seq,
            "seal": self.seal,
            "message": self.message,
        }


@dataclass(frozen=True)
class Verification:
    sessions: int
    events: int
    findings: list[Finding]
    seals: int = 0
    status: dict[int, str] = field(default_factory=dict)  # session id → one of the above
    anchors: list[tuple[Anchor, bool]] = field(default_factory=list)  # each checked: holds?
    head: Anchor | None = None  # the anchor of what was verified

    @property
    def ok(self) -> bool:
        return not self.findings

    def having(self, status: str) -> list[int]:
        return [sid for sid, s in self.status.items() if s == status]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sessions": self.sessions,
            "events": self.events,
            "seals": self.seals,
            "status": {str(sid): s for sid, s in self.status.items()},
            "findings": [f.to_json() for f in self.findings],
            "anchors": [
                {"source": a.source, "holds": holds, **a.to_json()} for a, holds in self.anchors
            ],
        }


def verify(store: Store, anchored: Sequence[Anchor] = ()) -> Verification:
    """Every chain, read in one snapshot (a session closing meanwhile is not a finding),
    and every anchor in ``anchored``."""
    with store.snapshot() as view:
        findings: list[Finding] = []
        status: dict[int, str] = {}
        seals = view.seals()
        by_session: dict[int, list[Row]] = {}
        for s in seals:
            by_session.setdefault(s["session_id"], []).append(s)
        prev, expected_id, events = chain.GENESIS, 1, 0
        headers = [view.session(summary["id"]) for summary in view.sessions()]
        for header in headers:
            found = _header(header, prev, expected_id)
            prev, expected_id = header["hash"], header["id"] + 1
            rows = view.events(header["id"], raw=True)
            events += len(rows)
            mine = by_session.get(header["id"], [])
            found += _events(header, rows) + _sealed(header, rows, mine)
            findings += found
            status[header["id"]] = _status(header, found)
    chained, held = _seal_chain(seals, {h["id"] for h in headers}), []
    for a in anchored:
        against = _anchor(a, headers, seals)
        chained += against
        held.append((a, not against))
    findings += chained
    if any(f.seal is not None for f in chained):  # a seal is gone or was replaced: a session
        for sid, said in status.items():  # that looks interrupted may be the one it sealed
            if said in (OPEN, INTERRUPTED):
                findings.append(
                    Finding(
                        sid,
                        None,
                        f"{said}, and a seal is missing from the store: it may have been this "
                        "session's (its record cut, not interrupted)",
                    )
                )
    for f in findings:
        if f.session_id in status:
            status[f.session_id] = TAMPERED
    return Verification(
        len(headers),
        events,
        findings,
        seals=len(seals),
        status=status,
        anchors=held,
        head=anchor_of(headers, seals),
    )


def verify_session(store: Store, session_id: int) -> list[Finding]:
    """One session's own record, as ``verify`` checks it: its header (and that it follows
    the session before it, where that one is still there), every event of its chain, its
    end and its seals — what a report of that session rests on. Sessions gone from the store
    and the chain of seals as a whole are ``verify``'s to find."""
    with store.snapshot() as view:
        header = view.session(session_id)
        before = view.conn.execute(
            "SELECT hash FROM sessions WHERE id = ?", (session_id - 1,)
        ).fetchone()
        prev = chain.GENESIS if session_id == 1 else before[0] if before else header["prev_hash"]
        rows = view.events(session_id, raw=True)
        mine = [s for s in view.seals() if s["session_id"] == session_id]
    return _header(header, prev, session_id) + _events(header, rows) + _sealed(header, rows, mine)


def _header(row: Row, prev: str, expected_id: int) -> list[Finding]:
    out = []
    if row["id"] != expected_id:
        missing = (
            f"session {expected_id} is"
            if row["id"] == expected_id + 1
            else f"sessions {expected_id}–{row['id'] - 1} are"
        )
        out.append(Finding(expected_id, None, f"missing: {missing} gone from the store"))
    if row["prev_hash"] != prev:
        out.append(Finding(row["id"], None, "header does not follow the previous session's"))
    if chain.header_hash(row["prev_hash"], row) != row["hash"]:
        out.append(Finding(row["id"], None, "header hash mismatch: the row was changed"))
    if chain.sha256(row["protocol_json"]) != row["protocol_sha256"]:
        out.append(Finding(row["id"], None, "protocol text does not match its SHA-256"))
    return out


def _events(header: Row, rows: list[Row]) -> list[Finding]:
    out, prev, closed = [], header["hash"], []
    for expected_seq, row in enumerate(rows, start=1):
        where = Finding(header["id"], row["seq"], "")
        if row["seq"] != expected_seq:
            out.append(_at(where, f"event {expected_seq} is missing (found {row['seq']})"))
        if row["prev_hash"] != prev:
            out.append(_at(where, "does not follow the previous event (removed or reordered)"))
        if chain.event_hash(row["prev_hash"], row) != row["hash"]:
            out.append(_at(where, "hash mismatch: the event was changed after it was written"))
        if row["kind"] == "closed":
            closed.append(row)
        prev = row["hash"]
    out += _end(header, closed)
    return out


def _end(header: Row, closed: list[Row]) -> list[Finding]:
    if len(closed) > 1:
        return [Finding(header["id"], closed[1]["seq"], "a second end record")]
    if not closed:
        if header["end_reason"] is not None or header["ended_utc"] is not None:
            return [Finding(header["id"], None, "an end with no end record in the chain")]
        return []
    try:
        data = json.loads(closed[0]["data"])
        recorded = (data["ended_utc"], data["reason"])
    except (ValueError, KeyError, TypeError):
        return [Finding(header["id"], closed[0]["seq"], "unreadable end record")]
    if (header["ended_utc"], header["end_reason"]) != recorded:
        return [Finding(header["id"], None, f"end {recorded} was changed in the header row")]
    return []


def _sealed(header: Row, rows: list[Row], seals: list[Row]) -> list[Finding]:
    """The session against its seals: each seal's count and last hash still hold (the first
    that does not is reported), nothing follows the last, and an ended session has one."""
    sid, out = header["id"], []
    hashes = {r["seq"]: r["hash"] for r in rows}
    last = rows[-1]["seq"] if rows else 0
    for s in seals:
        sealed = hashes.get(s["events"]) if s["events"] else header["hash"]
        if s["events"] > last:
            out.append(
                Finding(
                    sid,
                    None,
                    f"truncated: sealed with {s['events']} events (seal {s['seq']}), "
                    f"{last} found — its last events were removed",
                )
            )
            break
        if sealed != s["last_hash"]:
            out.append(
                Finding(
                    sid,
                    s["events"],
                    f"is not the event seal {s['seq']} sealed: the record was changed or cut",
                )
            )
            break
    if seals and last > seals[-1]["events"]:
        out.append(
            Finding(
                sid,
                seals[-1]["events"] + 1,
                f"written after the session was sealed (seal {seals[-1]['seq']})",
            )
        )
    ended = header["end_reason"] is not None or any(r["kind"] == "closed" for r in rows)
    if ended and not seals:
        out.append(Finding(sid, None, "ended but not sealed: its seal was removed"))
    if seals and header["end_reason"] is None:
        out.append(Finding(sid, None, "sealed, but its end is gone: the record was cut"))
    return out


def _status(header: Row, findings: list[Finding]) -> str:
    if findings:
        return TAMPERED
    if header["end_reason"] == INTERRUPTED:
        return INTERRUPTED
    if header["end_reason"] is not None:
        return ENDED
    return INTERRUPTED if gone(header["host"], header["pid"]) else OPEN


def _seal_chain(seals: list[Row], ids: set[int]) -> list[Finding]:
    out, prev, expected = [], chain.GENESIS, 1
    for s in seals:
        if s["seq"] != expected:
            missing = f"seal {expected}" if s["seq"] == expected + 1 else "seals"
            span = "" if s["seq"] == expected + 1 else f" {expected}–{s['seq'] - 1}"
            out.append(
                Finding(None, None, f"missing: {missing}{span} gone from the store", expected)
            )
        elif s["prev_hash"] != prev:
            out.append(Finding(None, None, "does not follow the previous seal", s["seq"]))
        if chain.seal_hash(s["prev_hash"], s) != s["hash"]:
            out.append(Finding(None, None, "hash mismatch: the seal was changed", s["seq"]))
        if s["session_id"] not in ids:
            out.append(
                Finding(
                    s["session_id"],
                    None,
                    f"sealed (seal {s['seq']}) but gone from the store: the session was removed",
                )
            )
        prev, expected = s["hash"], s["seq"] + 1
    return out


def _anchor(a: Anchor, headers: list[Row], seals: list[Row]) -> list[Finding]:
    """The store still holds the anchor's newest header and last seal, unchanged."""
    out = []
    if a.sessions:
        header = next((h for h in headers if h["id"] == a.sessions), None)
        newest = headers[-1]["id"] if headers else 0
        if header is None:
            out.append(
                Finding(
                    a.sessions,
                    None,
                    f"missing: {a.describe()} holds it, the store's newest session is {newest} "
                    "— sessions were removed",
                )
            )
        elif header["hash"] != a.session_hash:
            out.append(Finding(a.sessions, None, f"header differs from {a.describe()}"))
    if a.seals:
        seal = next((s for s in seals if s["seq"] == a.seals), None)
        if seal is None:
            out.append(
                Finding(
                    a.sealed_session,
                    None,
                    f"seal {a.seals} is missing: {a.describe()} holds it, the store has "
                    f"{len(seals)} seals — its record was cut or removed",
                    a.seals,
                )
            )
        elif seal["hash"] != a.seal_hash:
            out.append(
                Finding(
                    seal["session_id"],
                    None,
                    f"seal {a.seals} differs from {a.describe()}: the record was cut or "
                    "rewritten after it",
                    a.seals,
                )
            )
    return out


def _at(where: Finding, message: str) -> Finding:
    return Finding(where.session_id, where.seq, message)
