"""``tensctl run --lsl``: a process that publishes its session (with LSLAPICFG unset it
writes its own machine-only liblsl configuration), a missing pylsl said with the extra to
install and its exit code, an outlet that fails leaving the session alone, and no inlet
anywhere in tensctl."""

from __future__ import annotations

import configparser
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import LSL_CONFIG, Receiver

import tensctl
from tensctl import lsl
from tensctl.errors import MissingExtra, exit_code
from tensctl.journal.store import Store
from tensctl.lsl import SessionStreams, config_path
from tensctl.testing import run_to_end

ROOT = Path(__file__).resolve().parents[2]


def test_run_lsl_publishes_what_it_prints(tmp_path: Path, receiver: Receiver) -> None:
    """Without LSLAPICFG the process writes its own configuration, machine scope; this test
    process (conftest's, machine scope too) finds its streams and receives every event that
    ``run --json`` prints, in the same order."""
    env = {k: v for k, v in os.environ.items() if k != "LSLAPICFG"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    command = [sys.executable, "-m", "tensctl", "run", "brief-intense", "-i", "15", "--yes"]
    command += ["--speed", "max", "--json", "--lsl-wait", "20"]
    done = run_to_end(command, env=env, timeout=60)
    receiver.stop()
    assert done.returncode == 0, done.stderr
    assert "LSL: publishing tensctl-markers and tensctl-amplitude on this machine only" in (
        done.stderr
    )
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    markers = [json.loads(sample[0]) for _, sample in receiver.markers]
    events = [e for e in printed if e["event"] != "telemetry"]
    assert [(m["event"], m.get("state")) for m in markers] == [
        (e["event"], e.get("state")) for e in events
    ]
    assert len(receiver.amplitude) == len(printed) - len(events)
    written = configparser.ConfigParser()
    written.read(tmp_path / "cache" / "tensctl" / "lsl-machine.cfg")
    assert written["multicast"]["ResolveScope"] == "machine"
    assert written["ports"]["IPv6"] == "disable"


def test_without_pylsl_the_extra_is_named(
    monkeypatch: pytest.MonkeyPatch, cli: Any, _session_store: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pylsl", None)  # as if it were not installed
    done = cli("run", "brief-intense", "-i", "15", "--yes", "--speed", "max", "--lsl")
    assert done.code == exit_code("missing_extra") == 8
    assert "pip install 'tensctl[lsl]'" in done.err and "Traceback" not in done.err
    assert done.out == ""
    with (
        tensctl.connect("sim://", virtual=True, journal=tmp_path / "api.sqlite3") as device,
        pytest.raises(MissingExtra, match=r"tensctl\[lsl\]"),
    ):
        device.session("brief-intense", intensity=15, screened=True, lsl=True)
    for db in (_session_store, tmp_path / "api.sqlite3"):
        with Store(db) as store:
            assert store.sessions() == []  # refused before anything was recorded


def test_a_failing_outlet_leaves_the_session_alone(tmp_path: Path, pylsl: Any) -> None:
    db = tmp_path / "s.sqlite3"
    with (
        tensctl.connect("sim://", virtual=True, journal=db) as device,
        device.session("brief-intense", intensity=15, screened=True, lsl=True) as session,
    ):
        streams = session.streams
        assert isinstance(streams, SessionStreams)

        def broken(sample: list[Any], timestamp: float = 0.0) -> None:
            raise OSError("no buffer space available")

        streams.markers.push_sample = broken
        assert session.run().value == "completed"
        session_id = session.record_id
    assert session_id is not None and streams.problem is not None
    with Store(db) as store:
        events = store.events(session_id)
        (header,) = store.sessions()
    assert header["end_reason"] == "completed"
    warnings = [e["data"] for e in events if e["kind"] == "warning"]
    assert [w["rule"] for w in warnings] == ["lsl"]
    assert "no buffer space available" in warnings[0]["message"]


def test_waiting_for_a_recorder_that_never_comes(pylsl: Any, cli: Any) -> None:
    done = cli("run", "brief-intense", "-i", "15", "--yes", "--speed", "max", "--lsl-wait", "0.3")
    assert done.code == 0, done.err
    assert f"publishing tensctl-markers and tensctl-amplitude as {LSL_CONFIG} configures" in (
        done.err
    )
    assert "LSL: waiting up to 0.3 s for a recorder to connect" in done.err
    assert "no LSL recorder connected within 0.3 s: publishing anyway" in done.err


def test_tensctl_opens_no_inlet() -> None:
    """Outlets only: no module of tensctl finds, opens or reads an LSL stream, so nothing
    received over the network can reach a session."""
    receiving = ("StreamInlet", "resolve_by", "resolve_stream", "pull_", "ContinuousResolver")
    for path in sorted((ROOT / "src" / "tensctl").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found = [word for word in receiving if word in text]
        assert not found, f"{path.relative_to(ROOT)} uses {found}"


def test_lslapicfg_naming_no_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, cli: Any, tmp_path: Path, _session_store: Path
) -> None:
    """liblsl would fall back to its default scope, the network: refused before anything."""
    monkeypatch.setenv("LSLAPICFG", str(tmp_path / "nowhere.cfg"))
    done = cli("run", "brief-intense", "-i", "15", "--yes", "--speed", "max", "--lsl")
    assert done.code == exit_code("input")
    assert f"LSLAPICFG: {tmp_path / 'nowhere.cfg'} is not a file" in done.err
    with Store(_session_store) as store:
        assert store.sessions() == []


def test_own_config_without_a_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nowhere to cache it: tensctl's machine-only configuration goes to a file of its own."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.delenv("LSLAPICFG")
    monkeypatch.setattr(lsl, "_written", None)
    path = config_path()
    assert os.environ["LSLAPICFG"] == str(path) and not path.is_relative_to(blocked)
    written = configparser.ConfigParser()
    written.read(path)
    assert written["multicast"]["ResolveScope"] == "machine"
    assert written["ports"]["IPv6"] == "disable"
    assert lsl.describe_config().startswith("on this machine only")
    path.unlink()
