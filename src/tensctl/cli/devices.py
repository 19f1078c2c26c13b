"""``tensctl devices``: the shipped device profiles; probing, scanning for and resetting
devices."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import typer
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import JSON_OPTION
from tensctl.drivers.base import DeviceInfo, Driver, DriverOptions
from tensctl.drivers.errors import CommandRefused, DeviceBusy, DriverError, LinkLost
from tensctl.drivers.registry import open_driver
from tensctl.errors import DeviceError
from tensctl.model.library import device_dirs, library_files
from tensctl.model.loader import load_device

devices_app = typer.Typer(help="Device profiles and devices.", no_args_is_help=True)


@contextmanager
def answering(url: str) -> Iterator[Driver]:
    """The driver for ``url``, opened; a device that does not answer in the URL's protocol
    but does in another is named, with the URL to use (a device error, not a fault: the
    device is fine, the URL is wrong)."""
    from tensctl.drivers.sniff import other_protocol

    try:
        with open_driver(url) as driver:
            yield driver
    except LinkLost as exc:
        found = other_protocol(url)
        if found is None:
            raise
        raise DeviceError(f"{exc}; {found.hint()}") from None


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


def _identity_rows(info: DeviceInfo) -> list[tuple[str, str]]:
    pw, f = info.pulse_width_us, info.frequency_hz
    return [
        ("model", info.model),
        ("firmware", info.firmware),
        ("serial", info.serial or "not reported by this device"),
        *([("simulator", "yes: its sessions are recorded as simulated")] if info.simulated else []),
        ("channels", str(info.channels)),
        ("amplitude", f"0–{info.max_amplitude_ma:g} mA"),
        ("pulse width", f"{pw[0]:g}–{pw[1]:g} µs"),
        ("frequency", f"{f[0]:g}–{f[1]:g} Hz"),
        ("charge per phase", f"≤ {info.max_charge_per_phase_uc:g} µC"),
        ("compliance voltage", f"{info.compliance_voltage_v:g} V"),
        ("watchdog", f"{info.watchdog_ms:g} ms"),
        ("slew limit", f"{info.slew_step_ma:g} mA/step, {info.slew_rate_ma_per_s:g} mA/s"),
    ]


def _ohm(value: float) -> str:
    if math.isnan(value):
        return "not measured by this device"
    return "open circuit" if math.isinf(value) else f"{value:,.0f} Ω"


@devices_app.command("probe")
def probe(
    url: str = typer.Argument(..., help="Device URL: sim://, /dev/ttyUSB0, socket://HOST:PORT"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Connect to a device and show its identity, limits and each channel's impedance."""
    with answering(url) as driver:
        info = driver.identify()
        impedance = {ch: driver.measure_impedance(ch) for ch in range(1, info.channels + 1)}
    if as_json:
        data = asdict(info) | {
            "simulated": info.simulated,
            "url": url,
            # null: an open circuit (inf) or a device that cannot measure it (nan)
            "impedance_ohm": {
                str(ch): z if math.isfinite(z) else None for ch, z in impedance.items()
            },
            "impedance_measured": not any(math.isnan(z) for z in impedance.values()),
        }
        console.emit_json(data)
        return
    table = Table(title=f"Device at {url}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for name, value in _identity_rows(info):
        table.add_row(name, value)
    for ch, z in impedance.items():
        table.add_row(f"channel {ch} impedance", _ohm(z))
    console.out.print(table)


@devices_app.command("reset")
def reset(
    url: str = typer.Argument(..., help="Device URL: sim://, /dev/ttyUSB0, socket://HOST:PORT"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Clear a device's latched faults (after its own watchdog stopped the output, say).

    Every channel is stopped first; the device clears a fault only once its cause has been
    gone a while (it says so if not). Output stays at 0: a session starts again from 0."""
    with answering(url) as driver:
        info = driver.identify()
        channels = list(range(1, info.channels + 1))
        driver.stop(channels)
        try:
            driver.reset_fault(channels)
        except CommandRefused as exc:
            raise DeviceError(f"{url}: the device kept its fault: {exc}") from None
    if as_json:
        console.emit_json({"url": url, "reset": True, "channels": channels})
        return
    listed = ", ".join(str(ch) for ch in channels)
    console.out.print(f"{url}: faults cleared on channel(s) {listed}; every output is at 0")


@devices_app.command("scan")
def scan(
    port: list[str] = typer.Option(
        [], "--port", help="Also try this port (repeatable), e.g. a simulator's pty."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Try every serial port (and each --port) and list those that answer IDENTIFY."""
    from serial.tools.list_ports import comports

    candidates = list(dict.fromkeys([p.device for p in comports()] + port))
    found: list[dict[str, Any]] = []
    for path in candidates:
        try:
            with open_driver(path, DriverOptions(timeout_s=0.3, retries=0)) as driver:
                info = driver.identify()
        except DeviceBusy:
            found.append({"port": path, "status": "busy"})
        except (DriverError, LinkLost):
            continue  # not a tensctl device, or nothing there
        else:
            found.append({"port": path, "status": "ok", "simulated": info.simulated} | asdict(info))
    if as_json:
        console.emit_json(found)
        return
    table = Table(title=f"Devices ({len(candidates)} ports tried)", title_justify="left")
    for col in ("port", "model", "firmware", "serial", "channels"):
        table.add_column(col)
    for r in found:
        if r["status"] == "busy":
            table.add_row(r["port"], "(in use by another program)", "", "", "")
        else:
            table.add_row(r["port"], r["model"], r["firmware"], r["serial"], str(r["channels"]))
    if found:
        console.out.print(table)
    else:
        console.out.print(f"no device answered on {len(candidates)} port(s) tried")
