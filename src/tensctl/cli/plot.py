"""Render a protocol's amplitude, frequency and pulse width over the session (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tensctl.engine.timeline import Timeline, sample
from tensctl.errors import InputError, MissingExtra, Problem
from tensctl.model.protocol import Protocol


def plot_protocol(protocol: Protocol, intensities_ma: Mapping[int, float], output: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra(
            "plotting needs matplotlib: install the plot extra, e.g. pip install 'tensctl[plot]'"
        ) from None
    timeline = Timeline(protocol, dict(intensities_ma))
    step_s = max(timeline.duration_s / 20_000, 0.01)
    points = sample(timeline, step_s)
    minutes = [t / 60.0 for t, _ in points]
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(10, 7), constrained_layout=True)
    rows = (
        ("amplitude_ma", "amplitude (mA)"),
        ("frequency_hz", "frequency (Hz)"),
        ("pulse_width_us", "pulse width (µs)"),
    )
    for ax, (field, label) in zip(axes, rows, strict=True):
        for ch in sorted(intensities_ma):
            values = [getattr(sp[ch], field) if ch in sp else 0.0 for _, sp in points]
            ax.plot(minutes, values, linewidth=0.8, label=f"channel {ch}")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        for start in timeline.boundaries_s[1:-1]:
            ax.axvline(start / 60.0, color="grey", linestyle="--", linewidth=0.6)
    for start, phase in zip(timeline.boundaries_s, protocol.phases, strict=False):
        axes[0].annotate(
            phase.name,
            (start / 60.0, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            va="bottom",
        )
    axes[0].legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (min)")
    fig.suptitle(f"{protocol.name} ({protocol.id})")
    try:
        fig.savefig(output)
    except OSError as exc:
        raise InputError([Problem(f"cannot write image: {exc.strerror}", str(output))]) from None
    finally:
        plt.close(fig)
