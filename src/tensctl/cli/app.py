"""The ``tensctl`` command: registers the command groups and is the one way out.

:func:`main` runs the click command in non-standalone mode so that every error — a
:class:`~tensctl.errors.TensctlError`, a usage error, an interrupt, or a bug — is turned into
a message and an exit code here, and no traceback reaches the user (set ``TENSCTL_DEBUG=1``
to see one).

With ``--json`` (on a command that takes it), an error is also one JSON object on one line of
stdout — ``{"error": …, "kind": …, "exit_code": …, "problems": [{"message": …, "where": …}]}``
— unless the command has already printed its own JSON result saying what went wrong
(``sessions verify``, ``protocols validate``), or nobody reads stdout any more (exit 11 of
``run --json``: the controlling program went away). One line, so that it also ends the
JSON-lines stream of ``run --json``, where it is an event like the others (``"event":
"exit"``). The text on stderr stays, for a person watching.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

from tensctl import __version__
from tensctl.cli import console
from tensctl.cli.devices import devices_app
from tensctl.cli.patients import patients_app
from tensctl.cli.protocols import protocols_app
from tensctl.cli.run import run_command
from tensctl.cli.schema import schema
from tensctl.cli.sessions import sessions_app
from tensctl.cli.sim import sim_app
from tensctl.errors import ControllerLost, InputError, StoppedByUser, TensctlError, exit_code

app = typer.Typer(
    name="tensctl",
    help="Controller for TENS stimulators: protocols, safety checks, devices, sessions.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.add_typer(protocols_app, name="protocols")
app.add_typer(devices_app, name="devices")
app.add_typer(sessions_app, name="sessions")
app.add_typer(patients_app, name="patients")
app.command(name="schema")(schema)
app.add_typer(sim_app, name="sim")
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


TYPE_WORDS = {"str": "TEXT", "int": "NUMBER", "float": "NUMBER", "Path": "PATH"}
"""How help names what an option takes — words, not the Python types typer would show."""


def _shown_as(word: str) -> Callable[[object], str]:
    def shown(ctx: object) -> str:
        return word

    return shown


def plain_help(command: Any) -> Any:
    """Help in the user's words: an option's value is named TEXT, NUMBER or PATH (typer
    would print ``<str>``, ``<list[str]>``), an argument by its name, a flag (and --help)
    by nothing. Options that name their value (``metavar=``) keep it."""
    help_option = command.get_help_option(command.context_class(command))
    for param in [*command.params, help_option]:
        if param is None:
            continue
        if isinstance(param, TyperArgument | TyperOption):
            bare = param.bare_type().removeprefix("list[").removesuffix("]")  # repeatable
            word = TYPE_WORDS.get(bare, bare.upper())
        else:
            word = "TEXT"
        if isinstance(param, TyperArgument):  # named by itself; what it takes in words
            param.metavar = param.metavar or (param.name or "value").upper()
            param.display_type_rich = _shown_as(word)  # type: ignore[method-assign,assignment]
        elif param.metavar is not None:
            continue
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        else:
            param.metavar = word
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


JSON_LINES_COMMANDS = frozenset({"run"})
"""Commands whose ``--json`` output is a stream of events, one a line: the error object is
one more event (``"event": "exit"``)."""


def wants_json(command: Any, args: list[str]) -> str | None:
    """The name of the command the command line names if it asks it for JSON (``--json``
    among the words before a ``--``, and an option of that command), else None. Read from
    the words, so that it is known however far the command got — a usage error included."""
    if "--" in args:
        args = args[: args.index("--")]
    if "--json" not in args:
        return None
    node, name = command, ""
    for word in args:
        sub = getattr(node, "commands", {}).get(word)
        if sub is not None:
            node, name = sub, word
    takes_json = any("--json" in getattr(param, "opts", ()) for param in node.params)
    return name if takes_json else None


def _where(exc: BaseException) -> str:
    """The option or argument a usage error is about, as the user typed it."""
    name = getattr(exc, "option_name", None)
    if isinstance(name, str):
        return name
    param = getattr(exc, "param", None)
    opts = getattr(param, "opts", None)
    if opts:
        return str(opts[-1] if getattr(param, "param_type_name", "") == "option" else opts[0])
    return ""


def error_json(
    kind: str, code: int, message: str, exc: BaseException | None = None
) -> dict[str, Any]:
    """The JSON error object."""
    if isinstance(exc, InputError):
        problems = [
            {"message": p.message, "where": ": ".join(w for w in (p.location(), p.path) if w)}
            for p in exc.problems
        ]
    elif isinstance(exc, TensctlError):
        problems = [{"message": line, "where": ""} for line in exc.lines()]
    else:
        problems = [{"message": message, "where": _where(exc) if exc is not None else ""}]
    return {"error": message, "kind": kind, "exit_code": code, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    command = plain_help(typer.main.get_command(app))
    json_command = wants_json(command, sys.argv[1:] if argv is None else list(argv))
    console.documents_emitted = 0
    said: dict[str, Any] | None = None  # the JSON error object, with --json
    try:
        result = command.main(args=argv, prog_name="tensctl", standalone_mode=False)
    except StoppedByUser as exc:  # the operator's own act: said as what it was, not an error
        for line in exc.lines():
            console.warning(line)
        code = exc.exit_code
        said = error_json(exc.kind, code, str(exc), exc)
    except ControllerLost as exc:  # the program reading stdout is gone, or stdout is blocked:
        for line in exc.lines():  # a line written there could only block, never be read
            console.error(line)
        code = exc.exit_code
    except TensctlError as exc:
        for line in exc.lines():
            console.error(line)
        code = exc.exit_code
        said = error_json(exc.kind, code, str(exc), exc)
    except typer.Exit as exc:  # the command has said what it had to
        code = exc.exit_code
    except SystemExit as exc:  # shell completion (--show-completion, _TENSCTL_COMPLETE) ends so
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            console.error(exc.format_message())
        code = exc.exit_code
        said = error_json("usage", code, exc.format_message(), exc)
    except (typer.Abort, KeyboardInterrupt):
        console.error("interrupted")
        code = 130
        said = error_json("interrupted", code, "interrupted")
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("TENSCTL_DEBUG"):
            raise
        console.error(f"internal error: {type(exc).__name__}: {exc}")
        console.info("this is a bug in tensctl; run with TENSCTL_DEBUG=1 for details")
        code = exit_code("internal")
        said = error_json("internal", code, f"internal error: {type(exc).__name__}: {exc}")
    else:
        code = result if isinstance(result, int) else 0
    if json_command is not None and said is not None and not console.documents_emitted:
        if json_command in JSON_LINES_COMMANDS:
            said = {"event": "exit"} | said
        with contextlib.suppress(OSError, ValueError):  # stdout gone (run --json, code 11)
            print(json.dumps(said, ensure_ascii=False), flush=True)
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
