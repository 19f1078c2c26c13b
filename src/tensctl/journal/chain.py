"""Hash chains over the session records, so that any edit is detectable.

Three chains: sessions are chained by their headers (each header's hash covers the previous
session's hash, so removing or editing a session breaks the chain); each session's events
are chained from its header's hash; and seals are chained to each other. A session's end
(and each outcome added after it) writes a seal — its event count and last event's hash —
so cutting a session's last events no longer leaves a valid shorter chain, and removing a
session's seal breaks the chain of seals. What the store cannot show by itself is that its
newest records were removed whole: an anchor kept elsewhere (:mod:`tensctl.journal.anchor`)
pins them. A hash is SHA-256 over the previous hash and the record's canonical JSON — the
stored text itself, so verifying never re-serialises numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64

HEADER_FIELDS = (
    "id",
    "patient_id",
    "protocol_id",
    "protocol_name",
    "protocol_sha256",
    "device_url",
    "device_model",
    "device_serial",
    "firmware",
    "simulated",
    "operator",
    "host",
    "pid",
    "started_utc",
)
EVENT_FIELDS = ("session_id", "seq", "time_utc", "elapsed_s", "kind", "data")
SEAL_FIELDS = ("seq", "session_id", "events", "last_hash", "sealed_utc")


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, mappings get string keys, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(getattr(value, "value", value))  # enums by value, anything else as text


def canonical(value: Any) -> str:
    """The one JSON text of ``value``: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        _clean(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link(prev_hash: str, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The hash of ``record`` (its ``fields``, in order) chained to ``prev_hash``."""
    return sha256(prev_hash + "\n" + canonical([record[f] for f in fields]))


def header_hash(prev_hash: str, header: Mapping[str, Any]) -> str:
    return link(prev_hash, header, HEADER_FIELDS)


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    return link(prev_hash, event, EVENT_FIELDS)


def seal_hash(prev_hash: str, seal: Mapping[str, Any]) -> str:
    return link(prev_hash, seal, SEAL_FIELDS)
