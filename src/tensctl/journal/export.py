"""Exports of session records, and reading them back.

JSON: ``{"format": "tensctl-sessions/1", "sessions": [{"session": header, "protocol": …,
"events": […], "summary": …}]}`` — the header and events exactly as stored (hashes
included, so an export can be checked against the store), plus the protocol and a summary
(dose, outcomes) for convenience. CSV: one row per event, every session's events in order,
columns :data:`CSV_COLUMNS`, ``data`` as canonical JSON. Both read back to the stored rows
(:func:`read_json`, :func:`read_csv`).

Per session (for a study): one row per session, flat columns (:func:`session_columns`,
documented in docs/session-records.md) — who, which protocol, when (UTC, and the local
date), how long and how it ended, the thresholds, targets and delivered dose per channel,
outcomes before and after with their change, adverse events, notes and corrections. CSV
(:func:`to_session_csv`) or JSON (:func:`to_session_json`, the same names with typed values).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tensctl.errors import InputError, Problem
from tensctl.journal.chain import canonical
from tensctl.journal.clock import local_text
from tensctl.journal.store import Row, Store
from tensctl.journal.summary import OUTCOME_KEYS, SIT_ORDER, summarise

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


# ---- one row per session -------------------------------------------------------------------

SESSION_FORMAT = "tensctl-session-table/1"
LEAD_COLUMNS = (
    "session_id",
    "patient",
    "protocol_id",
    "protocol_name",
    "protocol_sha256",
    "started_utc",
    "ended_utc",
    "local_date",
    "duration_s",
    "stimulated_s",
    "end_reason",
    "operator",
    "device_model",
    "device_serial",
    "simulated",
)
CHANNEL_FIELDS = (
    *(f"{t.lower()}_ma" for t in SIT_ORDER),  # st_ma, sc1_ma, n_ma, sc2_ma
    "target_ma",
    "ceiling_ma",
    "stimulated_s",
    "mean_ma",
    "peak_ma",
    "charge_uc",
    "at_target_s",
)
OUTCOME_COLUMNS = tuple(
    f"{k}_{when}" for k in OUTCOME_KEYS for when in ("before", "after", "change")
)
TAIL_COLUMNS = (
    "adverse_events",
    "adverse_note",
    "notes_count",
    "notes",
    "amended",
    "corrections",
)
MIN_CHANNELS = 2
"""Every per-session table has the columns of channels 1 and 2; a session on more channels
adds ``ch3_…`` and so on (after ``ch2_…``) to the whole table."""


def session_columns(channels: int = MIN_CHANNELS) -> tuple[str, ...]:
    """The per-session table's columns, in order, for sessions on up to ``channels``."""
    per_channel = tuple(
        f"ch{ch}_{field}"
        for ch in range(1, max(MIN_CHANNELS, channels) + 1)
        for field in CHANNEL_FIELDS
    )
    return (*LEAD_COLUMNS, *per_channel, *OUTCOME_COLUMNS, *TAIL_COLUMNS)


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _change(before: Any, after: Any) -> float | None:
    if before is None or after is None:
        return None
    return round(float(after) - float(before), 3)


def _correction_text(c: Mapping[str, Any]) -> str:
    changed = ", ".join(
        f"{x['measure']} {_said(x['from'])} -> {_said(x['to'])}" for x in c["changes"]
    )
    return (
        f"outcomes {c['when']} (event {c['seq']} amends {c['amends']}): "
        f"{changed or 'no value changed'}; reason: {c['reason']}; by {c['operator']} "
        f"at {c['time_utc']}"
    )


def _said(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if isinstance(value, list | tuple):
        return "+".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def session_row(header: Row, events: Sequence[Row]) -> dict[str, Any]:
    """One session as a row of typed values (``None`` where nothing was recorded); lists
    for adverse events, notes and corrections (the CSV joins them)."""
    s = summarise(header, events)
    row: dict[str, Any] = {
        "session_id": header["id"],
        "patient": header["patient_id"],
        "protocol_id": header["protocol_id"],
        "protocol_name": header["protocol_name"],
        "protocol_sha256": header["protocol_sha256"],
        "started_utc": header["started_utc"],
        "ended_utc": header["ended_utc"],
        "local_date": local_text(header["started_utc"], date_only=True),
        "duration_s": s["duration_s"],
        "stimulated_s": s["stimulated_s"],
        "end_reason": header["end_reason"],
        "operator": header["operator"],
        "device_model": header["device_model"],
        "device_serial": header["device_serial"],
        "simulated": bool(header["simulated"]),
    }
    doses = {int(d["channel"]): d for d in s["dose"]}
    used = {int(c) for c in (*s["targets_ma"], *s["thresholds_ma"], *s["ceilings_ma"])}
    for ch in range(1, max(MIN_CHANNELS, *used, *doses, 0) + 1):
        marks = s["thresholds_ma"].get(str(ch), {})
        for t in SIT_ORDER:
            row[f"ch{ch}_{t.lower()}_ma"] = _round(marks.get(t), 3)
        row[f"ch{ch}_target_ma"] = _round(s["targets_ma"].get(str(ch)), 3)
        row[f"ch{ch}_ceiling_ma"] = _round(s["ceilings_ma"].get(str(ch)), 3)
        d = doses.get(ch)
        row[f"ch{ch}_stimulated_s"] = _round(d["stimulated_min"] * 60, 1) if d else None
        row[f"ch{ch}_mean_ma"] = _round(d["mean_ma"], 3) if d else None
        row[f"ch{ch}_peak_ma"] = _round(d["peak_ma"], 3) if d else None
        row[f"ch{ch}_charge_uc"] = _round(d["charge_uc"], 1) if d else None
        row[f"ch{ch}_at_target_s"] = _round(d["at_target_min"] * 60, 1) if d else None
    before, after = s["outcomes"].get("before", {}), s["outcomes"].get("after", {})
    for k in OUTCOME_KEYS:
        row[f"{k}_before"], row[f"{k}_after"] = before.get(k), after.get(k)
        row[f"{k}_change"] = _change(before.get(k), after.get(k))
    adverse = [*before.get("adverse_events", ()), *after.get("adverse_events", ())]
    row["adverse_events"] = list(dict.fromkeys(adverse))  # each once, as recorded
    row["adverse_note"] = " | ".join(
        n for n in (before.get("adverse_note"), after.get("adverse_note")) if n
    )
    row["notes_count"] = len(s["notes"])
    row["notes"] = [
        {k: n[k] for k in ("time_utc", "operator", "text") if k in n} for n in s["notes"]
    ]
    row["amended"] = bool(s["corrections"])
    row["corrections"] = s["corrections"]
    return row


def session_rows(store: Store, ids: Sequence[int]) -> list[dict[str, Any]]:
    return [session_row(store.session(i), store.events(i)) for i in ids]


def _columns_of(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    channels = max(
        (int(k[2:].split("_", 1)[0]) for r in rows for k in r if k.startswith("ch")),
        default=MIN_CHANNELS,
    )
    return session_columns(channels)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if column == "adverse_events":
        return "+".join(value)
    if column == "notes":
        return " | ".join(f"{n['text']} ({n.get('operator') or '?'})" for n in value)
    if column == "corrections":
        return " | ".join(_correction_text(c) for c in value)
    return str(value)


def to_session_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The per-session table as CSV: a header line, then a row per session; an empty cell
    where nothing was recorded; ``true``/``false``; lists joined (``+`` between adverse
    events, `` | `` between notes and between corrections)."""
    columns = _columns_of(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(c, r.get(c)) for c in columns])
    return out.getvalue()


def to_session_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """The per-session table as JSON: ``{"format", "columns", "sessions": [row, …]}``,
    each row every column with its typed value (``null`` where nothing was recorded)."""
    columns = _columns_of(rows)
    sessions = [{c: r.get(c) for c in columns} for r in rows]
    doc = {"format": SESSION_FORMAT, "columns": list(columns), "sessions": sessions}
    return json.dumps(doc, indent=1, ensure_ascii=False)
