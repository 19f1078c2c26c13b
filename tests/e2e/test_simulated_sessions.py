"""Sessions on the simulator behind a real pseudo-terminal are recorded as simulated: the
simulator says so (its ``SIM-`` serial), not the URL or a profile. ``tensctl run`` on
``tensctl sim --personality sciencemode4 --pty`` (two real processes, pyserial between
them), then the record read back through the CLI: ``sessions show`` marks it, ``patients
show`` leaves it out unless ``--include-simulated``, and the daily cap counts it only
against other simulated sessions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tensctl.errors import exit_code
from tensctl.journal.store import Store
from tensctl.testing import SimulatorFactory, run_command, run_to_end

pytestmark = pytest.mark.timeout(120)
PATIENT = "DEMO-SIM-1"
SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


def tensctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tensctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_on(url: str, db: Path, *extra: str, protocol: Path = SHORT) -> Any:
    command = run_command(
        url, "--db", str(db), "--patient", PATIENT, "--no-outcomes", *extra, protocol=protocol
    )
    return run_to_end(command)


def recorded_id(done: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"recorded as session (\d+)", done.stderr)
    assert found, done.stderr
    return int(found.group(1))


def write_real_session(db: Path, stimulated_s: float) -> None:
    """A finished session on a real device (a RehaStim2 with its own serial), today, for
    ``PATIENT``: written through the store as a recorder would."""
    text = SHORT.read_text(encoding="utf-8")
    header = {
        "patient_id": PATIENT,
        "protocol_id": "e2e-short",
        "protocol_name": "End-to-end test, six seconds",
        "device_url": "sciencemode2:///dev/ttyUSB0",
        "device_model": "RehaStim2",
        "device_serial": "",
        "firmware": "ScienceMode2",
        "simulated": False,
        "operator": "test-operator",
    }
    with Store(db) as store:
        writer = store.open_session(header, text)
        for elapsed, state, previous in (
            (0.0, "ramping_up", "ready"),
            (1.0, "stimulating", "ramping_up"),
            (stimulated_s, "ramping_down", "stimulating"),
            (stimulated_s + 1.0, "completed", "ramping_down"),
        ):
            writer.append("state", elapsed, {"state": state, "previous": previous})
        writer.close("completed", stimulated_s + 1.0)


def test_a_p24_simulator_session_is_recorded_simulated_and_kept_out_of_patients_show(
    tenssim_factory: SimulatorFactory,
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.sqlite3"
    with tenssim_factory(personality="sciencemode4") as sim:
        done = run_on(sim.url, db)
        booted = [e for e in sim.log() if e["event"] == "boot"]
    assert done.returncode == 0, done.stderr
    assert booted and booted[0]["serial"].startswith("SIM-")
    session = recorded_id(done)
    with Store(db, must_exist=True) as store:
        [header] = [h for h in store.sessions(PATIENT) if h["id"] == session]
    assert header["simulated"] == 1 and header["device_serial"] == "SIM-0001"
    assert header["device_url"].startswith("sciencemode4:///dev/pts/")

    shown = tensctl("sessions", "show", str(session), "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert "SIMULATED" in shown.stdout, shown.stdout
    assert "does not measure its current" in shown.stdout  # a P24: the dose is commanded
    data = json.loads(tensctl("sessions", "show", str(session), "--db", str(db), "--json").stdout)
    assert data["simulated"] is True and data["session"]["simulated"] == 1
    (dose,) = data["dose"]  # 5 mA, 150 µs symmetric: at most 1.5 µC a pulse, ramps less
    assert dose["pulses"] > 200 and 0.5 * 1.5 * dose["pulses"] < dose["charge_uc"]
    assert dose["charge_uc"] <= 1.5 * (dose["pulses"] + 1)  # pulses are counted whole
    page = tmp_path / "report.html"
    made = tensctl("sessions", "report", str(session), "--db", str(db), "-o", str(page))
    assert made.returncode == 0, made.stderr
    html = page.read_text(encoding="utf-8")
    assert html.index("SIMULATED — recorded on a simulator") < html.index("<h1>")
    assert "does not measure its current" in html

    patient = tensctl("patients", "show", PATIENT, "--db", str(db))
    assert patient.returncode == 0, patient.stderr
    assert "no sessions on real devices" in patient.stdout
    assert "e2e-short" not in patient.stdout  # the session is not listed
    assert "left out: 1 session(s) on the simulator" in patient.stderr
    assert "--include-simulated" in patient.stderr
    asked = tensctl("patients", "show", PATIENT, "--db", str(db), "--include-simulated")
    assert asked.returncode == 0 and "on the simulator: 1 session(s)" in asked.stdout
    assert re.search(rf"^\s*{session}\s+\S+\s+e2e-short", asked.stdout, re.MULTILINE), asked.stdout
    rows = json.loads(tensctl("patients", "show", PATIENT, "--db", str(db), "--json").stdout)
    assert rows["sessions"] == [] and rows["simulated_left_out"] == 1

    listed = tensctl("patients", "list", "--db", str(db), "--json")
    assert json.loads(listed.stdout) == [] and "1 patient(s) with no other" in listed.stderr
    both = tensctl("patients", "list", "--db", str(db), "--json", "--include-simulated")
    assert [(p["id"], p["sessions"], p["simulated_sessions"]) for p in json.loads(both.stdout)] == [
        (PATIENT, 0, 1)
    ]


def test_the_daily_cap_counts_p24_simulator_sessions_only_against_simulated_ones(
    tenssim_factory: SimulatorFactory,
    tmp_path: Path,
) -> None:
    """A 10 s cap: an hour on a real device today does not stop a 6 s session on the
    simulator, but that session does stop the next one on the simulator (6 + 6 > 10)."""
    db = tmp_path / "s.sqlite3"
    capped = tmp_path / "e2e-capped.yaml"
    text = SHORT.read_text(encoding="utf-8")
    capped.write_text(text.replace("daily_cap_s: 60", "daily_cap_s: 10"), encoding="utf-8")
    write_real_session(db, stimulated_s=3600.0)
    with tenssim_factory(personality="sciencemode4") as sim:
        url = sim.url
        first = run_on(url, db, protocol=capped)
        second = run_on(url, db, protocol=capped)
        delivered = [e for e in sim.log() if e["event"] == "output" and e["running"]]
    assert first.returncode == 0, first.stderr  # the real hour is not the simulator's
    assert second.returncode == exit_code("safety"), second.stderr
    said = " ".join(second.stderr.split())
    assert f"patient {PATIENT} on the simulator" in said and "daily cap" in said
    assert "0.1 min of stimulation today" in said  # the first simulated run, not the real hour
    assert delivered  # the first run did stimulate on the simulator's output stage
    with Store(db, must_exist=True) as store:
        headers = store.sessions(PATIENT)
    assert [h["simulated"] for h in headers] == [0, 1, 1]
    assert headers[-1]["end_reason"].startswith("refused")
