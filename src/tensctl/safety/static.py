"""The static safety check: is a protocol, on a device, with given electrodes and resolved
intensities, provably within limits? A pure function; it returns every finding.

Worst cases are used wherever a phase can reach several operating points (alternation,
modulation): every corner is checked, and amplitude modulation never raises the peak.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from tensctl.model.device import DeviceProfile, UseClass
from tensctl.model.electrodes import CONTRAINDICATED_SITES, FRONT_CHEST, UPPER_BACK, Electrode, Site
from tensctl.model.modes import Alternating, Modulated
from tensctl.model.protocol import Channel, OperatingPoint, Phase, Protocol, Waveform
from tensctl.safety import formulas as fx
from tensctl.safety.findings import Finding, SafetyReport, Severity
from tensctl.safety.limits import Limit, limit
from tensctl.safety.rules import check_device_profile, envelope

V, W, D = Severity.violation, Severity.warning, Severity.diagnostic
ACK_CURRENT_DENSITY = "current_density"


@dataclass(frozen=True)
class ChannelDose:
    """Worst-case r.m.s. current of one channel over the whole protocol."""

    channel: Channel
    index: int
    rms_ma: float


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
    if len(protocol.channels) > device.channels:
        found.append(
            Finding(
                "envelope.channels",
                V,
                f"{len(protocol.channels)} channels, the device has {device.channels}",
                "channels",
                len(protocol.channels),
                device.channels,
                "channels",
                f"device profile {device.id}",
            )
        )
    for p_idx, phase in enumerate(protocol.phases):
        found += _phase_envelope(phase, f"phases[{p_idx}]", device)
    doses = []
    for c_idx, channel in enumerate(protocol.channels):
        used = (electrodes or {}).get(channel.id, channel.electrodes)
        found += _placement(channel, c_idx, used)
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
        found += _amplitude(protocol, channel, c_idx, peak, device)
        rms = 0.0
        for p_idx, phase in enumerate(protocol.phases):
            # doses use the magnitude: a negative command is refused above, and is never
            # allowed to look small here
            phase_rms, phase_found = _phase_dose(
                phase, f"phases[{p_idx}]", channel, used, abs(peak), device, acknowledged
            )
            rms = max(rms, phase_rms)
            found += phase_found
        doses.append(ChannelDose(channel, c_idx, rms))
    found += _shared_sites(doses, electrodes, acknowledged)
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


def _phase_envelope(phase: Phase, path: str, device: DeviceProfile) -> list[Finding]:
    out = []
    if phase.waveform not in device.waveforms:
        out.append(
            Finding(
                "envelope.waveform",
                V,
                f"{device.model} cannot produce {phase.waveform}",
                f"{path}.waveform",
                str(phase.waveform),
                None,
                "",
                f"device profile {device.id}",
            )
        )
    if phase.mode.type not in device.modes:
        out.append(
            Finding(
                "envelope.mode",
                V,
                f"{device.model} has no {phase.mode.type} mode",
                f"{path}.mode.type",
                phase.mode.type,
                None,
                "",
                f"device profile {device.id}",
            )
        )
    f_lo, f_hi = envelope(device, "frequency")
    w_lo, w_hi = envelope(device, "pulse_width")
    for point in phase.operating_points():
        out += _within(
            "envelope.frequency",
            point.frequency_hz,
            f_lo,
            f_hi,
            f"{path}.{point.frequency_path}",
            "frequency",
        )
        out += _within(
            "envelope.pulse_width",
            point.pulse_width_us,
            w_lo,
            w_hi,
            f"{path}.{point.width_path}",
            "pulse width",
        )
    out += _update_rate(phase, path, device)
    out += _live_changes(phase, path, device)
    return out


def _within(rule: str, value: float, lo: Limit, hi: Limit, path: str, what: str) -> list[Finding]:
    if value < lo.value:
        return [
            Finding.against(
                rule, V, f"{what} {value:g} {lo.unit} is below the minimum", path, value, lo
            )
        ]
    if value > hi.value:
        return [
            Finding.against(
                rule, V, f"{what} {value:g} {hi.unit} is above the maximum", path, value, hi
            )
        ]
    return []


def _update_rate(phase: Phase, path: str, device: DeviceProfile) -> list[Finding]:
    interval_ms = device.min_update_interval_ms
    if interval_ms is None:
        return []
    mode = phase.mode
    needed: list[tuple[float, str]] = []
    if isinstance(mode, Alternating):
        needed = [
            (s.dwell_s * 1000.0, f"{path}.mode.steps[{i}].dwell_s")
            for i, s in enumerate(mode.steps)
        ]
    elif isinstance(mode, Modulated):
        # ten updates per modulation period at least, to follow its shape
        needed = [(mode.period_s * 1000.0 / 10.0, f"{path}.mode.period_s")]
    src = f"device profile {device.id} (min_update_interval_ms)"
    return [
        Finding(
            "envelope.update_rate",
            V,
            f"needs an update every {ms:g} ms; the device accepts one every {interval_ms:g} ms",
            where,
            ms,
            interval_ms,
            "ms",
            src,
        )
        for ms, where in needed
        if ms < interval_ms
    ]


_SWEPT = {"frequency_hz": "frequency", "pulse_width_us": "pulse_width", "amplitude": "amplitude"}


def _live_changes(phase: Phase, path: str, device: DeviceProfile) -> list[Finding]:
    """Host-driven modulation changes a parameter while the output is on: the device must
    take that change live (a RehaStim2 re-initialises its channel list for a new frequency,
    a gap in stimulation every update)."""
    mode = phase.mode
    if not isinstance(mode, Modulated):
        return []
    live = {p.value for p in device.live_parameters}
    return [
        Finding(
            "envelope.live_update",
            V,
            f"{device.model} cannot change {_SWEPT[m.parameter]} while stimulating",
            f"{path}.mode.parameters[{i}].parameter",
            m.parameter,
            None,
            "",
            f"device profile {device.id} (live_parameters)",
        )
        for i, m in enumerate(mode.parameters)
        if _SWEPT[m.parameter] not in live
    ]


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
    if peak < 0:
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
    if peak > device.amplitude.max_ma:
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
    ceiling = protocol.channel_ceiling_ma(channel)
    if ceiling is not None and peak > ceiling:
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


def _phase_dose(
    phase: Phase,
    path: str,
    channel: Channel,
    used: Sequence[Electrode],
    peak: float,
    device: DeviceProfile,
    acknowledged: Collection[str],
) -> tuple[float, list[Finding]]:
    """The worst r.m.s. current of the phase on this channel, and its findings."""
    a, w = _secondary(phase)
    factor = fx.phase_factor(a, w)
    area = min(e.effective_area_cm2 for e in used)
    ch = channel.id
    out: list[Finding] = []
    worst_rms = 0.0
    for point in phase.operating_points():
        out += _pulse_checks(point, path, ch, peak, a, w, factor, area, device)
        rms = fx.rms_current_ma(peak, point.pulse_width_us, point.pulse_rate_hz, factor)
        worst_rms = max(worst_rms, rms)
    out += _density_checks(worst_rms, peak, area, path, ch, device, acknowledged)
    return worst_rms, out


def _secondary(phase: Phase) -> tuple[float, float]:
    if phase.waveform is Waveform.asymmetric_biphasic and phase.secondary_phase is not None:
        return phase.secondary_phase.amplitude_ratio, phase.secondary_phase.width_ratio
    return 1.0, 1.0


def _pulse_checks(
    point: OperatingPoint,
    path: str,
    ch: int,
    peak: float,
    a: float,
    w: float,
    factor: float,
    area: float,
    device: DeviceProfile,
) -> list[Finding]:
    out = []
    rms = fx.rms_current_ma(peak, point.pulse_width_us, point.pulse_rate_hz, factor)
    lim = limit("rms_current_ma")
    if rms > lim.value:
        out.append(
            Finding.against(
                "rms_current", V, f"channel {ch}: {rms:.3g} mA r.m.s.", path, rms, lim, ch
            )
        )
    q = fx.charge_per_phase_uc(peak, point.pulse_width_us)
    lim = limit("charge_per_phase_uc")
    if device.max_charge_per_phase_uc < lim.value:
        lim = Limit(
            lim.key, device.max_charge_per_phase_uc, lim.unit, f"device profile {device.id}", "S"
        )
    if q > lim.value:
        out.append(
            Finding.against(
                "charge_per_phase", V, f"channel {ch}: {q:.3g} µC per phase", path, q, lim, ch
            )
        )
    net = abs(fx.net_charge_uc(q, a, w))
    frac, absolute = limit("net_charge_fraction"), limit("net_charge_uc")
    allowed = max(frac.value * q, absolute.value)
    if net > allowed * (1 + 1e-9):  # float noise must not move the boundary
        out.append(
            Finding(
                "charge_balance",
                V,
                f"channel {ch}: {net:.3g} µC net charge per pulse is not balanced",
                f"{path}.secondary_phase",
                net,
                allowed,
                "µC",
                f"{frac.cite()}; {absolute.cite()}",
                ch,
            )
        )
    floor = limit("impedance_floor_ohm").value
    energy = fx.energy_per_pulse_mj(peak, point.pulse_width_us, floor, factor)
    lim = limit("energy_per_pulse_mj")
    if energy > lim.value:
        out.append(
            Finding.against(
                "energy_per_pulse",
                V,
                f"channel {ch}: {energy:.3g} mJ per pulse",
                path,
                energy,
                lim,
                ch,
            )
        )
    k = fx.shannon_k(q, area)
    out.append(
        Finding.against(
            "shannon_k",
            D,
            f"channel {ch}: Shannon k = {k:.2f} (cortical criterion; "
            "diagnostic only, never a pass)",
            path,
            k,
            limit("shannon_k"),
            ch,
        )
    )
    return out


def _density_checks(
    rms: float,
    peak: float,
    area: float,
    path: str,
    ch: int,
    device: DeviceProfile,
    acknowledged: Collection[str],
) -> list[Finding]:
    out = []
    j = fx.current_density_ma_per_cm2(rms, area)
    lim = limit("current_density_ma_per_cm2")
    if j > lim.value:
        acked = ACK_CURRENT_DENSITY in acknowledged
        note = " (acknowledged)" if acked else "; needs an acknowledgement"
        out.append(
            Finding.against(
                "current_density",
                W if acked else V,
                f"channel {ch}: {j:.3g} mA r.m.s./cm² on {area:g} cm²{note}",
                path,
                j,
                lim,
                ch,
            )
        )
    floor = limit("impedance_floor_ohm").value
    z = fx.effective_impedance_ohm(
        device.worst_case_impedance_ohm, device.compliance_voltage_v, peak, floor
    )
    pd = fx.power_density_w_per_cm2(rms, z, area)
    lim = limit("power_density_w_per_cm2")
    if pd >= lim.value:
        out.append(
            Finding.against(
                "power_density",
                V,
                f"channel {ch}: {pd:.3g} W/cm² at {z:.0f} Ω on {area:g} cm²",
                path,
                pd,
                lim,
                ch,
            )
        )
    return out


def _shared_sites(
    doses: list[ChannelDose],
    electrodes: Mapping[int, Sequence[Electrode]] | None,
    acknowledged: Collection[str],
) -> list[Finding]:
    """Channels with electrodes on the same site are checked on the sum of their currents."""
    by_site: dict[Site, list[tuple[ChannelDose, float]]] = {}
    for dose in doses:
        used = (electrodes or {}).get(dose.channel.id, dose.channel.electrodes)
        for e in used:
            by_site.setdefault(e.site, []).append((dose, e.effective_area_cm2))
    out = []
    lim = limit("current_density_ma_per_cm2")
    for site, entries in by_site.items():
        ids = sorted({d.channel.id for d, _ in entries})
        if len(ids) < 2:
            continue
        total = sum({d.channel.id: d.rms_ma for d, _ in entries}.values())
        j = total / min(area for _, area in entries)
        if j > lim.value:
            acked = ACK_CURRENT_DENSITY in acknowledged
            out.append(
                Finding.against(
                    "current_density",
                    W if acked else V,
                    f"channels {ids} share {site}: {j:.3g} mA r.m.s./cm² together",
                    "channels",
                    j,
                    lim,
                )
            )
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
