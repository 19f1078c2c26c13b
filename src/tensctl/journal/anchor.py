"""Anchors: what the clinic keeps outside the store, so that removing its newest records
shows.

The chains in the store expose an edit, a cut session and a removed session in the middle;
removing the newest sessions whole (headers, events and seals) leaves valid shorter chains.
An anchor pins them: one JSON line, written by ``tensctl sessions anchor`` and kept where
whoever can edit the store cannot (another machine, a printout, a signed mail)::

    {"created_utc": "…", "format": "tensctl-anchor/1", "seal_hash": "…", "sealed_session": 3,
     "seals": 4, "session_hash": "…", "sessions": 3}

``sessions``: how many sessions the store held (ids run 1…sessions), ``session_hash`` the
hash of the newest one's header; ``seals``: the length of the chain of seals,
``seal_hash`` the hash of its last seal, ``sealed_session`` the session that seal closed.
``sessions verify --anchor FILE`` checks that the store still holds that header and that
seal; the chains then cover everything before them. An anchor file may hold many lines
(``tensctl sessions anchor >> anchors.jsonl`` each day): every one must hold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tensctl.errors import InputError, Problem
from tensctl.journal import chain
from tensctl.journal.clock import utc_now

FORMAT = "tensctl-anchor/1"
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Anchor:
    created_utc: str
    sessions: int
    session_hash: str
    seals: int
    seal_hash: str
    sealed_session: int | None
    source: str = ""  # where it was read, FILE:LINE (not part of the anchor)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_utc": self.created_utc,
            "sessions": self.sessions,
            "session_hash": self.session_hash,
            "seals": self.seals,
            "seal_hash": self.seal_hash,
            "sealed_session": self.sealed_session,
        }

    def line(self) -> str:
        """The anchor as kept: one line of canonical JSON."""
        return chain.canonical(self.to_json())

    def describe(self) -> str:
        where = f"{self.source} " if self.source else ""
        return f"anchor {where}of {self.created_utc} ({self.sessions} sessions, {self.seals} seals)"


def of(headers: Sequence[dict[str, Any]], seals: Sequence[dict[str, Any]]) -> Anchor:
    """The anchor of a store's headers and seals (both in order)."""
    return Anchor(
        created_utc=utc_now(),
        sessions=headers[-1]["id"] if headers else 0,
        session_hash=headers[-1]["hash"] if headers else chain.GENESIS,
        seals=seals[-1]["seq"] if seals else 0,
        seal_hash=seals[-1]["hash"] if seals else chain.GENESIS,
        sealed_session=seals[-1]["session_id"] if seals else None,
    )


def read(text: str, source: str) -> list[Anchor]:
    """Every anchor in ``text`` (one per line; blank lines and ``#`` comments skipped)."""
    anchors, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            anchors.append(_parse(raw, f"{source}:{number}"))
        except ValueError as exc:
            problems.append(Problem(str(exc), source, line=number))
    if not anchors and not problems:
        problems.append(Problem(f"no {FORMAT} line in it", source))
    if problems:
        raise InputError(problems)
    return anchors


def _parse(raw: str, where: str) -> Anchor:
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError(f"not a {FORMAT} line: not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} line")
    for key in ("sessions", "seals"):
        if type(data.get(key)) is not int or data[key] < 0:
            raise ValueError(f"'{key}' must be a whole number ≥ 0, found {data.get(key)!r}")
    for key in ("session_hash", "seal_hash"):
        if not isinstance(data.get(key), str) or not _HASH.fullmatch(data[key]):
            raise ValueError(f"'{key}' must be 64 hex digits, found {data.get(key)!r}")
    sealed = data.get("sealed_session")
    if sealed is not None and (type(sealed) is not int or sealed < 1):
        raise ValueError(f"'sealed_session' must be a session id or null, found {sealed!r}")
    if not isinstance(data.get("created_utc"), str):
        raise ValueError("'created_utc' is missing")
    return Anchor(
        data["created_utc"],
        data["sessions"],
        data["session_hash"],
        data["seals"],
        data["seal_hash"],
        sealed,
        where,
    )
