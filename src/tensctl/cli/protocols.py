"""``tensctl protocols``: list, show, validate and plot protocol files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tensctl.cli import console
from tensctl.cli.options import (
    DB_OPTION,
    FORMER_DEVICE_OPTION,
    INTENSITY_OPTION,
    JSON_OPTION,
    PROFILE_OPTION,
    load_device_option,
    parse_intensities,
    refuse_device_option,
)
from tensctl.cli.report import dose_rows, finding_lines, findings_json
from tensctl.cli.summary import (
    duration_text,
    frequency_text,
    protocol_frequency_text,
    pulse_width_text,
    source_text,
)
from tensctl.errors import InputError, Problem, UsageError, exit_code
from tensctl.model.library import find_protocol, library_files, protocol_dirs
from tensctl.model.loader import load_protocol

protocols_app = typer.Typer(
    help="Protocol files: list, show, validate, plot.", no_args_is_help=True
)


@protocols_app.command("list")
def list_protocols(as_json: bool = JSON_OPTION) -> None:
    """List the protocol library: id, mode, frequency, duration, source."""
    rows: list[dict[str, Any]] = []
    for path in library_files(protocol_dirs()).values():
        p = load_protocol(path)
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "mode": p.mode_summary(),
                "frequency": protocol_frequency_text(p),
                "duration_s": p.total_duration_s,
                "source": source_text(p),
                "path": str(path),
            }
        )
    if as_json:
        console.emit_json(rows)
        return
    table = Table(title="Protocol library", title_justify="left")
    for col in ("id", "mode", "frequency", "duration", "source"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"], r["mode"], r["frequency"], duration_text(r["duration_s"]), r["source"]
        )
    console.out.print(table)


@protocols_app.command("show")
def show(
    ref: str = typer.Argument(..., metavar="ID|PATH", help="Library id or path of a file."),
    device_ref: str = PROFILE_OPTION,
    former_device: str | None = FORMER_DEVICE_OPTION,
    intensity: list[str] = INTENSITY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A readable summary with per-phase r.m.s. current, charge and current density."""
    refuse_device_option(former_device, "protocols show")
    from tensctl.model.intensity import resolve_intensities
    from tensctl.safety import check_protocol

    protocol, path = find_protocol(ref)
    device, _ = load_device_option(device_ref)
    resolved = resolve_intensities(protocol, device, parse_intensities(intensity, protocol))
    amps = {ch: r.amplitude_ma for ch, r in resolved.items()}
    report = check_protocol(protocol, device, amps)
    doses = dose_rows(protocol, amps)
    if as_json:
        console.emit_json(
            {
                "protocol": protocol.model_dump(mode="json"),
                "path": str(path),
                "device": device.id,
                "intensities": {ch: vars(r) for ch, r in resolved.items()},
                "doses": doses,
                "findings": findings_json(report),
            }
        )
        return
    _print_show(protocol, path, device.id, resolved, doses, report)


def _print_show(
    protocol: Any, path: Path, device_id: str, resolved: Any, doses: Any, report: Any
) -> None:
    out = console.out
    out.print(f"[bold]{protocol.name}[/] ({protocol.id})  —  {path}")
    if protocol.description:
        out.print(protocol.description.strip())
    if protocol.indications:
        out.print("Indications: " + "; ".join(protocol.indications))
    for ref in protocol.references:
        out.print(f"  • {ref.citation}" + (f"  doi:{ref.doi}" if ref.doi else ""))
    if protocol.notes:
        out.print(f"[italic]{protocol.notes.strip()}[/]")
    s = protocol.session
    cap = f", daily cap {duration_text(s.daily_cap_s)}" if s.daily_cap_s else ""
    out.print(
        f"Session: {duration_text(protocol.total_duration_s)} of phases, timer "
        f"{duration_text(s.max_duration_s)}{cap}"
    )
    for c in protocol.channels:
        pads = ", ".join(f"{e.site} {e.effective_area_cm2:g} cm²" for e in c.electrodes)
        r = resolved[c.id]
        out.print(
            f"Channel {c.id}{' (' + c.label + ')' if c.label else ''}: {pads}; "
            f"evaluated at {r.amplitude_ma:g} mA ({r.basis})"
        )
    phases = Table(title=f"Phases (on {device_id})", title_justify="left")
    for col in ("#", "name", "duration", "mode", "frequency", "pulse width", "ramps"):
        phases.add_column(col)
    for i, ph in enumerate(protocol.phases):
        ramps = f"↑{ph.ramp_up_s:g} s ↓{ph.ramp_down_s:g} s"
        if ph.cycling:
            ramps += f", on {ph.cycling.on_s:g} s / off {ph.cycling.off_s:g} s"
        phases.add_row(
            str(i),
            ph.name,
            duration_text(ph.duration_s),
            ph.mode.type,
            frequency_text(ph),
            pulse_width_text(ph),
            ramps,
        )
    out.print(phases)
    dose = Table(
        title="Dose at the evaluated intensity (worst case over each phase)", title_justify="left"
    )
    for col in ("phase", "ch", "peak mA", "I rms mA", "charge/phase µC", "density mA/cm²"):
        dose.add_column(col, justify="right")
    for d in doses:
        dose.add_row(
            str(d["phase"]),
            str(d["channel"]),
            f"{d['peak_ma']:g}",
            f"{d['rms_ma']:.2f}",
            f"{d['charge_per_phase_uc']:.2f}",
            f"{d['current_density_ma_per_cm2']:.3f}",
        )
    out.print(dose)
    for line in finding_lines(report):
        out.print(line)


@protocols_app.command("validate")
def validate(
    refs: list[str] = typer.Argument(
        ..., metavar="ID|PATH", help="Protocols to check: library ids or files."
    ),
    device_ref: str = PROFILE_OPTION,
    former_device: str | None = FORMER_DEVICE_OPTION,
    electrode_area: float | None = typer.Option(
        None,
        "--electrode-area",
        min=0.01,
        max=1000.0,
        help="Check as if every electrode had this area in cm².",
    ),
    intensity: list[str] = INTENSITY_OPTION,
    acknowledge: list[str] = typer.Option(
        [], "--acknowledge", help="Acknowledge a blocking rule that allows it (current_density)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Load each protocol (a library id or a file) and run the static safety check on a
    device profile."""
    refuse_device_option(former_device, "protocols validate")
    from tensctl.cli.validate import validate_one
    from tensctl.safety import ACK_CURRENT_DENSITY

    for rule in acknowledge:
        if rule != ACK_CURRENT_DENSITY:
            raise UsageError(
                f"--acknowledge: '{rule}' cannot be acknowledged; only {ACK_CURRENT_DENSITY}"
            )
    device, _ = load_device_option(device_ref)
    results = [validate_one(r, device, electrode_area, intensity, acknowledge) for r in refs]
    if as_json:
        console.emit_json({"device": device.id, "files": [r.to_json() for r in results]})
    else:
        for r in results:
            r.print()
    if any(r.input_error for r in results):
        raise typer.Exit(exit_code("input"))
    if any(r.report is not None and not r.report.ok for r in results):
        raise typer.Exit(exit_code("safety"))


@protocols_app.command("plot")
def plot(
    ref: str = typer.Argument(..., metavar="ID|PATH"),
    output: Path = typer.Option(..., "-o", "--output", help="Image file: .png or .svg."),
    device_ref: str = PROFILE_OPTION,
    former_device: str | None = FORMER_DEVICE_OPTION,
    intensity: list[str] = INTENSITY_OPTION,
    patient: str | None = typer.Option(
        None,
        "--patient",
        help="Draw the amplitude at this patient's last titration (from the session store).",
    ),
    db: Path | None = DB_OPTION,
) -> None:
    """Plot per-channel amplitude, frequency and pulse width over the whole session. The
    amplitude is drawn at the worst case unless --intensity or --patient says otherwise;
    the plot says which."""
    refuse_device_option(former_device, "protocols plot")
    from tensctl.cli.plot import intensity_of, plot_protocol
    from tensctl.model.intensity import resolve_intensities

    if output.suffix.lower() not in (".png", ".svg"):
        raise InputError(
            [Problem(f"expected a .png or .svg file, found '{output.name}'", "--output")]
        )
    protocol, _ = find_protocol(ref)
    device, _ = load_device_option(device_ref)
    given = parse_intensities(intensity, protocol)
    resolved = resolve_intensities(protocol, device, given)
    titration = ""
    if patient is not None:
        resolved, titration = _at_titration(protocol, device, given, patient, db)
    shown = intensity_of(resolved, patient, titration)
    plot_protocol(protocol, {ch: r.amplitude_ma for ch, r in resolved.items()}, output, shown)
    console.success(f"wrote {output} ({shown.detail})")


def _at_titration(
    protocol: Any, device: Any, given: dict[int, float], patient: str, db: Path | None
) -> tuple[dict[int, Any], str]:
    """Each channel at the patient's last titration (on real devices, else on the
    simulator, said so), and which titration that was, in words."""
    from tensctl.api_args import check_patient
    from tensctl.journal.clock import local_text
    from tensctl.journal.store import Store
    from tensctl.model.intensity import resolve_intensities
    from tensctl.model.protocol import Threshold

    check_patient(patient)
    with Store(db, must_exist=True, read_only=True) as store:
        found = store.last_titration(patient)
        where = ""
        if found is None:
            found, where = store.last_titration(patient, simulated=True), ", on the simulator"
    if found is None:
        raise InputError([Problem(f"no titration recorded for patient '{patient}'", "--patient")])
    resolved = {}
    for channel in protocol.channels:
        marks = {Threshold(k): v for k, v in found["values"].get(channel.id, {}).items()}
        resolved[channel.id] = resolve_intensities(protocol, device, given, marks)[channel.id]
        relative = protocol.channel_intensity(channel).relative_to
        if channel.id not in given and relative is not None and relative not in marks:
            console.warning(
                f"patient {patient}'s last titration has no {relative} on channel "
                f"{channel.id}: drawn at the worst case"
            )
    when = local_text(found["started_utc"], date_only=True)
    return resolved, f"session {found['session_id']}, {when}{where}"
