"""``tensctl sim``: run the device simulator behind a pseudo-terminal or a TCP socket;
``tensctl sim scenarios``: the fault scenarios it can play."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from tensctl.cli import console
from tensctl.cli.options import JSON_OPTION
from tensctl.errors import DeviceError, InputError, Problem, UsageError
from tensctl.model.device import DeviceProfile
from tensctl.model.library import DEFAULT_DEVICE, find_device

sim_app = typer.Typer(
    help="Run the simulated stimulator until SIGINT/SIGTERM; the first line on stdout is its "
    "address. `tensctl sim scenarios` lists the fault scenarios it can play.",
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="[scenarios]",
)


@sim_app.callback(invoke_without_command=True)
def sim(
    ctx: typer.Context,
    pty: bool = typer.Option(False, "--pty", help="Serve on a new pseudo-terminal (default)."),
    tcp: str = typer.Option(
        "", "--tcp", metavar="HOST:PORT", help="Serve on a TCP socket (port 0: any free port)."
    ),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Allow --tcp on an address other than loopback."
    ),
    link: Path | None = typer.Option(
        None, "--link", help="Also make a symlink at PATH to the pty's device."
    ),
    profile: str = typer.Option(
        "", "--profile", help="Device profile id or file (default: the personality's own)."
    ),
    personality: str = typer.Option(
        "native",
        "--personality",
        help="The protocol it speaks: native (tensctl's), sciencemode2 (Hasomed RehaStim2) "
        "or sciencemode4 (Hasomed P24).",
    ),
    lenient_watchdog: bool = typer.Option(
        False,
        "--lenient-watchdog",
        help="A longer device watchdog, for clients that feed it irregularly (sciencemode2).",
    ),
    scenario: str = typer.Option(
        "", "--scenario", help="Fault scenario: file or shipped id (simulator/scenarios)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for injected link errors."),
    log: Path | None = typer.Option(
        None, "--log", help="Write every command and output change as JSON lines to FILE."
    ),
    serial: str = typer.Option(
        "SIM-0001",
        "--serial",
        help="Serial number the device reports (SIM- is put in front if it lacks it: the "
        "host knows a simulator by it).",
    ),
    control: Path | None = typer.Option(
        None, "--control", help="Take fault injections as JSON lines on a Unix socket at PATH."
    ),
    reset_clear_ms: float = typer.Option(
        3000,
        "--reset-clear-ms",
        min=0,
        help="How long a fault's cause must be gone before RESET_FAULT is accepted "
        "(firmware default 3000; lower it for benchmarks that reset often).",
    ),
) -> None:
    """Run the simulated stimulator until SIGINT/SIGTERM. The first line on stdout is its
    address: a device path (--pty) or a socket:// URL (--tcp). `tensctl sim scenarios`
    lists the fault scenarios for --scenario."""
    if ctx.invoked_subcommand is not None:
        return
    from tenssim.runner import TcpAddress, run
    from tenssim.scenario import load_scenario

    if pty and tcp:
        raise UsageError("choose one of --pty and --tcp")
    if link is not None and tcp:
        raise UsageError("--link makes a symlink to a pty; it does not apply to --tcp")
    address = None
    if tcp:
        try:
            address = TcpAddress.parse(tcp)
        except ValueError as exc:
            raise InputError([Problem(str(exc), "--tcp")]) from None
        if not address.is_loopback() and not allow_remote:
            raise UsageError(f"{address.host} is not a loopback address; add --allow-remote")
    device = _profile(profile, personality)
    chosen = load_scenario(scenario) if scenario else None

    def announce(text: str) -> None:
        sys.stdout.write(text + "\n")  # the address alone, for a script to read
        sys.stdout.flush()
        if personality != "native" and " " not in text:  # and for a person: the URL to use
            console.info(f"connect with --device {personality}://{text}")

    try:
        run(
            device,
            announce,
            address,
            link,
            chosen,
            seed,
            log,
            serial,
            control,
            reset_clear_s=reset_clear_ms / 1000,
            personality=personality,
            lenient_watchdog=lenient_watchdog,
        )
    except OSError as exc:
        where = tcp or "a pty"
        raise DeviceError(f"cannot serve on {where}: {exc.strerror or exc}") from None


def _profile(profile: str, personality: str) -> DeviceProfile:
    """The profile to simulate: a simulated one for the native protocol, a real device's
    for that device's personality."""
    from tenssim.personality import DEFAULT_PROFILES, PERSONALITIES

    if personality not in PERSONALITIES:
        known = ", ".join(sorted(PERSONALITIES))
        raise InputError(
            [Problem(f"unknown personality {personality!r} (known: {known})", "--personality")]
        )
    device, _ = find_device(profile or DEFAULT_PROFILES.get(personality, DEFAULT_DEVICE))
    if personality == "native" and not device.simulated:
        raise UsageError(
            f"profile '{device.id}' is a real device; the native simulator needs a simulated "
            "one (or choose that device's --personality)"
        )
    if personality != "native" and device.driver_scheme != personality:
        raise UsageError(
            f"profile '{device.id}' is driven over {device.driver_scheme}://, not {personality}://"
        )
    return device


@sim_app.command("scenarios")
def scenarios(as_json: bool = JSON_OPTION) -> None:
    """List the shipped fault scenarios, one line each: id and what happens."""
    from tenssim.scenario import load_scenario, scenario_files

    rows: list[dict[str, Any]] = []
    for path in scenario_files().values():
        chosen = load_scenario(str(path))
        rows.append(
            {
                "id": chosen.id,
                "description": " ".join(chosen.description.split()),
                "clock": chosen.clock,
                "events": len(chosen.events),
                "path": str(path),
            }
        )
    if as_json:
        console.emit_json(rows)
        return
    width = max((len(r["id"]) for r in rows), default=0)
    for r in rows:
        console.out.print(f"{r['id']:<{width}}  {r['description']}", markup=False)
    console.info(
        "times count from the first START unless a line says from power-up; "
        "play one with: tensctl sim --scenario ID"
    )
