"""``tensctl devices``: the shipped device profiles (probe and scan come with the drivers)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import JSON_OPTION
from tensctl.model.library import device_dirs, library_files
from tensctl.model.loader import load_device

devices_app = typer.Typer(help="Device profiles and devices.", no_args_is_help=True)


@devices_app.command("profiles")
def profiles(as_json: bool = JSON_OPTION) -> None:
    """List device profiles: channels, amplitude, pulse width and frequency ranges, source."""
    rows: list[dict[str, Any]] = []
    for path in library_files(device_dirs()).values():
        d = load_device(path)
        rows.append(
            {
                "id": d.id,
                "model": d.model,
                "vendor": d.vendor,
                "scheme": d.driver_scheme,
                "channels": d.channels,
                "amplitude_max_ma": d.amplitude.max_ma,
                "pulse_width_us": [d.pulse_width_us.min, d.pulse_width_us.max],
                "frequency_hz": [d.frequency_hz.min, d.frequency_hz.max],
                "simulated": d.simulated,
                "source": d.datasheet.citation if d.datasheet else "simulator (tensctl)",
                "path": str(path),
            }
        )
    if as_json:
        console.emit_json(rows)
        return
    table = Table(title="Device profiles", title_justify="left")
    for col in ("id", "model", "scheme", "ch", "max mA", "pulse width µs", "frequency Hz"):
        table.add_column(col)
    for r in rows:
        pw, f = r["pulse_width_us"], r["frequency_hz"]
        table.add_row(
            r["id"],
            f"{r['vendor']} {r['model']}",
            f"{r['scheme']}://",
            str(r["channels"]),
            f"{r['amplitude_max_ma']:g}",
            f"{pw[0]:g}–{pw[1]:g}",
            f"{f[0]:g}–{f[1]:g}",
        )
    console.out.print(table)
