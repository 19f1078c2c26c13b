"""The one console of the CLI: data on stdout, diagnostics on stderr, a fixed vocabulary."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")


def warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}")


def success(message: str) -> None:
    err.print(f"[green]ok:[/] {escape(message)}")


def info(message: str) -> None:
    err.print(escape(message))


documents_emitted = 0
"""How many JSON documents this command printed: one that says how it went (``sessions
verify --json``) is not followed by a JSON error object (``tensctl.cli.app``)."""


def emit_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout, nothing decorated."""
    global documents_emitted
    documents_emitted += 1
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
