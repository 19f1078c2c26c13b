"""The static safety check: is a protocol, on a device, with given electrodes and resolved
intensities, provably within limits? A pure function; it returns every finding.

Worst cases are used wherever a phase can reach several operating points (alternation,
modulation): every corner is checked, and amplitude modulation never raises the peak. The
device envelope is in :mod:`.capability`, the dose rules (charge, energy, r.m.s. current,
current and power density) in :mod:`.dose`; session, placement and amplitude rules here.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from tensctl.model.device import DeviceProfile, UseClass
from tensctl.model.electrodes import CONTRAINDICATED_SITES, FRONT_CHEST, UPPER_BACK, Electrode
from tensctl.model.protocol import Channel, Protocol
from tensctl.safety import capability, dose
from tensctl.safety.findings import Finding, SafetyReport, Severity
from tensctl.safety.limits import limit
from tensctl.safety.rules import check_device_profile

V, W, D = Severity.violation, Severity.warning, Severity.diagnostic


def check_protocol(
    protocol: Protocol,
    device: DeviceProfile,
    intensities_ma: Mapping[int, float],
    electrodes: Mapping[int, Sequence[Electrode]] | None = None,
    acknowledged: Collection[str] = (),
) -> SafetyReport:
    """Every violation, warning and diagnostic for ``protocol`` on ``device``.

    ``intensities_ma`` maps channel id → resolved peak amplitude in mA. ``electrodes`` maps
    channel id → electrodes actually used (default: those in the protocol file).
    """
    report = SafetyReport(list(check_device_profile(device)))
    found = report.findings
    found += _session(protocol, device)
    found += capability.check(protocol, device)
    doses: list[dose.ChannelDose] = []
    for c_idx, channel in enumerate(protocol.channels):
        used = (electrodes or {}).get(channel.id, channel.electrodes)
        found += _placement(channel, c_idx, used)
        areas_ok = all(_area_ok(e) for e in used)
        peak = intensities_ma.get(channel.id)
        if peak is None:
            found.append(
                Finding(
                    "intensity.missing",
                    V,
                    f"channel {channel.id} has no resolved intensity",
                    f"channels[{c_idx}].intensity",
                    channel=channel.id,
                )
            )
            continue
        amplitude_found = _amplitude(protocol, channel, c_idx, peak, device)
        found += amplitude_found
        if not (math.isfinite(peak) and areas_ok):  # refused; no dose can be computed
            continue
        rms = 0.0
        for p_idx, phase in enumerate(protocol.phases):
            # doses use the magnitude: a negative command is refused above, and is never
            # allowed to look small here
            phase_rms, phase_found = dose.phase_dose(
                phase, f"phases[{p_idx}]", channel, used, abs(peak), device, acknowledged
            )
            rms = max(rms, phase_rms)
            found += phase_found
        doses.append(dose.ChannelDose(channel, rms, dose.worst_impedance_ohm(abs(peak), device)))
    found += dose.shared_sites(doses, electrodes, acknowledged)
    report.findings = _dedupe(found)
    return report


def _session(protocol: Protocol, device: DeviceProfile) -> list[Finding]:
    out = []
    clinic = device.use_class is not UseClass.home
    cap = limit("session_max_clinic_s" if clinic else "session_max_s")
    s = protocol.session
    allowed = min(cap.value, device.max_session_s)
    if s.max_duration_s > allowed:
        out.append(
            Finding(
                "session.timer",
                V,
                f"session timer {s.max_duration_s:g} s exceeds {allowed:g} s",
                "session.max_duration_s",
                s.max_duration_s,
                allowed,
                "s",
                cap.cite() if allowed == cap.value else f"device profile {device.id}",
            )
        )
    total = protocol.total_duration_s
    if total > s.max_duration_s:
        out.append(
            Finding(
                "session.timer",
                V,
                f"phases last {total:g} s, longer than the session timer",
                "phases",
                total,
                s.max_duration_s,
                "s",
                "session.max_duration_s",
            )
        )
    if s.daily_cap_s is None:
        out.append(Finding("session.daily_cap", W, "no daily cap is set", "session"))
    elif s.daily_cap_s < s.max_duration_s:
        out.append(
            Finding(
                "session.daily_cap",
                V,
                "the daily cap is shorter than one session",
                "session.daily_cap_s",
                s.daily_cap_s,
                s.max_duration_s,
                "s",
                "session.max_duration_s",
            )
        )
    return out


def _area_ok(electrode: Electrode) -> bool:
    area = electrode.effective_area_cm2
    return math.isfinite(area) and area > 0


def _placement(channel: Channel, c_idx: int, used: Sequence[Electrode]) -> list[Finding]:
    sites = {e.site for e in used}
    path = f"channels[{c_idx}].electrodes"
    out = []
    bad = sorted(s.value for s in sites & CONTRAINDICATED_SITES)
    if bad:
        out.append(
            Finding(
                "placement.contraindicated",
                V,
                f"channel {channel.id} is placed on {', '.join(bad)}",
                path,
                ", ".join(bad),
                None,
                "",
                "safety.md item 14",
                channel.id,
            )
        )
    for e_idx, e in enumerate(used):
        if not _area_ok(e):
            out.append(
                Finding(
                    "placement.area",
                    V,
                    f"channel {channel.id}: electrode area {e.effective_area_cm2!r} cm² is "
                    "not a finite number above 0 (no density can be judged on it)",
                    f"{path}[{e_idx}]",
                    e.effective_area_cm2,
                    0.0,
                    "cm²",
                    "electrode catalogue / area_cm2",
                    channel.id,
                )
            )
    across_front_back = bool(sites & FRONT_CHEST) and bool(sites & UPPER_BACK)
    across_chest = sites >= FRONT_CHEST
    if across_front_back or across_chest:
        out.append(
            Finding(
                "placement.thorax",
                V,
                f"channel {channel.id} would pass current across the thorax",
                path,
                ", ".join(sorted(s.value for s in sites)),
                None,
                "",
                "safety.md item 13",
                channel.id,
            )
        )
    return out


def _amplitude(
    protocol: Protocol, channel: Channel, c_idx: int, peak: float, device: DeviceProfile
) -> list[Finding]:
    path = f"channels[{c_idx}].intensity" if channel.intensity else "intensity"
    src = f"device profile {device.id}"
    out = []
    # every test is written so that anything not provably within the limit fails it: NaN
    # compares false with everything, so "peak > max" would let a NaN through
    if not math.isfinite(peak):
        out.append(
            Finding(
                "envelope.amplitude",
                V,
                f"amplitude {peak:g} mA is not a finite number",
                path,
                peak,
                None,
                "mA",
                src,
                channel.id,
            )
        )
        return out
    if not peak >= 0:
        out.append(
            Finding(
                "envelope.amplitude",
                V,
                f"amplitude {peak:g} mA is negative",
                path,
                peak,
                0.0,
                "mA",
                src,
                channel.id,
            )
        )
    if not peak <= device.amplitude.max_ma:
        out.append(
            Finding(
                "envelope.amplitude",
                V,
                f"amplitude {peak:g} mA is above the device maximum",
                path,
                peak,
                device.amplitude.max_ma,
                "mA",
                src,
                channel.id,
            )
        )
    cap = limit("amplitude_peak_max_ma")
    if not peak <= cap.value:
        out.append(
            Finding.against(
                "amplitude.absolute_cap",
                V,
                f"amplitude {peak:g} mA is above the absolute peak cap",
                path,
                peak,
                cap,
                channel.id,
            )
        )
    ceiling = protocol.channel_ceiling_ma(channel)
    if ceiling is not None and not peak <= ceiling:
        out.append(
            Finding(
                "intensity.ceiling",
                V,
                f"amplitude {peak:g} mA is above the channel ceiling",
                path,
                peak,
                ceiling,
                "mA",
                "protocol ceiling_ma",
                channel.id,
            )
        )
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
