"""The live display, drawn headless at 80×24 and 160×50 and compared with stored text
snapshots (tests/cli/snapshots/STATE-WIDTHxHEIGHT.txt) for the states stimulating,
titrating, paused and fault; and what it must say whatever the snapshot holds: nothing cut
off at 80 columns, the state in words, 0 set and delivered after any stop, the keys that
work now, a bell once on a fault and once on a reminder.

The sessions run on the in-process simulator in virtual time, so every number on screen
is the same on every run. To update the snapshots after an intended change of the display,
run ``TENSCTL_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cli/test_live_display.py``
and read the diff of tests/cli/snapshots/ before committing it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from rich.console import Console
from tenssim.scenario import ScenarioEvent

import tensctl
from tensctl.api import Device, RunningSession
from tensctl.cli.live import Screen, keys_now, render
from tensctl.engine.events import SessionEvent
from tensctl.engine.states import State
from tensctl.journal.store import Store
from tensctl.journal.summary import summarise

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZES = ((80, 24), (160, 50))
UPDATE = os.environ.get("TENSCTL_UPDATE_SNAPSHOTS") == "1"
EVENT: TypeAdapter[Any] = TypeAdapter(ScenarioEvent)


def draw(session: RunningSession, screen: Screen, width: int, height: int) -> str:
    with open(os.devnull, "w") as sink:
        out = Console(record=True, width=width, height=height, color_system=None, file=sink)
        out.print(render(session, screen, width, height))
        return out.export_text()


@pytest.fixture
def dev() -> Iterator[Device]:
    with tensctl.connect("sim://", virtual=True, journal=False) as d:
        yield d


def _session(
    dev: Device, protocol: str = "conventional-hf", **kwargs: Any
) -> tuple[RunningSession, Screen]:
    kwargs.setdefault("screened", True)
    kwargs.setdefault("patient", "P7")
    s = dev.session(protocol, **kwargs)
    screen = Screen(s.channels[0], simulated=True)

    def take(event: SessionEvent) -> None:
        screen.on_event(event, s.end_reason)

    s.subscribe(take)
    return s, screen


def stimulating(dev: Device) -> tuple[RunningSession, Screen]:
    s, screen = _session(dev, intensity={1: 18.0})
    s.run_for(95)
    s.adjust(1, +1)
    s.run_for(5)
    return s, screen


def titrating(dev: Device) -> tuple[RunningSession, Screen]:
    s, screen = _session(dev)
    screen.reference = "last titration 2026-11-30: ch1 ST 3 · SC1 11 · N 17 · SC2 13 mA"
    t = s.titrate(1)
    for level in (4, 12, 18):
        while t.level_ma < level:
            t.up()
        s.run_for(6)
        s.mark()
    s.run_for(2)
    return s, screen


def paused(dev: Device) -> tuple[RunningSession, Screen]:
    s, screen = stimulating(dev)
    s.pause()
    s.run_for(3)
    return s, screen


def fault(dev: Device) -> tuple[RunningSession, Screen]:
    s, screen = stimulating(dev)
    dev.driver.device.inject(  # type: ignore[attr-defined]
        EVENT.validate_python({"kind": "electrode_off", "channel": 1, "at_s": 0}),
        dev.clock.now(),
    )
    s.run_for(1)
    return s, screen


STATES: dict[str, Callable[[Device], tuple[RunningSession, Screen]]] = {
    "stimulating": stimulating,
    "titrating": titrating,
    "paused": paused,
    "fault": fault,
}


@pytest.mark.parametrize("name", STATES)
def test_display_snapshots(dev: Device, name: str) -> None:
    s, screen = STATES[name](dev)
    for width, height in SIZES:
        text = draw(s, screen, width, height)
        lines = text.rstrip("\n").split("\n")
        assert all(len(line) <= width for line in lines), text
        assert len(lines) <= height, f"{len(lines)} lines do not fit {height}:\n{text}"
        assert "…" not in text, f"cut off:\n{text}"
        path = SNAPSHOTS / f"{name}-{width}x{height}.txt"
        if UPDATE:
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"no snapshot {path.name}: run with TENSCTL_UPDATE_SNAPSHOTS=1"
        assert text == path.read_text(encoding="utf-8"), f"{path.name} differs:\n{text}"
    s.close()


def test_every_column_and_the_time_line_are_there_at_80(dev: Device) -> None:
    s, screen = stimulating(dev)
    text = draw(s, screen, 80, 24)
    for word in ("target", "set", "deliv.", "ceiling", "µs", "Hz", "impedance", "state"):
        assert word in text
    assert "painful area" in text and "patient: P7" in text
    time_line = next(line for line in text.splitlines() if "left" in line)
    assert time_line.startswith("01:40 / 30:00") and time_line.endswith("28:20 left")
    assert "stimulating" in text and "19.0" in text  # target 18 + 1
    assert "ch1 target 18 mA → 19 mA" in text
    assert "dose ch1:" in text and "min stimulated" in text
    s.close()


def test_after_a_stop_set_and_delivered_are_0_and_it_never_says_completed(dev: Device) -> None:
    s, screen = stimulating(dev)
    s.stop()
    s.run_for(10)
    assert s.state in (State.completed, State.stopped)  # however the engine names the end
    text = draw(s, screen, 80, 24)
    assert "stopped by the user" in text and "completed" not in text
    row = next(line for line in text.splitlines() if "painful area" in line).split()
    assert row[4:6] == ["0.0", "0.0"], row  # set, delivered
    s.close()


def test_an_emergency_stop_shows_0_at_once(dev: Device) -> None:
    s, screen = stimulating(dev)
    s.emergency_stop("Esc")
    text = draw(s, screen, 80, 24)
    assert "EMERGENCY STOP" in text
    row = next(line for line in text.splitlines() if "painful area" in line).split()
    assert row[4:6] == ["0.0", "0.0"], row
    assert keys_now(s, screen) == "session over: the display closes"
    s.close()


def test_a_fault_rings_once_and_names_its_cause(dev: Device) -> None:
    s, screen = stimulating(dev)
    bells: list[str] = []
    s.subscribe(lambda e: bells.append(e.kind) if screen.on_event(e) else None)
    dev.driver.device.inject(  # type: ignore[attr-defined]
        EVENT.validate_python({"kind": "electrode_off", "channel": 1, "at_s": 0}),
        dev.clock.now(),
    )
    s.run_for(5)
    assert bells == ["fault"]
    text = draw(s, screen, 80, 24)
    assert "FAULT — every output at 0" in text and "open_circuit" in text
    s.close()


def test_a_reminder_rings_once_and_stays_until_a_key(dev: Device) -> None:
    s, screen = stimulating(dev)
    bells: list[str] = []
    s.subscribe(lambda e: bells.append(e.kind) if screen.on_event(e) else None)
    message = "7 min since the last titration: re-titrate (sensation fades)"
    s.emit("reminder", what="retitrate", message=message)
    s.run_for(3)
    assert bells == ["reminder"]
    text = draw(s, screen, 80, 24)
    assert f"REMINDER: {message}" in text
    s.close()


def test_a_long_reminder_is_shown_whole_and_the_screen_still_fits(dev: Device) -> None:
    # found by a review: at 80 columns the reminder ended "…whether it still f"
    s, screen = stimulating(dev)
    message = (
        "re-titrate: 10 min of stimulation — ask the patient whether it still feels strong "
        "but comfortable, and titrate again if it has faded"
    )
    s.subscribe(screen.on_event)
    s.emit("reminder", what="retitrate", message=message)
    text = draw(s, screen, 80, 24)
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert " ".join(text.split()).count(" ".join(message.split())) >= 1
    assert "EMERGENCY STOP" in lines[-1]  # the key line is never pushed off
    s.close()


def test_the_keys_line_follows_the_state(dev: Device) -> None:
    s, screen = _session(dev)
    t = s.titrate(1)
    assert keys_now(s, screen) == "↑/↓ change   m/Enter mark ST   Esc EMERGENCY STOP"
    t.up()
    s.run_for(2)
    s.mark()
    assert "m/Enter mark SC1" in keys_now(s, screen)
    s.emergency_stop("Esc")
    s.close()


def test_the_keys_line_while_running_paused_and_confirming(dev: Device) -> None:
    s2, screen2 = _session(dev, intensity={1: 10.0})
    s2.run_for(20)
    assert keys_now(s2, screen2).startswith("↑/↓ ch1 ±")
    assert "space pause" in keys_now(s2, screen2)
    s2.pause()
    assert keys_now(s2, screen2).startswith("space resume")
    screen2.confirming = {}
    assert keys_now(s2, screen2) == "Enter start stimulation   Esc cancel"
    s2.close()


def test_titration_says_what_to_ask_and_shows_the_marks(dev: Device) -> None:
    s, screen = titrating(dev)
    text = draw(s, screen, 80, 24)
    assert "step 4 of 4: SC2" in text
    assert "Tell me when it is strong but comfortable again." in text
    assert "m or Enter to mark SC2" in text
    assert "marked N at 18 mA; dropped to SC1 12 mA" in text
    assert "ST 4 mA · SC1 12 mA · N 18 mA · SC2 —" in text
    assert "last titration 2026-11-30" in text
    s.emergency_stop("Esc")
    s.close()


def test_the_dose_on_screen_leaves_titration_out_as_the_record_does(dev: Device) -> None:
    s, screen = titrating(dev)  # up to N at 18 mA, all while titrating
    assert all(d.peak_ma == 0 and d.stimulated_min == 0 for d in screen.dose())
    s.emergency_stop("Esc")
    s.close()


def test_the_last_titration_comes_from_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    with tensctl.connect("sim://", virtual=True, journal=store) as dev:
        s = dev.session("conventional-hf", patient="P9", screened=True)
        t = s.titrate(1)
        for level in (3, 10, 16, 12):
            while t.level_ma < level:
                t.up()
            while t.level_ma > level:
                t.down()
            s.run_for(6)
            s.mark()
        s.finish_titration()
        s.close()
        later = dev.session("conventional-hf", patient="P9", screened=True)
        from tensctl.cli.live import reference_of

        line = reference_of(later, store, dev.simulated)
        later.close()
    assert line is not None
    assert line.endswith("ch1 ST 3 · SC1 10 · N 16 · SC2 12 mA"), line
    first = store.sessions("P9")[0]
    summary = summarise(first, store.events(first["id"]))
    assert list(summary["thresholds_ma"]["1"]) == ["ST", "SC1", "N", "SC2"]  # not N first
    assert (
        store.last_titration("P9", simulated=not dev.simulated) is None
    )  # real and simulated apart
    assert store.last_titration("nobody", simulated=True) is None
    store.close()


def test_the_readme_shows_the_display_as_it_is() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    snapshot = (SNAPSHOTS / "stimulating-80x24.txt").read_text(encoding="utf-8")
    block = "\n".join(line.rstrip() for line in snapshot.rstrip("\n").split("\n"))
    assert f"```\n{block}\n```" in readme, "README 'Running a session': paste the snapshot"


@pytest.mark.parametrize(
    "protocol", sorted(p.stem for p in (Path(__file__).parents[2] / "protocols").glob("*.yaml"))
)
def test_every_library_protocol_fits_80_columns(dev: Device, protocol: str) -> None:
    s, screen = _session(dev, protocol, patient="P-0042", intensity=8.0)
    screen.selected = s.channels[-1]
    s.run_for(30)
    text = draw(s, screen, 80, 24)
    lines = text.rstrip("\n").split("\n")
    assert all(len(line) <= 80 for line in lines) and "…" not in text, text
    assert len(lines) <= 24, text
    assert all(f"▶{ch}" in text or f" {ch} " in text for ch in s.channels)
    s.close()


def test_confirming_cancelled_with_esc_never_starts(dev: Device) -> None:
    from tensctl.cli.live import _confirm

    s, screen = _session(dev, intensity={1: 10.0})
    assert s.state is State.ready
    assert not _confirm(s, screen, {1: {}}, [False])  # Esc
    assert s.state is State.ready and s.end_reason == "cancelled_before_start"
    assert screen.confirming is None
    s.close()
    t, screen2 = _session(dev, intensity={1: 10.0})
    assert _confirm(t, screen2, {1: {}}, [True])  # Enter
    t.close()
