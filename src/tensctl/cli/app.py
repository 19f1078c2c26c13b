"""The ``tensctl`` command: registers the command groups and is the one way out.

:func:`main` runs the click command in non-standalone mode so that every error — a
:class:`~tensctl.errors.TensctlError`, a usage error, an interrupt, or a bug — is turned into
a message and an exit code here, and no traceback reaches the user (set ``TENSCTL_DEBUG=1``
to see one).
"""

from __future__ import annotations

import os
import sys

import typer

from tensctl import __version__
from tensctl.cli import console
from tensctl.cli.devices import devices_app
from tensctl.cli.patients import patients_app
from tensctl.cli.protocols import protocols_app
from tensctl.cli.run import run_command
from tensctl.cli.schema import schema
from tensctl.cli.sessions import sessions_app
from tensctl.cli.sim import sim
from tensctl.errors import TensctlError, exit_code

app = typer.Typer(
    name="tensctl",
    help="Controller for TENS stimulators: protocols, safety checks, devices, sessions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(protocols_app, name="protocols")
app.add_typer(devices_app, name="devices")
app.add_typer(sessions_app, name="sessions")
app.add_typer(patients_app, name="patients")
app.command(name="schema")(schema)
app.command(name="sim")(sim)
app.command(name="run")(run_command)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"tensctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Controller for TENS stimulators."""


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="tensctl", standalone_mode=False)
    except TensctlError as exc:
        for line in exc.lines():
            console.error(line)
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            console.error(exc.format_message())
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.error("interrupted")
        code = 130
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("TENSCTL_DEBUG"):
            raise
        console.error(f"internal error: {type(exc).__name__}: {exc}")
        console.info("this is a bug in tensctl; run with TENSCTL_DEBUG=1 for details")
        code = exit_code("internal")
    else:
        code = result if isinstance(result, int) else 0
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
