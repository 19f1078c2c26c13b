"""Wall-clock stamps of the session records (UTC, ISO 8601, microseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
