"""A session record survives the controller being killed: ``tensctl run`` against
``tensctl sim --pty`` is SIGKILLed mid-session; the record holds every event it had put out,
its chains verify, and the next start marks it interrupted. The simulator's own watchdog
takes the output to 0 (no host is left to do it)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tensctl.cli.app import main
from tensctl.journal.store import Store
from tensctl.journal.verify import verify
from tensctl.testing import SimulatorFactory, read_until, start_run

SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


def test_sigkill_mid_session_leaves_an_intact_record_marked_interrupted(
    tmp_path: Path, capsys: Any, tenssim_factory: SimulatorFactory
) -> None:
    db = tmp_path / "sessions.sqlite3"
    with tenssim_factory() as sim:
        proc = start_run(sim.url, "--patient", "P-9", "--db", str(db), protocol=SHORT)
        printed = read_until(proc, lambda seen: sum(e["event"] == "telemetry" for e in seen) == 2)
        proc.kill()
        proc.wait(timeout=10)
        time.sleep(1.0)  # longer than the device's watchdog
        log = sim.log()
    assert proc.returncode == -9
    delivered = [e["amplitude_ua"] for e in log if e["event"] == "output" and e["channel"] == 1]
    assert max(delivered) > 0 and delivered[-1] == 0
    assert [e for e in log if e["event"] == "output"][-1]["cause"] == "watchdog"

    with Store(db, mark_interrupted=False) as store:
        (header,) = store.sessions()
        assert header["end_reason"] is None  # nobody has looked yet
        stored = store.events(header["id"])
        assert verify(store).ok
    # everything the controller had put out is on record, in order, before the kill
    own = ("screening", "outcome")  # written by the recorder itself, not printed
    stored_kinds = [(e["kind"], round(e["elapsed_s"], 3)) for e in stored if e["kind"] not in own]
    printed_kinds = [(e["event"], e["elapsed_s"]) for e in printed]
    assert stored_kinds[: len(printed_kinds)] == printed_kinds
    assert "closed" not in {k for k, _ in stored_kinds}

    assert main(["sessions", "list", "--db", str(db), "--json"]) == 0  # the next start
    (row,) = json.loads(capsys.readouterr().out)
    assert row["end_reason"] == "interrupted" and row["patient"] == "P-9"
    assert main(["sessions", "verify", "--db", str(db)]) == 0
    with Store(db) as store:
        events = store.events(header["id"])
    assert events[: len(stored)] == stored and events[-1]["kind"] == "closed"
