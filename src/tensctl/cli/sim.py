"""``tensctl sim``: run the device simulator behind a pseudo-terminal or a TCP socket."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tensctl.errors import DeviceError, InputError, Problem, UsageError
from tensctl.model.library import DEFAULT_DEVICE, find_device


def sim(
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
    profile: str = typer.Option(DEFAULT_DEVICE, "--profile", help="Device profile id or file."),
    scenario: str = typer.Option(
        "", "--scenario", help="Fault scenario: file or shipped id (simulator/scenarios)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for injected link errors."),
    log: Path | None = typer.Option(
        None, "--log", help="Write every command and output change as JSON lines to FILE."
    ),
    serial: str = typer.Option("TS-0001", "--serial", help="Serial number the device reports."),
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
    address: a device path (--pty) or a socket:// URL (--tcp)."""
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
    device, _ = find_device(profile)
    if not device.simulated:
        raise UsageError(
            f"profile '{device.id}' is a real device; the simulator needs a simulated one"
        )
    chosen = load_scenario(scenario) if scenario else None

    def announce(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

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
        )
    except OSError as exc:
        where = tcp or "a pty"
        raise DeviceError(f"cannot serve on {where}: {exc.strerror or exc}") from None
