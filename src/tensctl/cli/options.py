"""Parsing of option values shared by several commands, with clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from tensctl.cli import console
from tensctl.errors import InputError, Problem, UsageError
from tensctl.model.device import DeviceProfile
from tensctl.model.library import DEFAULT_DEVICE, find_device
from tensctl.model.protocol import Protocol

PROFILE_OPTION = typer.Option(
    DEFAULT_DEVICE, "--profile", "-p", help="Device profile id or path (see `devices profiles`)."
)
"""One name per meaning: ``--profile`` is a device profile everywhere, ``--device`` a device
URL everywhere (``run``)."""
FORMER_DEVICE_OPTION = typer.Option(None, "--device", "-d", hidden=True)
"""``--device`` on a command that takes a profile, not a device: it named a profile there
once; it is refused with the option to use (:func:`refuse_device_option`), never taken
with a changed meaning."""


def refuse_device_option(value: str | None, command: str) -> None:
    """A clear usage error if ``--device`` was given to ``command``, which takes no device."""
    if value is None:
        return
    if "://" in value or value.startswith(("/dev/", "COM")):
        raise UsageError(
            f"--device is a device URL (as in `tensctl run`), and `tensctl {command}` talks to "
            "no device: give the device's profile with --profile ID (see `tensctl devices "
            "profiles`)"
        )
    raise UsageError(
        f"--device is a device URL (as in `tensctl run`); `tensctl {command}` takes a device "
        f"profile: use --profile {value}"
    )


INTENSITY_OPTION = typer.Option(
    [],
    "--intensity",
    "-i",
    help="Evaluate at this amplitude: MA for every channel or CH=MA (repeatable). "
    "Default: the protocol's target, else the ceiling, else the device maximum.",
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")
INCLUDE_SIMULATED_OPTION = typer.Option(
    False,
    "--include-simulated",
    help="Also the sessions on a simulator (marked as such; never in a trend).",
)


def say_simulated_left_out(sessions: int, verb: str = "show", patients: int = 0) -> None:
    """On stderr: how many sessions on a simulator were left out (and how many patients had
    nothing else), and how to have them — one wording for every command that leaves them out."""
    if not sessions:
        return
    who = f" ({patients} patient(s) with no other sessions)" if patients else ""
    console.info(
        f"left out: {sessions} session(s) on the simulator{who}; "
        f"add --include-simulated to {verb} them"
    )


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError([Problem(f"expected a number of mA, found '{text}'", what)]) from None
    if not math.isfinite(value) or value < 0:
        raise InputError([Problem(f"expected a finite number ≥ 0, found '{text}'", what)])
    return value


def parse_intensities(
    values: list[str], protocol: Protocol, option: str = "--intensity"
) -> dict[int, float]:
    """``["30"]`` → every channel at 30 mA; ``["1=20", "2=25"]`` → per channel."""
    out: dict[int, float] = {}
    for raw in values:
        if "=" in raw:
            ch_text, ma_text = raw.split("=", 1)
            try:
                channel = int(ch_text)
            except ValueError:
                raise InputError(
                    [Problem(f"expected CH=MA with a channel number, found '{raw}'", option)]
                ) from None
            out[channel] = _number(ma_text, option)
        else:
            value = _number(raw, option)
            out.update({c.id: value for c in protocol.channels})
    return out


def load_device_option(ref: str) -> tuple[DeviceProfile, Path]:
    return find_device(ref)


DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="TENSCTL_DB",
    help="Session store (SQLite). Default: sessions.sqlite3 in the user data directory.",
    show_envvar=True,
)
