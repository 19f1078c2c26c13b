"""Exports of session records, and reading them back.

JSON: ``{"format": "tensctl-sessions/1", "sessions": [{"session": header, "protocol": …,
"events": […], "summary": …}]}`` — the header and events exactly as stored (hashes
included, so an export can be checked against the store), plus the protocol and a summary
(dose, outcomes) for convenience. CSV: one row per event, every session's events in order,
columns :data:`CSV_COLUMNS`, ``data`` as canonical JSON. Both read back to the stored rows
(:func:`read_json`, :func:`read_csv`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from tensctl.errors import InputError, Problem
from tensctl.journal.chain import canonical
from tensctl.journal.store import Row, Store
from tensctl.journal.summary import summarise

FORMAT = "tensctl-sessions/1"
CSV_COLUMNS = ("session_id", "seq", "time_utc", "elapsed_s", "kind", "data", "prev_hash", "hash")


def _records(store: Store, ids: Sequence[int]) -> list[tuple[Row, list[Row]]]:
    return [(store.session(i), store.events(i, raw=True)) for i in ids]


def to_json(store: Store, ids: Sequence[int]) -> str:
    sessions = []
    for header, events in _records(store, ids):
        parsed = [{**e, "data": json.loads(e["data"])} for e in events]
        sessions.append(
            {
                "session": {k: v for k, v in header.items() if k != "protocol_json"},
                "protocol": json.loads(header["protocol_json"]),
                "events": parsed,
                "summary": summarise(header, parsed),
            }
        )
    return json.dumps({"format": FORMAT, "sessions": sessions}, indent=1, ensure_ascii=False)


def to_csv(store: Store, ids: Sequence[int]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for _, events in _records(store, ids):
        for e in events:
            writer.writerow([repr(e[c]) if c == "elapsed_s" else e[c] for c in CSV_COLUMNS])
    return out.getvalue()


def read_json(text: str, source: str = "<export>") -> list[tuple[Row, list[Row]]]:
    """(header, events with ``data`` as stored text) per session."""
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} export (format {doc.get('format')!r})")
        out = []
        for item in doc["sessions"]:
            header = dict(item["session"])
            header["protocol_json"] = canonical(item["protocol"])
            events = [{**e, "data": canonical(e["data"])} for e in item["events"]]
            out.append((header, events))
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError([Problem(f"unreadable export: {exc}", source)]) from None


def read_csv(text: str, source: str = "<export>") -> list[Row]:
    """Every event row, typed as stored."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise InputError([Problem(f"expected columns {', '.join(CSV_COLUMNS)}", source, line=1)])
    rows: list[Row] = []
    for line, raw in enumerate(reader, start=2):
        try:
            row: dict[str, Any] = dict(raw)
            row["session_id"], row["seq"] = int(raw["session_id"]), int(raw["seq"])
            row["elapsed_s"] = float(raw["elapsed_s"])
            json.loads(raw["data"])
        except (ValueError, TypeError) as exc:
            raise InputError([Problem(f"bad event row: {exc}", source, line=line)]) from None
        rows.append(row)
    return rows
