"""A stored session as a report a clinician reads: a self-contained HTML page, an A4 PDF,
or the amplitude plot alone (PNG, SVG).

The report is built as a :class:`~tensctl.journal.document.Document`, clinical first: who,
what and when (patient, protocol and its sources, local date and time, duration, how it
ended in words, operator, device — SIMULATED in a banner where it was); the titration
(ST, SC1, N, SC2, target and ceiling per channel); the delivered dose per channel; the
outcomes before and after, with the change and whether pain fell by a responder's 30 %,
amendments with who, when and why; adverse events and the therapist's notes; faults and
interruptions in words with their times; the plot (:mod:`tensctl.journal.session_plot`);
and last the technical record (hashes, process, host), labelled in words. Times are read in
local time with the zone named. It needs matplotlib (and fpdf2 for the PDF): the ``plot``
extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tensctl.errors import InputError, Problem, UsageError
from tensctl.journal.chain import GENESIS
from tensctl.journal.clock import local_text, local_time, zone_name
from tensctl.journal.document import (
    Document,
    Fields,
    Figure,
    Heading,
    Paragraph,
    Table,
    figure_svg,
    write_document,
)
from tensctl.journal.dose import ChannelDose, delivered_dose, measured
from tensctl.journal.session_plot import DPI, session_figure
from tensctl.journal.summary import (
    SIT_ORDER,
    duration_s,
    end_reason_words,
    fault_label,
    fault_words,
    session_end_words,
    stimulated_s,
)

Event = Mapping[str, Any]
SUFFIXES = (".html", ".pdf", ".png", ".svg")
RESPONDER_FRACTION = 0.30  # a fall in pain of 30 % or more: a responder (IMMPACT)
OUTCOMES = (
    ("pain_rest", "pain at rest (0–10)"),
    ("pain_movement", "pain on movement (0–10)"),
    ("fatigue", "fatigue (0–10)"),
    ("ppt_stimulated_kpa", "pressure pain threshold, stimulated site (kPa)"),
    ("ppt_remote_kpa", "pressure pain threshold, remote site (kPa)"),
)
PAIN = (("pain_rest", "pain at rest"), ("pain_movement", "pain on movement"))
ADVERSE_WORDS = {"skin_irritation": "skin irritation", "burn": "burn", "other": "other"}
DOSE_COLUMNS = (
    "channel",
    "output on (min)",
    "mean (mA)",
    "peak (mA)",
    "at target (min)",
    "charge (mC)",
    "pulses",
)
END_WORDS = {
    "completed": "completed: the protocol ran to its end",
    "stopped_by_user": "stopped by the operator (ramped down to 0)",
    "emergency_stop": "emergency stop (every output to 0 at once)",
    "interrupted": "interrupted: the controlling program died; the record ends at its last event",
}


def render_report(
    header: Mapping[str, Any],
    events: Sequence[Event],
    path: Path,
    store_version: int | None = None,
    failed_checks: Sequence[str] = (),
) -> Path:
    """Write the report of one session (its store header and parsed events) to ``path``;
    the format follows the suffix: .html or .pdf (the whole report), .png or .svg (the
    plot alone). ``store_version``: the store's schema version, for the technical record;
    ``failed_checks``: what verifying this session's record found (each in words) — the
    report then says at its top that the record fails verification. Returns ``path``."""
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in SUFFIXES:
        allowed = ", ".join(SUFFIXES)
        raise UsageError(f"{path}: cannot write a report as '{path.suffix}'; use {allowed}")
    figure = session_figure(header, events)
    try:
        if kind in (".html", ".pdf"):
            return write_document(
                build_document(header, events, figure, store_version, failed_checks), path
            )
        try:
            if kind == ".png":
                figure.savefig(path, format="png", dpi=DPI)
            else:
                path.write_text(
                    '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + figure_svg(figure),
                    encoding="utf-8",
                )
        except OSError as exc:
            raise InputError([Problem(f"cannot write: {exc.strerror}", str(path))]) from None
        return path
    finally:
        figure.clear()


# ---- words --------------------------------------------------------------------------------


def _num(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{float(value):g}"
    return str(value)


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _clock(seconds: float) -> str:
    """Session time as m:ss (h:mm:ss from an hour)."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _time_of_day(stamp: Any) -> str:
    when = local_time(str(stamp)) if stamp else None
    return f"{when.strftime('%H:%M:%S')} {zone_name(when)}" if when is not None else "—"


def end_words(header: Mapping[str, Any], events: Sequence[Event]) -> str:
    """How a session ended, in words (a fault by what its fault event says)."""
    reason = header.get("end_reason")
    if not reason:
        return "not ended (still running, or its end not recorded)"
    if reason in END_WORDS:
        return END_WORDS[reason]
    if reason.startswith("fault:"):
        return f"{session_end_words(reason, events)} — every output was taken to 0"
    if reason.startswith("refused:"):
        return f"refused before any stimulation: {reason.removeprefix('refused:').strip()}"
    return str(end_reason_words(reason))


def short_end_words(reason: str | None, events: Sequence[Event] = ()) -> str:
    """How a session ended, in a few words (the subtitle)."""
    if not reason:
        return "not ended"
    if reason.startswith("fault:"):
        rule = reason.removeprefix("fault:")
        faults = [e["data"] for e in events if e["kind"] == "fault"]
        return f"fault: {fault_label(next(iter(faults), {'rule': rule}))}"
    if reason.startswith("refused:"):
        return "refused before any stimulation"
    short = {
        "completed": "completed",
        "stopped_by_user": "stopped by the operator",
        "emergency_stop": "emergency stop",
    }
    return short.get(reason, reason.replace("_", " "))


def _when(event: Event) -> str:
    """Where an event happened: session time, and the local time of day."""
    return f"{_clock(float(event['elapsed_s']))} ({_time_of_day(event.get('time_utc'))})"


# ---- the document -------------------------------------------------------------------------


def build_document(
    header: Mapping[str, Any],
    events: Sequence[Event],
    figure: Any,
    store_version: int | None = None,
    failed_checks: Sequence[str] = (),
) -> Document:
    """The whole report as a document (the plot given as ``figure``); ``failed_checks``
    (what verifying the record found) head it, so a changed record is never read as sound."""
    simulated = bool(header.get("simulated"))
    protocol = _protocol(header)
    title = (
        f"Session {header.get('id')} — {header.get('protocol_name') or header.get('protocol_id')}"
    )
    subtitle = " · ".join(
        [
            f"patient {header.get('patient_id') or '— (none named)'}",
            local_text(header.get("started_utc")),
            _minutes(duration_s(events)),
            short_end_words(header.get("end_reason"), events),
        ]
    )
    warnings = []
    if failed_checks:
        warnings.append(
            "THIS RECORD FAILS VERIFICATION — it was changed after it was written, so what "
            f"follows cannot be relied on: {'; '.join(failed_checks)}"
        )
    if simulated:
        warnings.append("SIMULATED — recorded on a simulator: no patient received this stimulation")
    banner = "\n".join(warnings)
    doc = Document(
        title, subtitle, banner, str(header.get("ended_utc") or header.get("started_utc") or "")
    )
    doc.add(Fields(_who_what_when(header, events, protocol)))
    doc.add(Heading("Titration"), *_titration(events))
    doc.add(Heading("Delivered dose"), *_dose(events))
    doc.add(Heading("Outcomes"), *_outcomes(events))
    doc.add(Heading("Adverse events and notes"), _adverse_and_notes(events))
    doc.add(Heading("Faults and interruptions"), _interruptions(header, events))
    doc.add(
        Heading("Amplitude over the session"),
        Figure(
            figure,
            "Delivered (solid) and target (dotted) amplitude per channel; phases as bands, "
            "pauses shaded amber, thresholds and the ceiling as horizontal lines, adjustments as "
            "triangles (close ones summarised in one label), faults and stops in red.",
        ),
    )
    doc.add(Heading("Technical record"), Fields(_technical(header, events, store_version)))
    return doc


def _protocol(header: Mapping[str, Any]) -> dict[str, Any]:
    try:
        found = json.loads(str(header.get("protocol_json") or "{}"))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _sources(protocol: Mapping[str, Any]) -> str:
    said = []
    for ref in protocol.get("references") or []:
        if not isinstance(ref, Mapping):
            continue
        text = str(ref.get("citation") or ref.get("short") or "")
        if ref.get("doi"):
            text += f" doi:{ref['doi']}"
        elif ref.get("url"):
            text += f" {ref['url']}"
        if text.strip():
            said.append(text.strip())
    return "\n".join(said) if said else "none given in the protocol"


def _who_what_when(
    header: Mapping[str, Any], events: Sequence[Event], protocol: Mapping[str, Any]
) -> list[tuple[str, str]]:
    device = f"{header.get('device_model', '—')}, serial {header.get('device_serial', '—')}"
    device += f", firmware {header.get('firmware', '—')}"
    if header.get("simulated"):
        device += " — SIMULATED"
    screening = [e["data"] for e in events if e["kind"] == "screening"]
    rows = [
        ("patient", str(header.get("patient_id") or "— (none named: a demonstration)")),
        ("protocol", f"{header.get('protocol_name')} ({header.get('protocol_id')})"),
        ("sources", _sources(protocol)),
        ("started", local_text(header.get("started_utc"))),
        ("ended", local_text(header.get("ended_utc"))),
        ("duration", _duration(events)),
        ("how it ended", end_words(header, events)),
        ("operator", str(header.get("operator") or "—")),
        ("device", device),
    ]
    if screening:
        s = screening[-1]
        answer = "confirmed" if s.get("confirmed") else "NOT confirmed"
        rows.append(("contraindication screening", f"{answer} ({s.get('how', '—')})"))
    return rows


def _duration(events: Sequence[Event]) -> str:
    total, on = duration_s(events), stimulated_s(events)
    return (
        f"{_minutes(total)} of session time, {_minutes(on)} in stimulation (ramping up and "
        "stimulating, what the daily cap counts; pauses excluded)"
    )


# ---- titration ------------------------------------------------------------------------------


def _titration(events: Sequence[Event]) -> list[Paragraph | Table]:
    marks: dict[str, dict[str, float]] = {}
    for e in events:
        if e["kind"] == "titration":
            d = e["data"]
            marks.setdefault(str(d.get("channel")), {})[str(d.get("threshold"))] = float(
                d.get("amplitude_ma") or 0.0
            )
    checked = [e["data"] for e in events if e["kind"] == "checked"]
    plan = checked[-1] if checked else {}
    targets, ceilings = plan.get("targets_ma") or {}, plan.get("ceilings_ma") or {}
    channels = sorted({*marks, *targets, *ceilings}, key=lambda c: (len(c), c))
    rows = [
        [
            ch,
            *(_num(marks.get(ch, {}).get(t)) for t in SIT_ORDER),
            _num(targets.get(ch)),
            _num(ceilings.get(ch)),
        ]
        for ch in channels
    ]
    said: list[Paragraph | Table] = []
    if marks:
        said.append(
            Paragraph(
                "Sensory intensity titration in this session (mA): ST sensation threshold, "
                "SC1 strong but comfortable, N noxious, SC2 strong but comfortable again. "
                "The ceiling is the highest level below N."
            )
        )
    else:
        said.append(
            Paragraph("No titration in this session: the intensity was set directly.", "muted")
        )
    columns = ["channel", *(f"{t} (mA)" for t in SIT_ORDER), "target (mA)", "ceiling (mA)"]
    said.append(Table(columns, rows, empty="no targets recorded (the checks did not pass)"))
    return said


# ---- dose -----------------------------------------------------------------------------------


def _dose_rows(doses: list[ChannelDose]) -> list[list[str]]:
    return [
        [
            str(d.channel),
            f"{d.stimulated_min:.1f}",
            f"{d.mean_ma:.1f}",
            f"{d.peak_ma:.1f}",
            f"{d.at_target_min:.1f}",
            f"{d.charge_uc / 1000:.1f}",
            f"{d.pulses:,}",
        ]
        for d in doses
    ]


def _dose(events: Sequence[Event]) -> list[Paragraph | Table]:
    return [
        Table(DOSE_COLUMNS, _dose_rows(delivered_dose(events)), empty="nothing delivered"),
        Paragraph(
            "From the device's telemetry: time with output on, time-weighted mean and peak "
            "of the delivered amplitude, time at the target, and the device's charge and "
            "pulse counters. Titration is not counted."
            if measured(events)
            else "This device does not measure its current: the amplitudes are what was "
            "commanded while it reported the channel running, and the pulses and charge are "
            "the host's estimate from the commanded pulse. Titration is not counted.",
            "muted",
        ),
    ]


# ---- outcomes -------------------------------------------------------------------------------


def _outcome_events(events: Sequence[Event]) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {}
    for e in events:
        if e["kind"] == "outcome":
            found.setdefault(str(e["data"].get("when")), []).append(e)
    return found


def _change(before: Any, after: Any) -> str:
    if before is None or after is None:
        return "—"
    delta = float(after) - float(before)
    text = f"{delta:+g}"
    if float(before) > 0:
        text += f" ({delta / float(before):+.0%})"
    return text


def responder_text(before: Any, after: Any, what: str) -> str | None:
    """Whether a fall in pain reaches a responder's 30 %, in words."""
    if before is None or after is None:
        return None
    b, a = float(before), float(after)
    if b <= 0:
        return f"{what}: {b:g} → {a:g} (no pain before: no reduction to measure)"
    fall = (b - a) / b
    if fall >= RESPONDER_FRACTION:
        return f"{what}: {b:g} → {a:g}, {fall:.0%} less — reaches a responder's 30 % reduction"
    if fall > 0:
        return f"{what}: {b:g} → {a:g}, {fall:.0%} less — short of a responder's 30 %"
    return f"{what}: {b:g} → {a:g}, no reduction — not a responder's 30 %"


def _outcomes(events: Sequence[Event]) -> list[Paragraph | Table]:
    found = _outcome_events(events)
    latest = {when: dict(found[when][-1]["data"]) for when in found}
    before, after = latest.get("before", {}), latest.get("after", {})
    if not latest:
        return [Paragraph("No outcomes recorded before or after this session.", "muted")]
    rows = [
        [
            label,
            _num(before.get(key)),
            _num(after.get(key)),
            _change(before.get(key), after.get(key)),
        ]
        for key, label in OUTCOMES
        if before.get(key) is not None or after.get(key) is not None
    ]
    columns = [
        "measure",
        *(f"{w} (amended)" if "amends" in latest.get(w, {}) else w for w in ("before", "after")),
        "change",
    ]
    said: list[Paragraph | Table] = [Table(columns, rows)]
    for key, what in PAIN:
        text = responder_text(before.get(key), after.get(key), what)
        if text is not None:
            reached = "reaches" in text
            said.append(Paragraph(text, "normal" if reached else "muted"))
    for when in ("before", "after"):
        if when not in latest:
            said.append(Paragraph(f"No outcomes recorded {when} the session.", "muted"))
    for when, recorded in found.items():
        for e in recorded:
            d = e["data"]
            if d.get("amends") is not None:
                said.append(
                    Paragraph(
                        f"The outcomes {when} the session were amended by "
                        f"{d.get('operator') or '—'} on {local_text(e.get('time_utc'))}: "
                        f"{d.get('reason') or '(no reason given)'} (the earlier values, "
                        f"event {d.get('amends')}, stay on record).",
                        "alert",
                    )
                )
    return said


# ---- adverse events and notes ---------------------------------------------------------------


def _adverse_and_notes(events: Sequence[Event]) -> Table:
    """Adverse events as first reported (an amendment repeating them is not a new one; a
    report an amendment changed says so) and notes, with who and when."""
    latest: dict[str, tuple[Any, ...]] = {}
    for e in events:
        if e["kind"] == "outcome":
            d = e["data"]
            latest[str(d.get("when"))] = (
                tuple(d.get("adverse_events") or ()),
                d.get("adverse_note"),
            )
    rows, seen = [], set()
    for e in events:
        d = e["data"]
        if e["kind"] == "outcome" and d.get("adverse_events"):
            when = str(d.get("when"))
            said = (tuple(d["adverse_events"]), d.get("adverse_note"))
            if (when, said) in seen:
                continue
            seen.add((when, said))
            named = ", ".join(ADVERSE_WORDS.get(a, str(a)) for a in d["adverse_events"])
            note = f": {d['adverse_note']}" if d.get("adverse_note") else ""
            what = f"adverse event ({when} the session): {named}{note}"
            if latest.get(when) != said:
                what += " — changed by a later amendment"
            rows.append([local_text(e.get("time_utc")), str(d.get("operator") or "—"), what])
        elif e["kind"] == "note":
            rows.append(
                [
                    local_text(e.get("time_utc")),
                    str(d.get("operator") or "—"),
                    f"note: {d.get('text', '')}",
                ]
            )
    return Table(["when", "who", "what"], rows, empty="no adverse events, no notes")


# ---- faults and interruptions ---------------------------------------------------------------


def _interruptions(header: Mapping[str, Any], events: Sequence[Event]) -> Table:
    rows: list[list[str]] = []
    paused: Event | None = None
    stopping = header.get("end_reason") == "stopped_by_user"
    for e in events:
        d, kind = e["data"], e["kind"]
        if kind == "state":
            state = d.get("state")
            if state != "paused" and paused is not None:
                lasted = _seconds_between(paused.get("time_utc"), e.get("time_utc"))
                how_long = f" of {_minutes(lasted)}" if lasted is not None else ""
                said = (
                    "resumed after a pause"
                    if state in ("ramping_up", "stimulating")
                    else ("the pause ended with the session")
                )
                rows.append([_when(e), f"{said}{how_long}"])
                paused = None
            if state == "paused" and paused is None:
                paused = e
                rows.append([_when(e), "paused: every output to 0"])
            elif state == "ramping_down" and stopping:
                rows.append([_when(e), "stopped by the operator: ramping down to 0"])
                stopping = False  # the first ramp down is the stop
        elif kind == "fault":
            rows.append([_when(e), f"fault: {fault_words(d)}"])
        elif kind == "stop":
            rows.append([_when(e), f"emergency stop: {d.get('reason', '—')}"])
        elif kind == "warning" and d.get("rule") in ("resume", "reset", "daily_cap", "ceiling"):
            rows.append([_when(e), str(d.get("message", ""))])
    reason = str(header.get("end_reason") or "")
    closed = [e for e in events if e["kind"] == "closed"]
    if reason == "interrupted" and closed:
        rows.append([_when(closed[-1]), end_words(header, events)])
    if reason.startswith("refused:") and closed:
        rows.append([_when(closed[-1]), end_words(header, events)])
    return Table(
        ["when (session time)", "what"], rows, empty="none: the session ran without interruption"
    )


def _seconds_between(first: Any, second: Any) -> float | None:
    a, b = local_time(str(first)) if first else None, local_time(str(second)) if second else None
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


# ---- the technical record -------------------------------------------------------------------


def _technical(
    header: Mapping[str, Any], events: Sequence[Event], store_version: int | None
) -> list[tuple[str, str]]:
    last = events[-1] if events else None
    rows = [
        ("session number in the store", str(header.get("id", "—"))),
        ("record started (UTC)", str(header.get("started_utc") or "—")),
        ("record ended (UTC)", str(header.get("ended_utc") or "—")),
        ("stored end reason", str(header.get("end_reason") or "—")),
        ("simulated", "yes" if header.get("simulated") else "no"),
        ("device address", str(header.get("device_url") or "—")),
        ("computer", str(header.get("host") or "—")),
        ("controller process number", str(header.get("pid") or "—")),
        ("protocol fingerprint (SHA-256)", str(header.get("protocol_sha256") or "—")),
        ("events in the record", str(len(events))),
        ("record fingerprint (SHA-256)", str(header.get("hash") or "—")),
        ("previous session's fingerprint", _previous(header.get("prev_hash"))),
        ("last event's fingerprint", str(last.get("hash") or "—") if last else "—"),
    ]
    if store_version is not None:
        rows.append(("store format version", str(store_version)))
    rows.append(("checked by", "tensctl sessions verify (recomputes every fingerprint)"))
    return rows


def _previous(prev_hash: Any) -> str:
    if not prev_hash:
        return "—"
    if prev_hash == GENESIS:
        return f"{prev_hash} (none: the first session in the store)"
    return str(prev_hash)
