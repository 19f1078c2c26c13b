"""``sessions verify``: recompute every hash and cross-check what is not hashed.

Checked, in order: the sessions' header chain; each header's protocol text against its
SHA-256; each session's event chain (sequence numbers without gaps, each event's previous
hash, its own hash); and a session's end (``ended_utc``, ``end_reason``) against its
``closed`` event. The first failure names the record; all failures are listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tensctl.journal import chain
from tensctl.journal.store import Row, Store


@dataclass(frozen=True)
class Finding:
    session_id: int
    seq: int | None  # None: the session's header row
    message: str

    def __str__(self) -> str:
        where = f"session {self.session_id}"
        if self.seq is not None:
            where += f" event {self.seq}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Verification:
    sessions: int
    events: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(store: Store) -> Verification:
    """Every chain, read in one snapshot (a session closing meanwhile is not a finding)."""
    with store.snapshot() as view:
        findings: list[Finding] = []
        prev, events = chain.GENESIS, 0
        headers = view.sessions()
        for summary in headers:
            header = view.session(summary["id"])
            findings += _header(header, prev)
            prev = header["hash"]
            rows = view.events(header["id"], raw=True)
            events += len(rows)
            findings += _events(header, rows)
    return Verification(len(headers), events, findings)


def _header(row: Row, prev: str) -> list[Finding]:
    out = []
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


def _at(where: Finding, message: str) -> Finding:
    return Finding(where.session_id, where.seq, message)
