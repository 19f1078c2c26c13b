"""``patients list`` and ``patients show`` leave sessions on the simulator out unless
``--include-simulated``, and say on stderr how many they left out and how to include them.
Real records in a real store: one patient with a session on a real device and two on the
simulator, one with simulator sessions only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tensctl.journal.store import Store
from tensctl.model.library import find_protocol


def write_session(db: Path, patient: str, simulated: bool) -> None:
    protocol = find_protocol("conventional-hf")[0]
    header = {
        "patient_id": patient,
        "protocol_id": protocol.id,
        "protocol_name": protocol.name,
        "device_url": "sciencemode4:///dev/pts/4" if simulated else "sciencemode4:///dev/ttyACM0",
        "device_model": "P24",
        "device_serial": "SIM-0001" if simulated else "P24-31337",
        "firmware": "0.1.0",
        "simulated": simulated,
        "operator": "test-operator",
    }
    with Store(db) as store:
        writer = store.open_session(header, protocol.model_dump_json())
        writer.append("state", 0.0, {"state": "stimulating", "previous": "ramping_up"})
        writer.append("state", 600.0, {"state": "completed", "previous": "stimulating"})
        writer.close("completed", 600.0)


def session_rows(text: str) -> list[int]:
    """The session ids of the table rows ("1  2026-12-04  conventio…")."""
    return [int(m) for m in re.findall(r"^ (\d+)\s+\d{4}-\d\d-\d\d ", text, re.MULTILINE)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite3"
    write_session(path, "DEMO-A", simulated=False)
    write_session(path, "DEMO-A", simulated=True)
    write_session(path, "DEMO-A", simulated=True)
    write_session(path, "DEMO-B", simulated=True)
    return path


def test_patients_list_leaves_simulator_only_patients_out(cli: Any, db: Path) -> None:
    listed = cli("patients", "list", "--db", str(db))
    assert listed.code == 0, listed.err
    assert "DEMO-A" in listed.out and "DEMO-B" not in listed.out
    assert "on the simulator" not in listed.out
    said = " ".join(listed.err.split())
    assert "left out: 3 session(s) on the simulator (1 patient(s) with no other sessions)" in said
    assert "--include-simulated" in said
    rows = json.loads(cli("patients", "list", "--db", str(db), "--json").out)
    assert rows == [{"id": "DEMO-A", "created_utc": rows[0]["created_utc"], "sessions": 1}]

    both = cli("patients", "list", "--db", str(db), "--include-simulated")
    assert both.code == 0 and both.err == ""
    assert "DEMO-B" in both.out and "on the simulator" in both.out
    rows = json.loads(cli("patients", "list", "--db", str(db), "--json", "--include-simulated").out)
    assert [(r["id"], r["sessions"], r["simulated_sessions"]) for r in rows] == [
        ("DEMO-A", 1, 2),
        ("DEMO-B", 0, 1),
    ]


def test_patients_show_leaves_simulator_sessions_out(cli: Any, db: Path) -> None:
    shown = cli("patients", "show", "DEMO-A", "--db", str(db))
    assert shown.code == 0, shown.err
    assert "patient DEMO-A: 1 session(s)" in shown.out
    assert "on the simulator" not in shown.out
    assert session_rows(shown.out) == [1]  # the real session only
    assert "left out: 2 session(s) on the simulator" in " ".join(shown.err.split())
    data = json.loads(cli("patients", "show", "DEMO-A", "--db", str(db), "--json").out)
    assert [r["id"] for r in data["sessions"]] == [1] and data["simulated_left_out"] == 2

    asked = cli("patients", "show", "DEMO-A", "--db", str(db), "--include-simulated")
    assert asked.code == 0 and "left out" not in asked.err
    assert "on the simulator: 2 session(s)" in " ".join(asked.out.split())
    assert session_rows(asked.out) == [1, 2, 3]
    both = ("--db", str(db), "--json", "--include-simulated")
    data = json.loads(cli("patients", "show", "DEMO-A", *both).out)
    assert [r["simulated"] for r in data["sessions"]] == [False, True, True]
    assert data["simulated_left_out"] == 0


def test_a_patient_with_simulator_sessions_only(cli: Any, db: Path) -> None:
    shown = cli("patients", "show", "DEMO-B", "--db", str(db))
    assert shown.code == 0
    assert "no sessions on real devices" in shown.out
    assert "left out: 1 session(s) on the simulator" in " ".join(shown.err.split())
    nobody = cli("patients", "show", "DEMO-C", "--db", str(db), "--include-simulated")
    assert nobody.code == 3 and "no sessions recorded for patient 'DEMO-C'" in nobody.err
