"""Short human descriptions of protocols and phases, shared by list, show and plot."""

from __future__ import annotations

import re

from tensctl.model.modes import Alternating, Burst, Modulated
from tensctl.model.protocol import Phase, Protocol


def duration_text(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {seconds % 60:g} s"
    return f"{seconds:g} s"


def frequency_text(phase: Phase) -> str:
    mode = phase.mode
    if isinstance(mode, Burst):
        return f"{mode.pulses_per_train}×{phase.frequency_hz:g} Hz @ {mode.train_rate_hz:g}/s"
    if isinstance(mode, Alternating):
        return " ↔ ".join(f"{s.frequency_hz:g}" for s in mode.steps) + " Hz"
    if isinstance(mode, Modulated):
        sweep = mode.sweep("frequency_hz")
        if sweep is not None:
            return f"{sweep.low:g}–{sweep.high:g} Hz ({mode.period_s:g} s {mode.shape})"
    return f"{phase.frequency_hz:g} Hz"


def pulse_width_text(phase: Phase) -> str:
    widths = sorted({p.pulse_width_us for p in phase.operating_points()})
    if len(widths) == 1:
        return f"{widths[0]:g} µs"
    return f"{widths[0]:g}–{widths[-1]:g} µs"


def protocol_frequency_text(protocol: Protocol) -> str:
    return "; ".join(dict.fromkeys(frequency_text(p) for p in protocol.phases))


def source_text(protocol: Protocol) -> str:
    """First author and year of the first reference, e.g. 'Sluka 2003'."""
    if not protocol.references:
        return "—"
    first = protocol.references[0]
    more = f" +{len(protocol.references) - 1}" if len(protocol.references) > 1 else ""
    if first.short:
        return first.short + more
    citation = first.citation
    author = re.split(r"[ ,.]", citation.strip(), maxsplit=1)[0]
    year = re.search(r"\b(19|20)\d{2}\b", citation)
    return f"{author} {year.group(0) if year else ''}".strip() + more
