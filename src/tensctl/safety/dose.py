"""The dose rules of the static check, per phase and channel at its worst operating point:
charge per phase, charge balance, energy per pulse, r.m.s. current, current and power
density — and current density summed over channels that share a site.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from tensctl.model.device import DeviceProfile
from tensctl.model.electrodes import Electrode, Site
from tensctl.model.protocol import Channel, OperatingPoint, Phase, Waveform
from tensctl.safety import formulas as fx
from tensctl.safety.findings import Finding, Severity
from tensctl.safety.limits import Limit, limit

V, W, D = Severity.violation, Severity.warning, Severity.diagnostic
ACK_CURRENT_DENSITY = "current_density"


@dataclass(frozen=True)
class ChannelDose:
    """Worst-case r.m.s. current of one channel over the whole protocol."""

    channel: Channel
    rms_ma: float
    impedance_ohm: float = 0.0
    """The load the power density is computed with (worst case, floor applied)."""


def phase_dose(
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
    if not rms <= lim.value:
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
    if not q <= lim.value:
        out.append(
            Finding.against(
                "charge_per_phase", V, f"channel {ch}: {q:.3g} µC per phase", path, q, lim, ch
            )
        )
    net = abs(fx.net_charge_uc(q, a, w))
    frac, absolute = limit("net_charge_fraction"), limit("net_charge_uc")
    allowed = max(frac.value * q, absolute.value)
    if not net <= allowed * (1 + 1e-9):  # float noise must not move the boundary
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
    if not energy <= lim.value:
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


def worst_impedance_ohm(peak: float, device: DeviceProfile) -> float:
    """The load the power density is judged at: the device's worst case, floor applied."""
    floor = limit("impedance_floor_ohm").value
    return fx.effective_impedance_ohm(
        device.worst_case_impedance_ohm, device.compliance_voltage_v, peak, floor
    )


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
    if not j <= lim.value:
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
    z = worst_impedance_ohm(peak, device)
    pd = fx.power_density_w_per_cm2(rms, z, area)
    lim = limit("power_density_w_per_cm2")
    if not pd < lim.value:
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


def shared_sites(
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
        # currents through one site add up at worst in phase: the r.m.s. of the sum is at
        # most the sum of the r.m.s. currents, and power goes with its square
        total = sum({d.channel.id: d.rms_ma for d, _ in entries}.values())
        area = min(area for _, area in entries)
        out += _shared_totals(site, ids, total, max(d.impedance_ohm for d, _ in entries), area)
        j = total / area
        if not j <= lim.value:
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


def _shared_totals(
    site: Site, ids: list[int], total_rms_ma: float, impedance_ohm: float, area_cm2: float
) -> list[Finding]:
    """The r.m.s. current and the power density that channels sharing ``site`` put through it
    together (the per-channel checks see each channel alone)."""
    out = []
    lim = limit("rms_current_ma")
    if not total_rms_ma <= lim.value:
        out.append(
            Finding.against(
                "rms_current",
                V,
                f"channels {ids} share {site}: {total_rms_ma:.3g} mA r.m.s. together",
                "channels",
                total_rms_ma,
                lim,
            )
        )
    pd = fx.power_density_w_per_cm2(total_rms_ma, impedance_ohm, area_cm2)
    lim = limit("power_density_w_per_cm2")
    if not pd < lim.value:
        out.append(
            Finding.against(
                "power_density",
                V,
                f"channels {ids} share {site}: {pd:.3g} W/cm² together at {impedance_ohm:.0f} Ω",
                "channels",
                pd,
                lim,
            )
        )
    return out
