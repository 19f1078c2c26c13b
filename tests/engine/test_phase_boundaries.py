"""Phases that change the pulse train: the session follows them on time and judges the
device's telemetry against the settings it was sent, not against stale readings."""

from __future__ import annotations

import math

import pytest
from helpers import device, kinds

from tensctl.engine.states import State
from tensctl.model.loader import parse_protocol


def protocol(phases: int, phase_s: float) -> str:
    listed = "\n".join(
        f"  - {{name: p{i}, duration_s: {phase_s}, frequency_hz: {80 if i % 2 else 100}, "
        f"pulse_width_us: {200 if i % 3 else 150}}}"
        for i in range(phases)
    )
    return (
        "format_version: 1\nid: many-phases\nname: Many phases\n"
        "channels:\n  - id: 1\n    electrodes:\n"
        "      - {site: forearm_left, catalogue: square-50x50}\n"
        "      - {site: forearm_left, catalogue: square-50x50}\n"
        f"intensity:\n  target_ma: 5\nphases:\n{listed}\n"
        f"session:\n  max_duration_s: {math.ceil(phases * phase_s)}\n  daily_cap_s: 3600\n"
    )


@pytest.mark.parametrize("phase_s", [0.5, 0.73, 2.05])
def test_phases_begin_on_their_boundaries_and_new_settings_do_not_trip(phase_s: float) -> None:
    chosen = parse_protocol(protocol(12, phase_s), "<test>")
    with device() as dev, dev.session(chosen, intensity=5, screened=True) as s:
        state = s.run()
        events = list(s.hub.history)
    assert state is State.completed, s.fault_detail
    entered = [(e.data["index"], e.elapsed_s) for e in kinds(events, "phase")]
    assert [i for i, _ in entered] == list(range(12))
    for index, elapsed in entered:
        assert elapsed == pytest.approx(index * phase_s, abs=1e-4)
    assert not kinds(events, "warning")


def test_the_first_fault_stands_while_its_stop_is_in_flight() -> None:
    """The device reports the emergency stop the host just sent (or another fault arrives)
    before the first fault has latched: the first cause must be the one recorded."""
    with device() as dev, dev.session("brief-intense", intensity=15, screened=True) as s:
        s.run_for(5)
        send_stop = dev.driver.emergency_stop

        def stop_and_hear_about_it() -> None:
            send_stop()
            s.fault("device_fault", "channel 1 reported emergency_stop")

        dev.driver.emergency_stop = stop_and_hear_about_it  # type: ignore[method-assign]
        s.fault("open_circuit", "channel 1: electrode off")
        assert s.state is State.fault
        assert s.fault_detail.startswith("open_circuit")
        assert [e.data["rule"] for e in s.hub.history if e.kind == "fault"] == ["open_circuit"]
