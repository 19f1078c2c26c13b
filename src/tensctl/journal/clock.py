"""Wall-clock stamps of the session records, and how a person reads them.

Records store UTC, ISO 8601 with microseconds (:func:`utc_now`); JSON output keeps that.
Wherever a person reads a time — tables, reports, the last line of a run — it is shown in
the machine's local time zone (``TZ`` honoured) to the minute, with the zone named
(:func:`local_text`).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def local_time(stamp: str) -> datetime | None:
    """A stored stamp as an aware datetime in the local zone (a stamp without a zone is
    UTC, as every stored stamp is); None when ``stamp`` is not a time."""
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone()


def zone_name(when: datetime) -> str:
    """The zone's abbreviation (``CET``, ``UTC``), or its offset where it has none."""
    name = when.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = when.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def local_text(stamp: str | None, *, seconds: bool = False, date_only: bool = False) -> str:
    """``2026-12-03 19:40 CET`` for a stored stamp; ``—`` for none; the text itself where
    it is not a time."""
    if stamp is None or stamp == "":
        return "—"
    when = local_time(stamp)
    if when is None:
        return str(stamp)
    if date_only:
        return when.strftime("%Y-%m-%d")
    return (
        f"{when.strftime('%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M')} {zone_name(when)}"
    )
