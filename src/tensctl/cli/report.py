"""Dose tables and safety findings as text and JSON, for `protocols show` and `validate`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensctl.model.protocol import Protocol, Waveform
from tensctl.safety import SafetyReport, Severity
from tensctl.safety import formulas as fx

_STYLE = {
    Severity.violation: "[bold red]✗ violation[/]",
    Severity.warning: "[yellow]! warning[/]",
    Severity.diagnostic: "[dim]· diagnostic[/]",
}


def dose_rows(protocol: Protocol, intensities_ma: Mapping[int, float]) -> list[dict[str, Any]]:
    """Per phase and channel: worst-case r.m.s. current, charge per phase, current density."""
    rows = []
    for p_idx, phase in enumerate(protocol.phases):
        a, w = 1.0, 1.0
        if phase.waveform is Waveform.asymmetric_biphasic and phase.secondary_phase:
            a, w = phase.secondary_phase.amplitude_ratio, phase.secondary_phase.width_ratio
        factor = fx.phase_factor(a, w)
        points = phase.operating_points()
        for channel in protocol.channels:
            peak = intensities_ma[channel.id]
            area = min(e.effective_area_cm2 for e in channel.electrodes)
            rms = max(
                fx.rms_current_ma(peak, pt.pulse_width_us, pt.pulse_rate_hz, factor)
                for pt in points
            )
            charge = max(fx.charge_per_phase_uc(peak, pt.pulse_width_us) for pt in points)
            rows.append(
                {
                    "phase": p_idx,
                    "channel": channel.id,
                    "peak_ma": peak,
                    "rms_ma": rms,
                    "charge_per_phase_uc": charge,
                    "area_cm2": area,
                    "current_density_ma_per_cm2": fx.current_density_ma_per_cm2(rms, area),
                }
            )
    return rows


def finding_lines(report: SafetyReport, diagnostics: bool = True) -> list[str]:
    lines = []
    for f in report.findings:
        if f.severity is Severity.diagnostic and not diagnostics:
            continue
        limit = f" (limit {f.limit:g} {f.unit})" if isinstance(f.limit, float) else ""
        source = f" — {f.source}" if f.source else ""
        lines.append(f"{_STYLE[f.severity]} {f.rule} at {f.path}: {f.message}{limit}{source}")
    return lines


def findings_json(report: SafetyReport) -> dict[str, Any]:
    return {"ok": report.ok, "findings": [f.to_json() for f in report.findings]}
