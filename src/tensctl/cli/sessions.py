"""``tensctl sessions``: the recorded sessions — list, show, export, verify, anchor, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import DB_OPTION, JSON_OPTION
from tensctl.errors import InputError, Problem, StoreError, TamperedRecord, UsageError
from tensctl.journal import export as exports
from tensctl.journal.anchor import Anchor
from tensctl.journal.anchor import read as read_anchors
from tensctl.journal.recorder import default_operator
from tensctl.journal.store import Store
from tensctl.journal.summary import outcomes as summary_outcomes
from tensctl.journal.summary import summarise
from tensctl.journal.verify import Verification
from tensctl.journal.verify import verify as verify_store
from tensctl.model.outcomes import outcome_event, parse_outcome_text, recorded_outcomes

sessions_app = typer.Typer(help="Recorded sessions.", no_args_is_help=True)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


@sessions_app.command("list")
def list_sessions(
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's."),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every recorded session, oldest first."""
    with Store(db, must_exist=True) as store:
        rows = [summarise(h, store.events(h["id"])) for h in store.sessions(patient)]
    if as_json:
        return console.emit_json(rows)
    table = Table("id", "started (UTC)", "patient", "protocol", "duration", "end", box=None)
    for r in rows:
        protocol = r["protocol"] + (" (sim)" if r["simulated"] else "")
        table.add_row(
            str(r["id"]),
            r["started_utc"][:19].replace("T", " "),
            escape(r["patient"] or "—"),
            escape(protocol),
            _minutes(r["duration_s"]),
            escape(r["end_reason"]),
        )
    console.out.print(table)
    if not rows:
        console.info(f"no sessions recorded{' for ' + patient if patient else ''}")


@sessions_app.command("show")
def show(
    session_id: int = typer.Argument(..., metavar="ID"),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One session: who, what, on which device, how it ended, dose and outcomes."""
    with Store(db, must_exist=True) as store:
        header = store.session(session_id)
        summary = summarise(header, store.events(session_id))
    if as_json:
        keep = {k: v for k, v in header.items() if k not in ("protocol_json", "prev_hash")}
        return console.emit_json({"session": keep, **summary})
    out = console.out
    h = {k: escape(str(v)) if isinstance(v, str) else v for k, v in header.items()}  # stored text
    out.print(f"[bold]session {session_id}[/]  {h['protocol_name']} ({h['protocol_id']})")
    out.print(f"patient    {h['patient_id'] or '—'}    operator {h['operator']}")
    device = f"{h['device_model']} {h['device_serial']}, firmware {h['firmware']}"
    out.print(f"device     {device}" + ("  [yellow]SIMULATOR[/]" if header["simulated"] else ""))
    out.print(f"started    {h['started_utc']}    ended {h['ended_utc'] or '—'}")
    out.print(f"end        {escape(summary['end_reason'])} after {_minutes(summary['duration_s'])}")
    out.print(f"protocol   sha256 {header['protocol_sha256'][:16]}…")
    for key in ("thresholds_ma", "targets_ma", "ceilings_ma"):
        if summary[key]:
            out.print(f"{key[:-3]:<10} {_per_channel(summary[key])}")
    for fault in summary["faults"]:
        said = escape(f"{fault.get('rule')}: {fault.get('message')}")
        out.print(f"[red]fault[/]      {said}")
    if summary["adjustments"]:
        out.print(f"adjusted   {len(summary['adjustments'])} time(s)")
    _dose_table(summary["dose"])
    _outcome_table(summary["outcomes"])


def _per_channel(values: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {x:g}" for k, x in v.items()) + " mA"  # in SIT order
        return f"{v:g} mA"

    return "; ".join(f"ch{ch}: {fmt(v)}" for ch, v in values.items())


def _dose_table(dose: list[dict[str, Any]]) -> None:
    if not dose:
        return console.out.print("dose       none delivered")
    table = Table("ch", "stimulated", "mean mA", "peak mA", "charge µC", "at target", box=None)
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
        label = f"{when} (amended)" if "amends" in o else when
        table.add_row(label, *("—" if o.get(k) is None else f"{o[k]:g}" for k in keys))
        if "amends" in o:
            adverse.append(escape(f"amended    {when}: {o.get('reason', '')}"))
        if o.get("adverse_events"):
            note = f" ({o['adverse_note']})" if o.get("adverse_note") else ""
            adverse.append(escape(f"adverse    {when}: {', '.join(o['adverse_events'])}{note}"))
    console.out.print(table)
    for line in adverse:
        console.out.print(line)


@sessions_app.command("export")
def export(
    session_id: int | None = typer.Argument(None, metavar="[ID]"),
    patient: str | None = typer.Option(None, "--patient", help="Every session of a patient."),
    fmt: str = typer.Option("json", "--format", help="json or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    db: Path | None = DB_OPTION,
) -> None:
    """Export one session (ID) or a patient's sessions, with every event and its hash."""
    if (session_id is None) == (patient is None):
        raise UsageError("give a session ID or --patient ID (one of them)")
    if fmt not in ("json", "csv"):
        raise UsageError(f"--format must be json or csv, found '{fmt}'")
    with Store(db, must_exist=True) as store:
        ids = [session_id] if session_id is not None else [r["id"] for r in store.sessions(patient)]
        if session_id is not None:
            store.session(session_id)  # a clear error for an unknown id
        elif not ids:
            raise InputError(
                [Problem(f"no sessions recorded for patient '{patient}'", "--patient")]
            )
        text = exports.to_json(store, ids) if fmt == "json" else exports.to_csv(store, ids)
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(f"cannot write: {exc.strerror or exc}", str(output))]) from None
    console.success(f"{len(ids)} session(s) written to {output}")


@sessions_app.command("outcomes")
def record_outcomes(
    session_id: int = typer.Argument(..., metavar="ID"),
    before: str | None = typer.Option(None, "--before", help="KEY=VALUE,… measured before."),
    after: str | None = typer.Option(None, "--after", help="KEY=VALUE,… measured after."),
    reason: str | None = typer.Option(
        None,
        "--reason",
        help="Why recorded outcomes are corrected (needed to amend them; both stay on record).",
    ),
    db: Path | None = DB_OPTION,
) -> None:
    """Add outcomes to a recorded session, e.g. --after pain_rest=2,pain_movement=4,fatigue=3
    (adverse_events=skin_irritation+burn, adverse_note=…, ppt_stimulated_kpa=…). Pain and
    fatigue are 0–10 and required; pressure thresholds are kPa (above 0, up to 2000). Outcomes
    already recorded are amended only with --reason."""
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
        events = store.events(session_id)
        earlier = recorded_outcomes(events)
        on_record = summary_outcomes(events)
        parsed = [(w, parse_outcome_text(t, f"--{w}", on_record.get(w))) for w, t in given]
        for when, values in parsed:  # every amendment has its reason before anything is written
            outcome_event(when, values, "", earlier.get(when), reason, f"--{when}")
        for when, values in parsed:
            store.add_outcomes(session_id, when, values, default_operator(), reason, f"--{when}")
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


@sessions_app.command("verify")
def verify(
    anchor: str | None = ANCHOR_OPTION,
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check every hash chain and seal: name the first record that was changed, cut or
    removed (exit 10). The result goes to stdout: problems, sessions interrupted or still
    open, and a last line `intact: …` or `TAMPERED: …`. Without --anchor, removing the
    newest sessions whole cannot show; keep anchors outside the store (`sessions anchor`)."""
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


@sessions_app.command("anchor")
def anchor(db: Path | None = DB_OPTION) -> None:
    """Print an anchor of the store: one JSON line (sessions, the newest header's hash, the
    last seal and its hash, the time) to keep OUTSIDE it, e.g.
    `tensctl sessions anchor >> /mnt/clinic/anchors.jsonl`. Later,
    `tensctl sessions verify --anchor FILE` fails (exit 10) if the store no longer holds
    what an anchor pinned: the newest sessions removed, or a session cut and its seal
    removed. The store is verified first; a store that does not verify is not anchored."""
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
    session_id: int = typer.Argument(..., metavar="ID"),
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
        header = store.session(session_id)
        events = store.events(session_id)
        store_version = version(store.conn)
    render_report(header, events, output, store_version)
    console.success(f"report of session {session_id} written to {output}")
