"""``tensctl sessions``: the recorded sessions — list, show, export, outcomes, note, verify,
anchor, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import (
    DB_OPTION,
    INCLUDE_SIMULATED_OPTION,
    JSON_OPTION,
    say_simulated_left_out,
)
from tensctl.errors import InputError, Problem, StoreError, TamperedRecord, UsageError
from tensctl.journal import export as exports
from tensctl.journal.anchor import Anchor
from tensctl.journal.anchor import read as read_anchors
from tensctl.journal.clock import local_text, local_time, zone_name
from tensctl.journal.dose import measured
from tensctl.journal.recorder import default_operator
from tensctl.journal.store import Store
from tensctl.journal.summary import (
    fault_words,
    session_end_words,
    short_end_words,
    summarise,
)
from tensctl.journal.summary import outcomes as summary_outcomes
from tensctl.journal.verify import Verification, verify_session
from tensctl.journal.verify import verify as verify_store
from tensctl.model.outcomes import outcome_event, parse_outcome_text, recorded_outcomes

sessions_app = typer.Typer(help="Recorded sessions.", no_args_is_help=True)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


DEFAULT_LIMIT = 20
OPERATOR_OPTION = typer.Option(
    None, "--operator", envvar="TENSCTL_OPERATOR", help="Who writes it (default: login)."
)


def session_id_of(text: str, store: Store) -> int:
    """The session a person named: ``last`` (the newest recorded) or its number — one the
    store holds; otherwise a clear input error (exit 3)."""
    said = text.strip()
    if said.lower() == "last":
        found = store.sessions()
        if not found:
            raise InputError([Problem(f"no sessions recorded in {store.path}", "<argument>")])
        return int(found[-1]["id"])
    if not said.isdigit() or int(said) == 0:
        raise InputError(
            [
                Problem(
                    f"expected a session number or 'last', found '{text}'",
                    "<argument>",
                    path="ID",
                )
            ]
        )
    number = int(said)
    store.session(number)  # "no session 99 in PATH"
    return number


def _local(stamp: str | None) -> str:
    return escape(local_text(stamp))


@sessions_app.command("list", short_help="Recorded sessions, newest first.")
def list_sessions(
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's."),
    limit: int = typer.Option(DEFAULT_LIMIT, "--limit", help="The newest N sessions (0: all)."),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Recorded sessions, newest first. Times in local time with the zone; --json gives them
    in UTC, as stored."""
    if limit < 0:
        raise UsageError(f"--limit takes a number of sessions, or 0 for all; found {limit}")
    with Store(db, must_exist=True) as store:
        headers = store.sessions(patient)[::-1]
        shown = headers[:limit] if limit else headers
        rows = [summarise(h, store.events(h["id"])) for h in shown]
    if as_json:
        console.emit_json(rows)
    else:
        zones = {zone_name(w) for w in map(local_time, (r["started_utc"] for r in rows)) if w}
        shared = next(iter(zones)) if len(zones) == 1 else None
        table = Table(box=None, pad_edge=False)
        table.add_column("id", justify="right")
        table.add_column(f"started ({shared})" if shared else "started", no_wrap=True)
        for name in ("patient", "protocol"):
            table.add_column(name, overflow="fold")
        table.add_column("min", justify="right", no_wrap=True)
        table.add_column("end", overflow="fold")
        table.add_column("", no_wrap=True)
        for r in rows:
            table.add_row(
                str(r["id"]),
                _local(r["started_utc"]).removesuffix(f" {shared}"),
                escape(r["patient"] or "—"),
                escape(r["protocol"]),
                f"{r['duration_s'] / 60:.1f}",
                escape(short_end_words(r["end_reason"])),
                "[yellow]SIM[/]" if r["simulated"] else "",
            )
        if rows:
            console.out.print(table)
    whose = f" for patient {patient}" if patient else ""
    if not headers:
        console.info(f"no sessions recorded{whose}")
    elif len(shown) < len(headers):
        console.info(f"showing {len(shown)} of {len(headers)}{whose}; --limit 0 for all")
    if not as_json and any(r["simulated"] for r in rows):
        console.info("SIM: recorded on a simulator, not delivered to a person")


@sessions_app.command(
    "show", short_help="One session (ID, or last): who, what, how it ended, dose, outcomes, notes."
)
def show(
    session: str = typer.Argument(..., metavar="ID", help="A session number, or last."),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One session (ID, or last): who, what, on which device (SIMULATED for a simulator),
    how it ended in words, the dose per channel, outcomes, notes and corrections. Times in
    local time with the zone; --json gives them in UTC, as stored."""
    with Store(db, must_exist=True) as store:
        session_id = session_id_of(session, store)
        header = store.session(session_id)
        events = store.events(session_id)
    summary = summarise(header, events)
    if as_json:
        keep = {k: v for k, v in header.items() if k not in ("protocol_json", "prev_hash")}
        return console.emit_json({"session": keep, **summary})
    out = console.out
    h = {k: escape(str(v)) if isinstance(v, str) else v for k, v in header.items()}  # stored text
    out.print(f"[bold]session {session_id}[/]  {h['protocol_name']} ({h['protocol_id']})")
    if header["simulated"]:
        out.print("[bold yellow]SIMULATED[/]  on a simulator: nothing was delivered to a person")
    out.print(f"patient    {h['patient_id'] or '—'}    operator {h['operator']}")
    device = f"{h['device_model']} {h['device_serial']}, firmware {h['firmware']}"
    out.print(f"device     {device}" + ("  [yellow](simulated)[/]" if header["simulated"] else ""))
    out.print(f"started    {_local(header['started_utc'])}    ended {_local(header['ended_utc'])}")
    out.print(f"end        {escape(session_end_words(header['end_reason'], events))}")
    stimulated = _minutes(summary["stimulated_s"])
    out.print(
        f"length     {_minutes(summary['duration_s'])} "
        f"({stimulated} in stimulation, what the daily cap counts)"
    )
    out.print(f"protocol   sha256 {header['protocol_sha256'][:16]}…")
    for key in ("thresholds_ma", "targets_ma", "ceilings_ma"):
        if summary[key]:
            out.print(f"{key[:-3]:<10} {_per_channel(summary[key])}")
    for e in events:
        if e["kind"] == "fault":
            said = escape(fault_words(e["data"]))
            when = f"{_local(e['time_utc'])}, {e['elapsed_s']:.0f} s in"
            out.print(f"[red]fault[/]      {when}: {said}")
    if summary["adjustments"]:
        out.print(f"adjusted   {len(summary['adjustments'])} time(s)")
    _dose_table(summary["dose"], measured(events))
    _outcome_table(summary["outcomes"])
    _notes(summary["notes"])
    _corrections(summary["corrections"])


def _notes(found: list[dict[str, Any]]) -> None:
    if not found:
        return
    console.out.print("[bold]notes[/]")
    for n in found:
        console.out.print(
            f"  {_local(n['time_utc'])}  {escape(n['operator'])}: {escape(n['text'])}"
        )


MEASURE_WORDS = {
    "pain_rest": "pain at rest",
    "pain_movement": "pain on movement",
    "fatigue": "fatigue",
    "ppt_stimulated_kpa": "PPT at the site (kPa)",
    "ppt_remote_kpa": "PPT remote (kPa)",
    "adverse_events": "adverse events",
    "adverse_note": "adverse note",
}


def _value_words(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v).replace("_", " ") for v in value)
    if isinstance(value, float | int):
        return f"{value:g}"
    return f"'{value}'"


def _corrections(found: list[dict[str, Any]]) -> None:
    if not found:
        return
    console.out.print("[bold]corrections[/]")
    for c in found:
        changed = "; ".join(
            f"{MEASURE_WORDS.get(x['measure'], x['measure'])} "
            f"{_value_words(x['from'])} → {_value_words(x['to'])}"
            for x in c["changes"]
        )
        console.out.print(
            f"  {_local(c['time_utc'])}  {escape(c['operator'])}, outcomes {c['when']}: "
            f"{escape(changed or 'no value changed')}"
        )
        console.out.print(f"    reason: {escape(c['reason'])}")


def _per_channel(values: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {x:g}" for k, x in v.items()) + " mA"  # in SIT order
        return f"{v:g} mA"

    return "; ".join(f"ch{ch}: {fmt(v)}" for ch, v in values.items())


def _dose_table(dose: list[dict[str, Any]], measured_current: bool = True) -> None:
    if not dose:
        return console.out.print("dose       none delivered")
    table = Table("ch", "output on", "mean mA", "peak mA", "charge µC", "at target", box=None)
    for d in dose:
        table.add_row(
            str(d["channel"]),
            f"{d['stimulated_min']:.1f} min",
            f"{d['mean_ma']:.1f}",
            f"{d['peak_ma']:.1f}",
            f"{d['charge_uc']:,.0f}",
            f"{d['at_target_min']:.1f} min",
        )
    console.out.print(table)
    if not measured_current:
        console.out.print(
            "           the device does not measure its current: mA as commanded, "
            "pulses and charge estimated"
        )


def _outcome_table(found: dict[str, dict[str, Any]]) -> None:
    if not found:
        return console.out.print("outcomes   none recorded")
    keys = ("pain_rest", "pain_movement", "fatigue", "ppt_stimulated_kpa", "ppt_remote_kpa")
    table = Table("", "pain rest", "pain moving", "fatigue", "PPT site", "PPT remote", box=None)
    adverse = []
    for when in ("before", "after"):
        o = found.get(when)
        if o is None:
            continue
        label = f"{when} (amended)" if "amends" in o else when  # see corrections
        table.add_row(label, *("—" if o.get(k) is None else f"{o[k]:g}" for k in keys))
        if o.get("adverse_events"):
            note = f" ({o['adverse_note']})" if o.get("adverse_note") else ""
            events = ", ".join(str(e).replace("_", " ") for e in o["adverse_events"])
            adverse.append(escape(f"adverse    {when}: {events}{note}"))
    if "before" in found and "after" in found:
        before, after = found["before"], found["after"]
        table.add_row("change", *(_change(before.get(k), after.get(k)) for k in keys))
    console.out.print(table)
    for line in adverse:
        console.out.print(line)


def _change(before: Any, after: Any) -> str:
    """After − before, and as a share of before (pain −3, −50 %)."""
    if before is None or after is None:
        return "—"
    change = float(after) - float(before)
    share = f" ({change / float(before):+.0%})" if before else ""
    return f"{change:+g}{share}".replace("-", "−")


@sessions_app.command(
    "export", short_help="Export sessions: every event, or with --per-session a row per session."
)
def export(
    session: str | None = typer.Argument(None, metavar="[ID]", help="A session number, or last."),
    patient: str | None = typer.Option(None, "--patient", help="Every session of a patient."),
    per_session: bool = typer.Option(
        False,
        "--per-session",
        help="One row per session, for a study (columns: docs/session-records.md); every "
        "session unless ID or --patient.",
    ),
    include_simulated: bool = INCLUDE_SIMULATED_OPTION,
    fmt: str = typer.Option("json", "--format", help="json or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    db: Path | None = DB_OPTION,
) -> None:
    """Export sessions: every event, or with --per-session a row per session. Without
    --per-session: one session (ID, or last) or a patient's sessions, with every event and
    its hash. With --per-session: a table of one row per session for a study (its columns
    are in docs/session-records.md); simulator sessions are left out unless
    --include-simulated."""
    if per_session and session is not None and patient is not None:
        raise UsageError("give a session ID or --patient ID, not both")
    if not per_session and (session is None) == (patient is None):
        raise UsageError("give a session ID or --patient ID (one of them)")
    if include_simulated and not per_session:
        raise UsageError(
            "--include-simulated goes with --per-session (the event export has every "
            "session it is asked for)"
        )
    if fmt not in ("json", "csv"):
        raise UsageError(f"--format must be json or csv, found '{fmt}'")
    with Store(db, must_exist=True) as store:
        if session is not None:
            ids = [session_id_of(session, store)]
            headers = [store.session(ids[0])]
        else:
            headers = store.sessions(patient)
            if patient is not None and not headers:
                raise InputError(
                    [Problem(f"no sessions recorded for patient '{patient}'", "--patient")]
                )
            ids = [h["id"] for h in headers]
        if per_session:
            kept = [h["id"] for h in headers if include_simulated or not h["simulated"]]
            left_out = len(ids) - len(kept)
            rows = exports.session_rows(store, kept)
            text = exports.to_session_json(rows) if fmt == "json" else exports.to_session_csv(rows)
            ids = kept
        else:
            left_out = 0
            text = exports.to_json(store, ids) if fmt == "json" else exports.to_csv(store, ids)
    if per_session and not headers:
        console.info("no sessions recorded: the table has its header only")
    if left_out and not ids:
        console.warning(
            f"no session to export: the {left_out} session(s) asked for were on the simulator; "
            "add --include-simulated to export them"
        )
    else:
        say_simulated_left_out(left_out, "export")
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(f"cannot write: {exc.strerror or exc}", str(output))]) from None
    written = f"{len(ids)} session(s)" if ids else "the header only"
    console.success(f"{written} written to {output}")


@sessions_app.command("note", short_help="Add a note to an ended session (ID, or last).")
def note(
    session: str = typer.Argument(..., metavar="ID", help="A session number, or last."),
    text: str = typer.Argument(..., metavar="TEXT", help="The note (quote it)."),
    operator: str | None = OPERATOR_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """Add a note to an ended session (ID, or last). Notes are appended to its record and
    sealed with it: never edited or removed (a later note may correct an earlier one)."""
    if not text.strip():
        raise InputError([Problem("a note needs some text", "<argument>", path="TEXT")])
    with Store(db, must_exist=True) as store:
        session_id = session_id_of(session, store)
        seq = store.add_note(session_id, text, operator or default_operator(), "TEXT")
    console.success(f"note added to session {session_id} (event {seq})")


@sessions_app.command(
    "outcomes", short_help="Add outcomes to an ended session, or correct them (--reason)."
)
def record_outcomes(
    session: str = typer.Argument(..., metavar="ID", help="A session number, or last."),
    before: str | None = typer.Option(None, "--before", help="KEY=VALUE,… measured before."),
    after: str | None = typer.Option(None, "--after", help="KEY=VALUE,… measured after."),
    reason: str | None = typer.Option(
        None,
        "--reason",
        help="Why recorded outcomes are corrected (needed to amend them; both stay on record).",
    ),
    operator: str | None = OPERATOR_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """Add outcomes to an ended session, or correct them (--reason). E.g. --after
    pain_rest=2,pain_movement=4,fatigue=3 (adverse_events=skin_irritation+burn,
    adverse_note=…, ppt_stimulated_kpa=…). Pain and fatigue are 0–10 and required; pressure
    thresholds are kPa (above 0, up to 2000). Outcomes already recorded are amended only
    with --reason."""
    given = [(w, t) for w, t in (("before", before), ("after", after)) if t is not None]
    if not given:
        raise UsageError("give --before and/or --after")
    amended = []
    try:
        opened = Store(db, must_exist=True)
    except StoreError:
        for w, t in given:  # bad input is said first, as for a store that exists
            parse_outcome_text(t, f"--{w}")
        raise
    with opened as store:
        session_id = session_id_of(session, store)
        events = store.events(session_id)
        earlier = recorded_outcomes(events)
        on_record = summary_outcomes(events)
        parsed = [(w, parse_outcome_text(t, f"--{w}", on_record.get(w))) for w, t in given]
        for when, values in parsed:  # every amendment has its reason before anything is written
            outcome_event(when, values, "", earlier.get(when), reason, f"--{when}")
        for when, values in parsed:
            who = operator or default_operator()
            store.add_outcomes(session_id, when, values, who, reason, f"--{when}")
            amended += [when] if when in earlier else []
    said = " and ".join(w for w, _ in given)
    if amended:
        console.success(
            f"outcomes {said} of session {session_id} amended ({reason}); the earlier values "
            "stay on record"
        )
    else:
        console.success(f"outcomes {said} added to session {session_id}")


ANCHOR_OPTION = typer.Option(
    None,
    "--anchor",
    metavar="FILE",
    help="Also check the store against the anchors in FILE (lines printed by `sessions "
    "anchor`; - reads stdin): it must still hold each one's newest session and seal.",
)


@sessions_app.command(
    "verify", short_help="Check every hash chain and seal; name the first changed record (exit 10)."
)
def verify(
    anchor: str | None = ANCHOR_OPTION,
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check every hash chain and seal; name the first changed record (exit 10): one that
    was changed, cut or removed. The result goes to stdout: problems, sessions interrupted
    or still open, and a last line `intact: …` or `TAMPERED: …`. Without --anchor, removing
    the newest sessions whole cannot show; keep anchors outside the store (`sessions
    anchor`)."""
    anchored = _read_anchors(anchor) if anchor is not None else []
    with Store(db, mark_interrupted=False, must_exist=True) as store:
        result = verify_store(store, anchored)
    if as_json:
        console.emit_json(result.to_json())
    else:
        _print_verification(result)
    if not result.ok:
        raise TamperedRecord(
            f"first bad record: {result.findings[0]} "
            f"({len(result.findings)} problem(s) in {result.sessions} sessions)"
        )


def _read_anchors(source: str) -> list[Anchor]:
    if source == "-":
        return read_anchors(sys.stdin.read(), "<stdin>")
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError([Problem(f"cannot read the anchor: {reason}", source)]) from None
    return read_anchors(text, source)


def _print_verification(result: Verification) -> None:
    for finding in result.findings:
        print(finding)
    for status in ("interrupted", "open"):
        for sid in result.having(status):
            said = "interrupted (its process died)" if status == "interrupted" else "still open"
            print(f"session {sid}: {said}")
    for a, holds in result.anchors:
        print(f"{a.describe()}: {'holds' if holds else 'does NOT hold'}")
    counts = f"{result.sessions} sessions, {result.events} events, {result.seals} seals"
    if result.ok:
        print(f"intact: {counts}; every chain and seal intact")
    else:
        print(f"TAMPERED: {len(result.findings)} problem(s) in {counts}")


@sessions_app.command("anchor", short_help="Print an anchor of the store, to keep outside it.")
def anchor(db: Path | None = DB_OPTION) -> None:
    """Print an anchor of the store, to keep outside it: one JSON line (sessions, the newest
    header's hash, the last seal and its hash, the time) to keep OUTSIDE the store, e.g.
    `tensctl sessions anchor >> /mnt/clinic/anchors.jsonl`. Later, `tensctl sessions verify
    --anchor FILE` fails (exit 10) if the store no longer holds what an anchor pinned: the
    newest sessions removed, or a session cut and its seal removed. The store is verified
    first; a store that does not verify is not anchored."""
    with Store(db, mark_interrupted=False, must_exist=True) as store:
        result = verify_store(store)
    if not result.ok:
        raise TamperedRecord(
            f"not anchored: the store does not verify; first bad record: {result.findings[0]} "
            "(see `tensctl sessions verify`)"
        )
    assert result.head is not None
    print(result.head.line())
    console.info(
        f"anchor of {result.head.sessions} sessions and {result.head.seals} seals: "
        "keep it outside the store"
    )


@sessions_app.command("report")
def report(
    session: str = typer.Argument(..., metavar="ID", help="A session number, or last."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="FILE.html or .pdf (the report), .png or .svg (the plot)."
    ),
    db: Path | None = DB_OPTION,
) -> None:
    """The session as a clinician reads it: who, what and when, titration, dose, outcomes
    (with the 30 % responder mark), adverse events and notes, faults and interruptions,
    the amplitude plot, and the technical record last. HTML is one self-contained page, PDF
    is A4 for printing; PNG or SVG is the plot alone (needs the plot extra)."""
    from tensctl.journal.report import render_report
    from tensctl.journal.schema import version

    with Store(db, must_exist=True) as store:
        session_id = session_id_of(session, store)
        header = store.session(session_id)
        events = store.events(session_id)
        store_version = version(store.conn)
        failed = [
            f.message if f.seq is None else f"event {f.seq} {f.message}"
            for f in verify_session(store, session_id)
        ]
    render_report(header, events, output, store_version, failed)
    if failed:
        raise TamperedRecord(
            [
                Problem(
                    f"the record of session {session_id} fails verification ({failed[0]}); "
                    f"the report written to {output} says so at its top — tensctl sessions "
                    "verify names every changed record",
                    str(output),
                )
            ]
        )
    console.success(f"report of session {session_id} written to {output}")
