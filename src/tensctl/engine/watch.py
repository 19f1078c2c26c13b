"""What comes back from the device, judged: its events (faults, reboot, link loss, low
battery) latch a fault; each channel's telemetry goes through the supervisor (open circuit,
over-current, compliance, mismatch, peel → fault; a halve verdict halves the target); and a
telemetry summary is emitted each second while output may be on (the record's dose comes
from these)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tensctl.engine.plan import fixed_train
from tensctl.engine.states import OUTPUT_STATES, State
from tensctl.safety.supervisor import Action, Reading

if TYPE_CHECKING:
    from tensctl.engine.session import Session

DEVICE_FAULT_EVENTS = {"fault", "boot", "link_lost", "low_battery"}


def watch(s: Session, now: float, force: bool = False) -> None:
    """Device events and telemetry since the last look: faults latched, readings judged by
    the supervisor, and a telemetry summary each second while output may be on."""
    updates = s.driver.update_count()
    if updates == s.progress.seen_updates and not force:
        return
    s.progress.seen_updates = updates
    for event in s.driver.events():
        if event.kind not in DEVICE_FAULT_EVENTS:
            continue
        what = ", ".join(sorted(event.faults)) or event.kind
        where = f"channel {event.channel}" if event.channel else "device"
        if s.state in (State.fault, State.stopped):
            # already latched at 0: the device telling of it (its own e-stop latch among
            # them) is news for the record, not a reason to stop again — a stop sent on
            # every report would leave a reset no gap to succeed in
            s.emit("device", event=event.kind, message=f"{where} reported {what}")
            continue
        return s.fault(f"device_{event.kind}", f"{where} reported {what}")
    phase = s.protocol.phases[max(0, s.progress.phase_index)]
    settings_known = fixed_train(phase)
    for ch, t in s.driver.telemetry().items():
        if ch not in s.progress.sent_ma or s.progress.judged_s.get(ch) == t.time_s:
            continue
        s.progress.judged_s[ch] = t.time_s
        expected = s.progress.settings.get(ch) if settings_known else None
        reading = Reading(
            t.state == "on",
            t.commanded_ma,
            t.delivered_peak_ma,
            t.impedance_ohm,
            t.frequency_hz,
            t.pulse_width_us,
        )
        verdict = s.supervisor.judge(
            ch,
            reading,
            expected.frequency_hz if expected else None,
            expected.pulse_width_us if expected else None,
        )
        if verdict.action is Action.trip:
            return s.fault(verdict.rule, f"channel {ch}: {verdict.message}")
        if verdict.action is Action.halve and ch in s.targets_ma:
            s.targets_ma[ch] /= 2
            # the ceiling drops with the target: on a smaller contact area the old ceiling
            # is a higher current density than the one it was checked at
            s.ceilings_ma[ch] = s.supervisor.lower_ceiling(ch, s.targets_ma[ch])
            s.timeline = type(s.timeline)(s.protocol, s.targets_ma)
            s.emit(
                "warning",
                rule=verdict.rule,
                channel=ch,
                message=verdict.message,
                target_ma=s.targets_ma[ch],
            )
    if now >= s.progress.next_summary_s and s.state in OUTPUT_STATES:
        s.progress.next_summary_s = now + 1.0
        summary(s)


def summary(s: Session) -> None:
    """The telemetry summary: what the device says each channel delivered, with its
    counters (the record's dose is computed from these)."""
    s.emit(
        "telemetry",
        channels={
            ch: {
                "commanded_ma": t.commanded_ma,
                "delivered_ma": _finite(t.delivered_peak_ma),
                "impedance_ohm": _finite(t.impedance_ohm),
                **({"measured": False} if math.isnan(t.delivered_peak_ma) else {}),
                "frequency_hz": t.frequency_hz,
                "pulse_width_us": t.pulse_width_us,
                "charge_uc": t.delivered_charge_uc,
                "pulses": t.pulses,
                "target_ma": s.targets_ma.get(ch),
                "state": t.state,
            }
            for ch, t in s.driver.telemetry().items()
            if ch in s.progress.sent_ma
        },
    )


def _finite(value: float) -> float | None:
    """A reading for the record: ``None`` for an open circuit (inf) or a quantity the device
    does not measure (nan), which JSON cannot hold."""
    return value if math.isfinite(value) else None
