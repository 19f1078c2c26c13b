"""The error tree of tensctl and the one table that maps errors to exit codes.

Every error that can reach a user is a :class:`TensctlError`. The CLI turns it into
one readable line per problem on stderr and exits with ``exit_code``. README's
"Exit codes" section is generated from :data:`EXIT_CODES` by hand and a test keeps
the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_CODES: dict[str, tuple[int, str]] = {
    "ok": (0, "success: the command did what it was asked"),
    "internal": (1, "internal error (a bug: please report it with the command you ran)"),
    "usage": (2, "bad command line: unknown option, missing or malformed argument"),
    "input": (3, "invalid input file or value: YAML syntax, schema, or out-of-range field"),
    "safety": (4, "refused by the safety check: the protocol is not provably within limits"),
    "device": (5, "device error: cannot open, identify or talk to the device"),
    "fault": (6, "a fault latched during the session (output was taken to 0)"),
    "stopped": (
        7,
        "the session was stopped by the user before it completed: `s` or Ctrl-C (ramped "
        "down), or an emergency stop (Esc or a second Ctrl-C)",
    ),
    "missing_extra": (8, "an optional feature's dependencies are not installed"),
    "store": (9, "the session store cannot be opened, read or written"),
    "tampered": (10, "a stored session record was changed, cut or removed (verify)"),
    "controller_lost": (
        11,
        "run --json: the controlling program went away (stdout closed or not read, stdin "
        "closed); the session was ramped down",
    ),
}


def exit_code(name: str) -> int:
    return EXIT_CODES[name][0]


UNNAMED_SOURCES = frozenset({"<argument>", "<api>"})
"""Sources that say only which kind of caller gave a value — framework words that never
reach a user: the problem's path (``ID``, ``intensity[1]``) or its message names it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, and what is wrong with it."""

    message: str
    source: str = ""  # file name or option ("--intensity"); see :data:`UNNAMED_SOURCES`
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    path: str = ""  # field path inside the document, e.g. phases[0].frequency_hz

    def location(self) -> str:
        """Where, in the user's words: a file (and line), an option, or nothing when the
        value came from a command argument or an API call (the path then names it)."""
        where = "" if self.source in UNNAMED_SOURCES else self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        parts = [p for p in (self.location(), self.path) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class TensctlError(Exception):
    """Base of every error tensctl reports to a user."""

    kind = "internal"

    @property
    def exit_code(self) -> int:
        return exit_code(self.kind)

    def lines(self) -> list[str]:
        return [str(self)]


class UsageError(TensctlError):
    kind = "usage"


class WrongState(UsageError):
    """A command the session cannot take in its present state (``resume`` while running):
    refused, the session and its output as they were."""


class InputError(TensctlError):
    """An input (file, argument, API value) failed validation. Carries every problem found."""

    kind = "input"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class SafetyRefused(TensctlError):
    kind = "safety"


class DeviceError(TensctlError):
    kind = "device"


class FaultError(TensctlError):
    kind = "fault"


class StoppedByUser(TensctlError):
    kind = "stopped"


class MissingExtra(TensctlError):
    kind = "missing_extra"


class StoreError(TensctlError):
    kind = "store"


class TamperedRecord(TensctlError):
    kind = "tampered"


class ControllerLost(TensctlError):
    """``run --json``: the program reading stdout and writing stdin went away; the session
    was ended with a ramp-down (an emergency stop if it could not ramp)."""

    kind = "controller_lost"
