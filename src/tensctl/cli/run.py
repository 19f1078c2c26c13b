"""``tensctl run``: run a protocol on a device — titrate, stimulate, adjust, stop.

Interactive by default (a live display and keys); ``--json`` prints one JSON event per line
for other programs instead and reads commands as JSON lines on stdin (:mod:`.jsonlines`).
Exit codes: 0 completed, 4 refused by the safety checks, 5 device error, 6 fault, 7 stopped
by the user, 11 (``--json``) the controlling program went away.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from tensctl.api import RunningSession, connect
from tensctl.api_args import check_patient, check_speed, speed_from_text
from tensctl.cli import console
from tensctl.cli.jsonlines import JsonLines
from tensctl.cli.keys import Interrupts
from tensctl.cli.live import live_session
from tensctl.cli.options import DB_OPTION, parse_intensities
from tensctl.cli.outcomes import ask_outcomes
from tensctl.engine.states import State
from tensctl.errors import (
    ControllerLost,
    FaultError,
    InputError,
    Problem,
    SafetyRefused,
    StoppedByUser,
    UsageError,
)
from tensctl.lsl import AMPLITUDE_NAME, MARKER_NAME, LslOptions, describe_config, load_pylsl
from tensctl.model.library import find_protocol
from tensctl.model.protocol import Protocol, Threshold

SCREENING = (
    "Has the patient been screened for contraindications (pacemaker or other active implant, "
    "pregnancy, epilepsy, heart disease, broken skin, malignancy at the site) and cleared?"
)


def run_command(
    protocol: str = typer.Argument(..., help="Protocol id or file."),
    device: str = typer.Option("sim://", "--device", help="Device URL (default: the simulator)."),
    profile: str | None = typer.Option(None, "--profile", help="Device profile id or file."),
    patient: str | None = typer.Option(None, "--patient", help="Pseudonymous patient id."),
    intensity: list[str] = typer.Option(
        [], "--intensity", "-i", help="CH=MA, MA for every channel, or CH=SC2 to titrate first."
    ),
    ceiling: list[str] = typer.Option([], "--ceiling", help="CH=MA: never above this."),
    as_json: bool = typer.Option(False, "--json", help="JSON events on stdout, commands on stdin."),
    yes: bool = typer.Option(False, "--yes", "-y", help="The patient has been screened."),
    speed: Any = typer.Option(  # a number or "max" (typer takes no union annotation)
        None,
        "--speed",
        parser=speed_from_text,
        metavar="N|max",
        help="N× real time (at most 100), or max: as fast as it can (simulator only).",
    ),
    no_outcomes: bool = typer.Option(
        False, "--no-outcomes", help="Do not ask for pain and fatigue before and after."
    ),
    operator: str | None = typer.Option(
        None, "--operator", envvar="TENSCTL_OPERATOR", help="Who runs it (default: login)."
    ),
    db: Path | None = DB_OPTION,
    until_cap: bool = typer.Option(
        False,
        "--until-cap",
        help="Over the patient's daily cap: end the session at the cap instead of refusing it.",
    ),
    lsl: bool = typer.Option(
        False, "--lsl", help="Publish the session's markers and amplitudes on Lab Streaming Layer."
    ),
    lsl_wait: float = typer.Option(
        0.0,
        "--lsl-wait",
        min=0,
        max=3600,
        metavar="S",
        help="Wait up to S seconds for an LSL recorder before the session begins (implies --lsl).",
    ),
) -> None:
    """Run PROTOCOL on a device, with the safety checks, the supervisor and a live display.
    With --patient, the patient's outcomes (pain, fatigue, adverse events) are asked before
    and after; without one it is a demonstration and asks nothing once --yes is given."""
    chosen, _ = find_protocol(protocol)
    given, titrate = _split_intensities(intensity, chosen)
    ceilings = parse_intensities(ceiling, chosen, "--ceiling")
    check_speed(device, speed, virtual=False)  # before any question is asked
    check_patient(patient)
    _intensity_known(chosen, protocol, given, titrate)  # …and before the display opens
    if titrate and as_json:
        raise UsageError("titration (CH=SC2) needs the interactive display; give CH=MA with --json")
    if titrate and speed == "max":
        raise UsageError(
            "titration (CH=SC2) takes the patient's answers in real time; use --speed N, "
            "or give CH=MA with --speed max"
        )
    streams = _lsl_options(lsl, lsl_wait)  # a missing extra is said before any question
    screened = yes or _ask(SCREENING)
    ask = _asks_outcomes(patient, no_outcomes, as_json)
    before = ask_outcomes("before") if ask else None
    journal = db if db is not None else True
    with connect(device, profile=profile, speed=speed, journal=journal, operator=operator) as dev:
        session = dev.session(
            chosen,
            patient=patient,
            intensity=given,
            ceiling=ceilings,
            screened=screened,
            outcomes_before=before,
            screening="--yes" if yes else "confirmed at the prompt",
            until_cap=until_cap,
            lsl=streams,
        )
        if session.streams is not None and session.streams.recorder_connected is False:
            console.warning(
                f"no LSL recorder connected within {lsl_wait:g} s: publishing anyway, and what "
                "came before one connects is not in its recording"
            )
        if session.shortened:
            console.warning(session.shortened)
        lost = None
        if as_json:
            with JsonLines(session) as lines, session, Interrupts(session):
                state = lines.run()
            lost = lines.lost
        else:
            with session:
                state = live_session(session, dev, titrate)
        if ask:  # the session's end is on record first: a prompt left unanswered loses nothing
            _outcomes_after(session)
    _finish(session, state, lost)


def _lsl_options(lsl: bool, wait_s: float) -> LslOptions | bool:
    """``--lsl`` and ``--lsl-wait``: what the session publishes, said on stderr."""
    if not lsl and wait_s <= 0:
        return False
    load_pylsl()
    console.info(f"LSL: publishing {MARKER_NAME} and {AMPLITUDE_NAME} {describe_config()}")
    if wait_s > 0:
        console.info(f"LSL: waiting up to {wait_s:g} s for a recorder to connect")
    return LslOptions(wait_s=wait_s)


def _asks_outcomes(patient: str | None, no_outcomes: bool, as_json: bool) -> bool:
    """Outcomes are asked for a named patient at a terminal; a run without a patient is a
    demonstration (nothing to ask)."""
    if no_outcomes or as_json:
        return False
    if patient is None:
        console.info("no --patient: a demonstration run, no outcomes asked")
        return False
    if not sys.stdin.isatty():
        console.info(
            "outcomes not asked (no terminal); add them afterwards with "
            "`tensctl sessions outcomes ID --before … --after …`"
        )
        return False
    return True


def _intensity_known(
    protocol: Protocol, name: str, given: dict[int, float], titrate: dict[int, Threshold]
) -> None:
    """A protocol whose intensity is relative to a titrated threshold needs, for each
    channel, a level in mA or a titration first: refused with the command that would work."""
    for channel in protocol.channels:
        relative = protocol.channel_intensity(channel).relative_to
        if relative is None or channel.id in given or channel.id in titrate:
            continue
        ch = channel.id
        raise UsageError(
            f"protocol '{protocol.id}' sets channel {ch}'s intensity relative to the titrated "
            f"{relative.value} threshold, and none was given: name the level, e.g. "
            f"`tensctl run {name} -i {ch}=20`, or titrate first: "
            f"`tensctl run {name} -i {ch}={relative.value}`"
        )


def _outcomes_after(session: RunningSession) -> None:
    try:
        session.record_outcomes(ask_outcomes("after"))
    except (typer.Abort, KeyboardInterrupt, EOFError):
        console.warning(
            f"outcomes after the session not recorded; add them with "
            f"`tensctl sessions outcomes {session.record_id} --after …`"
        )


def _split_intensities(
    values: list[str], protocol: Protocol
) -> tuple[dict[int, float], dict[int, Threshold]]:
    numeric, titrate = [], {}
    for raw in values:
        ch, _, value = raw.partition("=")
        if value in Threshold.__members__:
            if not ch.isdigit():
                raise InputError([Problem(f"expected CH={value}, found '{raw}'", "--intensity")])
            titrate[int(ch)] = Threshold(value)
        else:
            numeric.append(raw)
    return parse_intensities(numeric, protocol), titrate


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        raise SafetyRefused(
            "contraindication screening not confirmed: answer the prompt or pass --yes"
        )
    return typer.confirm(question, default=False)


END_WORDS = {
    "completed": "session completed",
    "stopped_by_user": "session stopped by the user (ramped down to 0)",
    "emergency_stop": "emergency stop by the operator (every output to 0 at once)",
}
"""Why a session ended, as its run's last line says it."""


def _where(session: RunningSession) -> str:
    """Where the session is recorded, and the command that shows it."""
    recorder, sid = session.recorder, session.record_id
    if recorder is None or sid is None:
        return "not recorded"
    return f"recorded as session {sid} in {recorder.store_path} — tensctl sessions show {sid}"


def _finish(session: RunningSession, state: State, lost: str | None = None) -> None:
    """The run's last line: why the session ended, in words, and where it is recorded; the
    exit code from the table (0 completed, 6 fault, 7 stopped or emergency stop)."""
    reason = session.end_reason or state.value
    after = f"after {session.elapsed_s():.0f} s"
    where = _where(session)
    if reason.startswith("fault:") or state is State.fault:
        detail = session.fault_detail or reason.removeprefix("fault:")
        if "not acknowledged" in detail:  # the stop went out; the device never confirmed it
            raise FaultError(
                f"fault {after}: {detail}; the device did not confirm that its output is at "
                "0 — its own watchdog stops it once the controller is silent: check the "
                f"patient and the device; {where}"
            )
        raise FaultError(f"fault {after}: {detail}; every output was taken to 0; {where}")
    if lost is not None:
        raise ControllerLost(
            f"{lost}: the controlling program is gone; the session was ended "
            f"({reason.replace('_', ' ')}) {after}, output at 0; {where}"
        )
    if state is State.completed and reason == "completed":
        early = ", ended early at the daily cap" if session.shortened else ""
        console.success(f"session completed ({session.protocol.id}{early}) {after}; {where}")
        return
    said = END_WORDS.get(reason, f"session ended: {reason.replace('_', ' ')}")
    if "not acknowledged" in session.fault_detail:
        said += f" ({session.fault_detail}: check the patient and the device)"
    raise StoppedByUser(f"{said} {after}; {where}")
