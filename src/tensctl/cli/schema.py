"""``tensctl schema protocol|device``: JSON Schema of the file formats, for editors."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from tensctl.cli import console


class Kind(StrEnum):
    protocol = "protocol"
    device = "device"


def schema(
    kind: Kind = typer.Argument(..., help="Which format: protocol or device."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
) -> None:
    """Print the JSON Schema of protocol files or device profiles."""
    from tensctl.model import DeviceProfile, Protocol

    model = Protocol if kind is Kind.protocol else DeviceProfile
    data = model.model_json_schema()
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.success(f"wrote {output}")
