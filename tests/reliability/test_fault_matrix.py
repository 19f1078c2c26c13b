"""The fault matrix: each fault injected into a real session — ``tensctl run`` as a process,
``tensctl sim --pty`` as another, the session recorded to a store — and the end state
asserted from all three sides: the exit code, the simulator's own output log (every channel
ends at 0, never above the target), and the record (how it ended, a fault latched where one
should be, every hash chain intact). Controller SIGKILL: test_controller_killed.py."""

from __future__ import annotations

import json
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tensctl.journal.store import Store
from tensctl.journal.verify import verify
from tensctl.testing import Simulator, run_command, run_to_end

TARGET_UA = 5000
SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


@dataclass(frozen=True)
class Case:
    events: str  # the scenario's clock and events (YAML)
    exit_code: int
    end: tuple[str, ...]  # acceptable end reasons (prefixes)


START = "clock: start\nevents:\n"
BOOT = "clock: boot\nevents:\n"
CASES = {
    # the link: retried and survived, or lost → fault
    "link silence": Case(
        START + "  - {at_s: 2.5, kind: link_silence, duration_ms: 1500}\n",
        6,
        ("fault:link_lost", "fault:host_watchdog"),
    ),
    "corrupted bytes 1e-3": Case(
        BOOT + "  - {at_s: 0, kind: link_quality, corruption_rate: 0.001}\n", 0, ("completed",)
    ),
    "dropped frames 5 %": Case(
        BOOT + "  - {at_s: 0, kind: link_quality, drop_rate: 0.05}\n", 0, ("completed",)
    ),
    "duplicated frames 10 %": Case(
        BOOT + "  - {at_s: 0, kind: link_quality, duplicate_rate: 0.1}\n", 0, ("completed",)
    ),
    # the device
    "device reboot": Case(
        START + "  - {at_s: 2.5, kind: reboot, offline_ms: 300}\n",
        6,
        # a restart ends the host session: a command refused STALE_SESSION may come first
        ("fault:device_boot", "fault:device_session", "fault:host_watchdog", "fault:link_lost"),
    ),
    "low battery": Case(
        START + "  - {at_s: 2.5, kind: battery, low: true}\n", 6, ("fault:device_fault",)
    ),
    # the patient's side
    "electrode off": Case(
        START + "  - {at_s: 2.5, kind: electrode_off, channel: 1}\n",
        6,
        ("fault:device_fault", "fault:open_circuit"),
    ),
    "electrode peel": Case(
        START + "  - {at_s: 2.5, kind: peel, channel: 1, duration_s: 1, area_fraction: 0.3}\n",
        6,
        ("fault:device_fault", "fault:peel"),
    ),
    "over-current": Case(
        START + "  - {at_s: 2.5, kind: over_current, channel: 1}\n",
        6,
        ("fault:device_fault", "fault:over_current"),
    ),
}


def run_session(
    tmp_path: Path, events: str, preexec: Callable[[], None] | None = None
) -> tuple[int, str, list[dict[str, Any]], Path]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(f"format_version: 1\nid: matrix\n{events}")
    db = tmp_path / "sessions.sqlite3"
    with Simulator(tmp_path / "sim.jsonl", scenario=scenario, extra=("--seed", "7")) as sim:
        done = run_to_end(
            run_command(sim.url, "--no-outcomes", "--db", str(db), protocol=SHORT),
            preexec_fn=preexec,
        )
        log = sim.log()
    return done.returncode, done.stderr, log, db


def assert_output_safe(log: list[dict[str, Any]]) -> None:
    outputs = [e for e in log if e["event"] == "output"]
    assert outputs, "nothing was delivered"
    assert max(e["amplitude_ua"] for e in outputs) <= TARGET_UA
    last: dict[int, int] = {}
    for e in outputs:
        last[e["channel"]] = e["amplitude_ua"]
    assert all(v == 0 for v in last.values()), last


def assert_record(db: Path, end: tuple[str, ...]) -> dict[str, Any]:
    with Store(db) as store:
        (header,) = store.sessions()
        events = store.events(header["id"])
        assert verify(store).ok
    assert header["end_reason"].startswith(end), header["end_reason"]
    states = [e["data"]["state"] for e in events if e["kind"] == "state"]
    if header["end_reason"].startswith("fault:"):
        assert states[-1] == "fault"
        assert [e for e in events if e["kind"] == "fault"]
    else:
        assert states[-1] == "completed"
    assert events[-1]["kind"] == "closed"
    return header


@pytest.mark.parametrize("name", list(CASES))
def test_fault(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    code, err, log, db = run_session(tmp_path, case.events)
    assert code == case.exit_code, err
    assert_output_safe(log)
    assert_record(db, case.end)
    assert "Traceback" not in err


def test_corrupted_bytes_1e_2_either_refuse_or_end_safe(tmp_path: Path) -> None:
    """One byte in a hundred: a frame of 60 bytes arrives intact about half the time. The
    session may not get going (exit 5, nothing delivered, recorded as refused) or may lose
    the link (exit 6); either way nothing is left on and the record is intact."""
    code, err, log, db = run_session(
        tmp_path, BOOT + "  - {at_s: 0, kind: link_quality, corruption_rate: 0.01}\n"
    )
    assert code in (0, 5, 6), err
    outputs = [e for e in log if e["event"] == "output"]
    if outputs:
        assert_output_safe(log)
    if db.exists() and Store(db).sessions():
        with Store(db) as store:
            assert verify(store).ok
            (header,) = store.sessions()
        expected = {0: "completed", 5: "refused", 6: "fault:"}[code]
        assert header["end_reason"].startswith(expected)


def test_full_disk_under_the_session_store_faults_the_session(tmp_path: Path) -> None:
    """The store cannot grow (a file-size limit on the controller: writes fail with EFBIG,
    as on a full disk): stimulation without a record does not go on."""
    db = tmp_path / "sessions.sqlite3"
    Store(db).close()  # the schema is in place; what is left is room for the session
    room = db.stat().st_size + 48 * 1024

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    code, err, log, _ = run_session(tmp_path, "events: []\n", preexec=limit_files)
    assert code == 6, err
    assert "record" in err
    assert_output_safe(log)  # it had started: current flowed, and ended at 0
    with Store(db) as store:  # no limit here: the next start marks it interrupted
        (header,) = store.sessions()
        assert verify(store).ok  # intact up to where the disk filled
        kinds = [e["kind"] for e in store.events(header["id"])]
    assert header["end_reason"] in ("interrupted", "fault:record"), header["end_reason"]
    assert kinds[-1] == "closed" and "checked" in kinds


def test_the_matrix_covers_every_fault_of_the_issue() -> None:
    names = {*CASES, "corrupted bytes 1e-2", "full disk", "controller SIGKILL"}
    assert len(names) == 12
    assert json.dumps(sorted(names))
