"""`protocols validate`: one protocol's outcome — input problems or a safety report. A
protocol is named by its library id or by its file, as for every protocol command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensctl.cli import console
from tensctl.cli.options import parse_intensities
from tensctl.cli.report import finding_lines, findings_json
from tensctl.errors import InputError
from tensctl.model.device import DeviceProfile
from tensctl.model.electrodes import Electrode
from tensctl.model.intensity import resolve_intensities
from tensctl.model.library import protocol_dirs, resolve
from tensctl.model.loader import load_protocol
from tensctl.safety import SafetyReport, Severity, check_protocol


@dataclass
class FileResult:
    path: Path
    input_error: InputError | None = None
    report: SafetyReport | None = None
    basis: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": str(self.path), "evaluated_at": self.basis}
        if self.input_error is not None:
            out["ok"] = False
            out["errors"] = [vars(p) for p in self.input_error.problems]
        elif self.report is not None:
            out.update(findings_json(self.report))
        return out

    def print(self) -> None:
        if self.input_error is not None:
            for problem in self.input_error.problems:
                console.error(str(problem))
            return
        assert self.report is not None
        for line in finding_lines(self.report, diagnostics=False):
            console.err.print(f"{self.path}: {line}")
        if self.report.ok:
            warned = len(self.report.warnings)
            note = f" with {warned} warning(s)" if warned else ""
            console.success(f"{self.path}: valid and within limits{note} ({self.basis})")
        else:
            count = sum(f.severity is Severity.violation for f in self.report.findings)
            console.error(f"{self.path}: refused, {count} safety violation(s) ({self.basis})")


def validate_one(
    ref: str,
    device: DeviceProfile,
    electrode_area_cm2: float | None,
    intensity: list[str],
    acknowledged: list[str],
) -> FileResult:
    """``ref``: a library id (``conventional-hf``) or a file."""
    path = Path(ref)
    try:
        path = resolve(ref, protocol_dirs(), "protocol")
        protocol = load_protocol(path)
        given = parse_intensities(intensity, protocol)
        resolved = resolve_intensities(protocol, device, given)
    except InputError as exc:
        return FileResult(path, input_error=exc)
    electrodes: dict[int, list[Electrode]] | None = None
    if electrode_area_cm2 is not None:
        update = {"area_cm2": electrode_area_cm2, "catalogue": None}
        electrodes = {
            c.id: [e.model_copy(update=update) for e in c.electrodes] for c in protocol.channels
        }
    amps = {ch: r.amplitude_ma for ch, r in resolved.items()}
    report = check_protocol(protocol, device, amps, electrodes, acknowledged)
    basis = ", ".join(f"ch{ch} {r.amplitude_ma:g} mA {r.basis}" for ch, r in resolved.items())
    return FileResult(path, report=report, basis=f"on {device.id} at {basis}")
