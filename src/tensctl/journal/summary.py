"""What a therapist reads off a session record, and off a patient's sessions over time.

Pure functions of stored rows: outcomes before and after, the targets and ceilings the
session ran at, the titrated thresholds, faults, adjustments and the delivered dose; and,
across sessions, the intensity trend — the tolerance signal (the same relief needing more
current from day to day) — and the stimulated time a patient has had on one calendar day,
which the daily cap counts. Sessions on the simulator are kept apart from those on real
devices: they are in neither the trend nor the daily tally of the other kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tensctl.journal.dose import delivered_dose
from tensctl.model.protocol import Threshold

Row = Mapping[str, Any]
SIT_ORDER = tuple(t.value for t in Threshold)  # the record's JSON sorts its keys: N first
OUTCOME_KEYS = ("pain_rest", "pain_movement", "fatigue", "ppt_stimulated_kpa", "ppt_remote_kpa")


def in_sit_order(thresholds: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Each channel's thresholds in the order they are titrated: ST, SC1, N, SC2."""
    return {
        ch: {k: found[k] for k in (*SIT_ORDER, *sorted(set(found) - set(SIT_ORDER))) if k in found}
        for ch, found in thresholds.items()
    }


def outcomes(events: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """The last outcome set recorded before, and after, the session."""
    found: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["kind"] == "outcome":
            data = dict(e["data"])
            found[str(data.pop("when"))] = data
    return found


def notes(events: Sequence[Row]) -> list[dict[str, Any]]:
    """The therapist's notes on a session, in the order written: ``seq`` (the event),
    ``time_utc`` (when written), ``operator``, ``text``."""
    return [
        {
            "seq": e["seq"],
            "time_utc": e.get("time_utc"),
            "operator": e["data"].get("operator", ""),
            "text": e["data"].get("text", ""),
        }
        for e in events
        if e["kind"] == "note"
    ]


CORRECTED_KEYS = (*OUTCOME_KEYS, "adverse_events", "adverse_note")


def corrections(events: Sequence[Row]) -> list[dict[str, Any]]:
    """The amendments of recorded outcomes, in order: ``seq`` (the correcting event),
    ``amends`` (the event it corrects), ``when`` (before/after), ``time_utc``, ``operator``,
    ``reason`` and ``changes`` — each measure whose value changed, as ``{"measure",
    "from", "to"}``. The earlier event stays in the record; this only reads both."""
    by_seq = {e["seq"]: e for e in events}
    found = []
    for e in events:
        data = e["data"]
        if e["kind"] != "outcome" or "amends" not in data:
            continue
        earlier = by_seq.get(data["amends"])
        old = earlier["data"] if earlier is not None else {}
        changes = [
            {"measure": k, "from": old.get(k), "to": data.get(k)}
            for k in CORRECTED_KEYS
            if _blank(old.get(k)) != _blank(data.get(k))
        ]
        found.append(
            {
                "seq": e["seq"],
                "amends": data["amends"],
                "when": data.get("when", ""),
                "time_utc": e.get("time_utc"),
                "operator": data.get("operator", ""),
                "reason": data.get("reason", ""),
                "changes": changes,
            }
        )
    return found


def _blank(value: Any) -> Any:
    """An empty note or list is the same as none."""
    return None if value in (None, "", [], ()) else value


def duration_s(events: Sequence[Row]) -> float:
    return max((float(e["elapsed_s"]) for e in events), default=0.0)


RUNNING_STATES = frozenset({"ramping_up", "stimulating", "paused"})
"""The states in which a session's own time counts as stimulated time (a pause does not
move that time on, so it adds nothing)."""


def stimulated_s(events: Iterable[Row]) -> float:
    """The stimulated time of one session, from its record: its own time (``elapsed_s``,
    pauses excluded) from each start until its protocol ended or it was stopped — the time
    it spent ramping up and stimulating. The ramp down after an end or a stop (at most 3 s,
    from the levels then) is not counted, nor titration (before the session's time starts);
    a run after a reset is added to the one before; a record that was cut (the process
    died: ``interrupted``) counts up to its last recorded event."""
    total, since, last = 0.0, None, 0.0
    for e in events:
        elapsed = float(e["elapsed_s"])
        if e["kind"] == "state":
            running = e["data"].get("state") in RUNNING_STATES
            if since is None and running:
                since, last = elapsed, elapsed
            elif since is not None and not running:
                total += max(0.0, elapsed - since)
                since = None
        if since is not None:
            last = max(last, elapsed)
    if since is not None:  # no end recorded: what was recorded counts
        total += max(0.0, last - since)
    return total


def local_day_utc(day: date) -> tuple[str, str]:
    """The local calendar day ``day`` (this computer's time zone, daylight saving included)
    as the UTC stamps of its first instant and of the next day's: ``[since, until)``."""
    first = datetime.combine(day, time()).astimezone()
    after = datetime.combine(day + timedelta(days=1), time()).astimezone()
    return (
        first.astimezone(UTC).isoformat(timespec="microseconds"),
        after.astimezone(UTC).isoformat(timespec="microseconds"),
    )


def stimulated_on_day_s(records: Iterable[Row], simulated: bool) -> float:
    """What the daily cap counts: the stimulated time of the sessions in ``records`` (each
    with ``simulated`` and its ``events``) on the simulator (``simulated``) or on real
    devices, each to the nearest second (a tick's lateness at the end is not a second of
    stimulation)."""
    return float(
        sum(round(stimulated_s(r["events"])) for r in records if bool(r["simulated"]) == simulated)
    )


END_REASON_WORDS = {
    "completed": "completed",
    "stopped_by_user": "stopped by the operator",
    "emergency_stop": "emergency stop",
    "interrupted": "interrupted: the program stopped before the session was closed",
    "open": "still open",
}
FAULT_RULE_WORDS = {
    "open_circuit": "an electrode came off or lost contact (open circuit)",
    "over_current": "current above the allowed limit",
    "compliance": "the device could not drive the current through the skin (compliance)",
    "mismatch": "the device delivered other settings than those sent",
    "peel": "an electrode peeling off (impedance rising)",
    "host_watchdog": "the controlling computer fell behind (watchdog)",
    "record": "the session record could not be written",
    "link_lost": "the connection to the device was lost",
    "device_session": "the device restarted or was taken over by another computer",
    "device": "the device refused a command",
    "engine": "the program asked for settings no device takes",
    "exception": "an unexpected error in the program",
    "device_fault": "the device reported a fault",
    "device_boot": "the device restarted",
    "device_link_lost": "the device lost its connection to this computer",
    "device_low_battery": "the device's battery is low",
}
"""Fault rules as a person reads them; a rule not listed is shown with its underscores as
spaces."""

DEVICE_CONDITION_WORDS = {
    "open_circuit": "an electrode came off or lost contact (open circuit)",
    "electrode": "an electrode came off or lost contact",
    "over_current": "current above the allowed limit",
    "compliance": "it could not drive the current through the skin (compliance)",
    "peel": "an electrode peeling off (impedance rising)",
    "short": "a short circuit between the electrodes",
    "mismatch": "it delivered other settings than those sent",
    "watchdog": "this computer went silent (its watchdog)",
    "link": "it lost its connection to this computer",
    "low_battery": "its battery is low",
    "reboot": "it restarted",
    "boot": "it restarted",
    "emergency_stop": "its own emergency stop",
    "emergency_switch": "its emergency switch",
    "locked": "it is locked",
    "pulse_timeout": "a pulse did not end in time",
    "low_current": "the current stayed below what was set (poor contact)",
    "module": "an output module failed",
}
"""What a device reports of itself (its fault flags, as the drivers name them) in words."""

_DEVICE_REPORTED = re.compile(r"(channel \d+|device) reported (.+)")


def device_reported(data: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """A fault the device reported: where (``channel 1`` or ``device``) and what, as the
    driver named it (``open_circuit``); ``None`` for a fault the host found."""
    rule, message = str(data.get("rule", "")), str(data.get("message", ""))
    found = _DEVICE_REPORTED.fullmatch(message) if rule.startswith("device") else None
    if found is None:
        return None
    return found.group(1), [c.strip() for c in found.group(2).split(",") if c.strip()]


def fault_words(data: Mapping[str, Any]) -> str:
    """A ``fault`` event (``rule``, ``message``) in a person's words. A fault the device
    reported (``channel 1 reported open_circuit``) is said by what the device found
    ("channel 1: an electrode came off or lost contact (open circuit), as the device
    reported"); any other by its rule, with the message the program wrote."""
    rule, message = str(data.get("rule", "")), str(data.get("message", ""))
    reported = device_reported(data)
    if reported:
        where, codes = reported
        said = "; ".join(DEVICE_CONDITION_WORDS.get(c, c.replace("_", " ")) for c in codes)
        return f"{where}: {said}, as the device reported"
    words = FAULT_RULE_WORDS.get(rule, rule.replace("_", " "))
    return f"{words}; {message}" if message and message != words else words


FAULT_LABELS = {
    "open_circuit": "electrode off",
    "peel": "electrode peeling",
    "compliance": "poor electrode contact",
    "over_current": "over current",
    "mismatch": "output not as commanded",
    "host_watchdog": "controller too slow",
    "record": "record could not be written",
    "link_lost": "device link lost",
    "device_session": "device restarted",
    "device": "device error",
    "device_fault": "device fault",
}
"""Fault rules and device flags in a few words, for a label or a table cell."""


def fault_label(data: Mapping[str, Any]) -> str:
    """A fault event in a few words, for a label: what the device found where it reported
    it (``electrode off``), else the rule."""
    reported = device_reported(data)
    rule = reported[1][0] if reported and reported[1] else str(data.get("rule", ""))
    return FAULT_LABELS.get(rule, rule.replace("_", " "))


SHORT_ENDS = {
    "completed": "completed",
    "stopped_by_user": "stopped",
    "emergency_stop": "emergency stop",
    "interrupted": "interrupted",
}


def short_end_words(code: str | None, events: Iterable[Row] = ()) -> str:
    """How a session ended in a word or two, for a table (``show`` says it in full): a
    fault by what was found (from its fault event, where ``events`` are given)."""
    if not code:
        return "not ended"
    kind, _, detail = code.partition(":")
    if kind == "fault":
        faults = [e["data"] for e in events if e["kind"] == "fault"]
        found = next((f for f in faults if f.get("rule") == detail), {"rule": detail})
        return f"fault: {fault_label(found)}"
    if kind in ("refused", "controller_lost"):
        return kind.replace("_", " ")
    return SHORT_ENDS.get(code) or end_reason_words(code)


def session_end_words(code: str | None, events: Iterable[Row]) -> str:
    """How a session ended, in words, with what its fault event says where the end reason
    alone says little ("fault: channel 1: an electrode came off …, as the device reported",
    not "fault: the device reported a fault")."""
    kind, _, rule = (code or "").partition(":")
    if kind == "fault":
        for e in events:
            if e["kind"] == "fault" and e["data"].get("rule") == rule:
                return f"fault: {fault_words(e['data'])}"
    return end_reason_words(code)


def end_reason_words(code: str | None) -> str:
    """How a session ended, in words: ``completed`` → "completed", ``stopped_by_user`` →
    "stopped by the operator", ``fault:open_circuit`` → "fault: an electrode came off or
    lost contact (open circuit)", ``None`` (not closed) → "still open". A reason the
    program wrote in words already (``refused: …``) is kept as it is."""
    if not code:
        return END_REASON_WORDS["open"]
    if code in END_REASON_WORDS:
        return END_REASON_WORDS[code]
    kind, _, detail = code.partition(":")
    if kind == "fault" and detail:
        return f"fault: {FAULT_RULE_WORDS.get(detail, detail.replace('_', ' '))}"
    if kind == "controller_lost":
        source = f" ({detail})" if detail else ""
        return f"the controlling program was lost{source}; output ramped down"
    if kind == "refused":
        return f"refused before stimulating:{detail}" if detail else "refused before stimulating"
    return code.replace("_", " ") if " " not in code else code


def summarise(header: Row, events: Sequence[Row]) -> dict[str, Any]:
    """One session, as ``sessions show`` prints it and ``patients show`` tabulates it."""
    checked = [e["data"] for e in events if e["kind"] == "checked"]
    plan = checked[-1] if checked else {}
    return {
        "id": header["id"],
        "patient": header["patient_id"],
        "protocol": header["protocol_id"],
        "started_utc": header["started_utc"],
        "ended_utc": header["ended_utc"],
        "end_reason": header["end_reason"] or "open",
        "simulated": bool(header["simulated"]),
        "duration_s": round(duration_s(events), 1),
        "stimulated_s": round(stimulated_s(events), 1),
        "targets_ma": plan.get("targets_ma", {}),
        "ceilings_ma": plan.get("ceilings_ma", {}),
        "thresholds_ma": in_sit_order(plan.get("thresholds_ma", {})),
        "adjustments": [e["data"] for e in events if e["kind"] == "adjust"],
        "faults": [e["data"] for e in events if e["kind"] == "fault"],
        "outcomes": outcomes(events),
        "notes": notes(events),
        "corrections": corrections(events),
        "dose": [d.as_dict() for d in delivered_dose(events)],
    }


def mean_intensity_ma(summary: Mapping[str, Any]) -> float | None:
    """The session's delivered intensity: stimulated-time mean over its channels."""
    doses = [d for d in summary["dose"] if d["stimulated_min"] > 0]
    if not doses:
        return None
    weight = sum(d["stimulated_min"] for d in doses)
    return float(sum(d["mean_ma"] * d["stimulated_min"] for d in doses) / weight)


TREND_MIN_SESSIONS = 3
TREND_MIN_DAYS = 7.0


def intensity_trend_ma_per_week(summaries: Sequence[Mapping[str, Any]]) -> float | None:
    """Least-squares slope of delivered intensity over calendar time, mA per week, over the
    stimulated sessions on real devices; ``None`` with fewer than
    :data:`TREND_MIN_SESSIONS` of them or spanning less than :data:`TREND_MIN_DAYS` (a
    slope over hours says nothing about tolerance)."""
    points = []
    for s in summaries:
        level = mean_intensity_ma(s)
        if level is not None and not s.get("simulated", False):
            day = datetime.fromisoformat(s["started_utc"]).timestamp() / 86400
            points.append((day, level))
    days = [x for x, _ in points]
    if len(points) < TREND_MIN_SESSIONS or max(days) - min(days) < TREND_MIN_DAYS:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    slope_per_day = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return round(slope_per_day * 7, 3)


def last_titration(
    summaries: Sequence[Mapping[str, Any]], simulated: bool = False
) -> Mapping[str, Any] | None:
    """The latest session with titrated thresholds, on real devices (or on the simulator)."""
    found = [s for s in summaries if s["thresholds_ma"] and bool(s.get("simulated")) == simulated]
    return found[-1] if found else None


def pain_change(summary: Mapping[str, Any], key: str = "pain_rest") -> float | None:
    """After minus before (negative: relief)."""
    found = summary["outcomes"]
    before, after = found.get("before", {}).get(key), found.get("after", {}).get(key)
    if before is None or after is None:
        return None
    return float(after) - float(before)


def before_after(summary: Mapping[str, Any], key: str) -> str:
    """A rating before → after the session as a person reads it (``6 → 3``; ``—`` for one
    not given, and alone when neither was)."""
    found = summary["outcomes"]
    before, after = found.get("before", {}).get(key), found.get("after", {}).get(key)
    if before is None and after is None:
        return "—"

    def said(value: Any) -> str:
        return "—" if value is None else f"{float(value):g}"

    return f"{said(before)} → {said(after)}"
