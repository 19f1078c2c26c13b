"""A session published on Lab Streaming Layer (machine scope, see conftest): both streams
found by name and type, every marker of a virtual-time session received in order and equal
to the session's record, and the amplitude stream's samples equal to the recorded
set-points and telemetry."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import Receiver

import tensctl
from tensctl.journal.store import Store
from tensctl.lsl import LslOptions

NOT_MARKERS = {"screening", "outcome", "closed", "telemetry"}
"""Recorded events that are not markers: the record's own (the screening answer, the
outcomes and the record's end, written by the recorder, not emitted by the session) and the
telemetry summary (the amplitude stream's)."""


def run_session(db: Path) -> int:
    """Two channels, a modulated protocol, on virtual time: adjusted, paused, resumed and
    stopped from here."""
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as device,
        device.session(
            "fast-fibromyalgia",
            patient="P-0042",
            intensity={1: 20, 2: 15},
            screened=True,
            lsl=LslOptions(wait_s=20),
        ) as session,
    ):
        session.run_for(30)
        session.adjust(1, -2.5)
        session.adjust(2, 1.0)
        session.run_for(10)
        session.pause()
        session.run_for(7)  # paused: the clock moves, the session's time does not
        session.resume()
        session.run_for(15)
        session.stop()
        session.run()
        assert session.record_id is not None
        return session.record_id


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, pylsl: Any) -> tuple[Receiver, list]:
    db = tmp_path_factory.mktemp("lsl") / "sessions.sqlite3"
    receiver = Receiver(pylsl)
    session_id = run_session(db)
    receiver.stop()
    with Store(db) as store:
        events = store.events(session_id)
    return receiver, events


def test_every_marker_arrives_in_order_as_recorded(published: tuple[Receiver, list]) -> None:
    receiver, events = published
    markers = [json.loads(sample[0]) for _, sample in receiver.markers]
    recorded = [e for e in events if e["kind"] not in NOT_MARKERS]
    assert [m["event"] for m in markers] == [e["kind"] for e in recorded]
    for marker, event in zip(markers, recorded, strict=True):
        assert marker == {"event": event["kind"], "elapsed_s": marker["elapsed_s"], **event["data"]}
        assert marker["elapsed_s"] == pytest.approx(event["elapsed_s"], abs=5e-4)
    kinds = {m["event"] for m in markers}
    assert {"state", "phase", "setpoint", "adjust", "end"} <= kinds
    states = [m["state"] for m in markers if m["event"] == "state"]
    assert states[:4] == ["connected", "checking", "ready", "ramping_up"]
    assert "paused" in states and states[-2:] == ["ramping_down", "completed"]
    assert [m["reason"] for m in markers if m["event"] == "end"] == ["stopped_by_user"]
    adjusted = [(m["channel"], m["target_ma"]) for m in markers if m["event"] == "adjust"]
    assert adjusted == [(1, 17.5), (2, 16.0)]


def test_amplitude_samples_are_the_recorded_setpoints_and_telemetry(
    published: tuple[Receiver, list],
) -> None:
    receiver, events = published
    set_ma = {"1": 0.0, "2": 0.0}
    expected: list[list[float]] = []
    for event in events:
        data = event["data"]
        if event["kind"] == "setpoint":
            set_ma[str(data["channel"])] = data["amplitude_ma"]
        elif event["kind"] == "telemetry":
            row: list[float] = []
            for ch in ("1", "2"):
                delivered = data["channels"][ch]["delivered_ma"]
                row += [set_ma[ch], math.nan if delivered is None else delivered]
            expected.append(row)
    received = [sample for _, sample in receiver.amplitude]
    assert len(received) == len(expected) > 40
    for got, want in zip(received, expected, strict=True):
        assert got == pytest.approx(want, nan_ok=True)
    assert max(s[0] for s in received) == 20.0 and max(s[2] for s in received) == 16.0
    assert received[-1][:4:2] == [0.0, 0.0]  # the last word: every output at 0


def test_stamps_follow_the_session_clock_on_lsl_time(
    published: tuple[Receiver, list], pylsl: Any
) -> None:
    """Virtual time laid onto LSL's clock from the moment the streams opened: while the
    session runs, stamps are as far apart as the session's time; over the pause, further
    by the 7 s paused."""
    receiver, _ = published
    stamped = [(stamp, json.loads(sample[0])) for stamp, sample in receiver.markers]
    stamps = [stamp for stamp, _ in stamped]
    assert stamps == sorted(stamps)
    assert stamps[0] == pytest.approx(pylsl.local_clock(), abs=30)  # LSL's clock, not 0
    setpoints = [(s, m["elapsed_s"]) for s, m in stamped if m["event"] == "setpoint"]
    (t0, e0), (t1, e1) = setpoints[0], setpoints[5]
    assert t1 - t0 == pytest.approx(e1 - e0, abs=1e-3)
    paused = next(s for s, m in stamped if m.get("state") == "paused")
    resumed = next(s for s, m in stamped if m.get("state") == "ramping_up" and s > paused)
    assert resumed - paused == pytest.approx(7.0, abs=0.11)
    stop_ramp = [(s, m["elapsed_s"]) for s, m in stamped if m["event"] == "setpoint"][-1]
    assert stop_ramp[0] - t0 == pytest.approx(stop_ramp[1] - e0 + 7.0, abs=0.11)


def _fields(element: ET.Element | None, path: str) -> dict[str, str]:
    assert element is not None
    found = element.find(path)
    assert found is not None, path
    return {child.tag: child.text or "" for child in found}


def test_streams_describe_the_session(published: tuple[Receiver, list]) -> None:
    receiver, _ = published
    markers = ET.fromstring(receiver.infos["Markers"].as_xml())
    amplitude = ET.fromstring(receiver.infos["Stimulation"].as_xml())
    for info in (markers, amplitude):
        session = _fields(info, "desc/session")
        assert session == {
            "protocol_id": "fast-fibromyalgia",
            "protocol_name": "Fibromyalgia TENS (FAST trial settings)",
            "patient": "P-0042",
        }
        device = _fields(info, "desc/device")
        assert device["serial"].startswith("SIM-") and device["simulated"] == "true"
        assert device["url"] == "sim://" and device["model"]
        assert _fields(info, "desc/time_base")["clock"] == "virtual"
    assert markers.findtext("channel_format") == "string"
    assert amplitude.findtext("channel_count") == "4"
    channels = amplitude.findall("desc/channels/channel")
    assert [(c.findtext("label"), c.findtext("unit"), c.findtext("site")) for c in channels] == [
        ("ch1 set", "mA", "left back"),
        ("ch1 delivered", "mA", "left back"),
        ("ch2 set", "mA", "right back"),
        ("ch2 delivered", "mA", "right back"),
    ]


@pytest.mark.parametrize("given", ["no", "yes", 1, 0.5, None])
def test_lsl_takes_true_false_or_options_only(given: Any, tmp_path: Path) -> None:
    """``lsl="no"`` is not a no: anything but a bool or LslOptions is refused before the
    session is made (nothing recorded, nothing published)."""
    from tensctl.errors import InputError

    db = tmp_path / "s.sqlite3"
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as dev,
        pytest.raises(InputError, match="expected True, False or LslOptions"),
    ):
        dev.session("brief-intense", screened=True, lsl=given)
    with Store(db) as store:
        assert store.sessions() == []


@pytest.mark.parametrize("wait", [-1, float("nan"), 5000, "10", True])
def test_lsl_options_take_a_wait_of_0_to_3600_s(wait: Any) -> None:
    from tensctl.errors import InputError

    with pytest.raises(InputError, match="expected seconds from 0 to 3600"):
        LslOptions(wait_s=wait)
