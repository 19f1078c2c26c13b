"""The examples an integrator would copy run as written."""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_scripted_study(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "scripted_study.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert out.count("completed after") == 3
    from tensctl.journal.store import Store
    from tensctl.journal.summary import summarise

    with Store() as store:  # the test's scratch store ($TENSCTL_DB)
        rows = store.sessions("STUDY-007")
        summaries = [summarise(r, store.events(r["id"])) for r in rows]
    assert [s["end_reason"] for s in summaries] == ["completed"] * 3
    assert [s["outcomes"]["after"]["pain_rest"] for s in summaries] == [4.0, 3.0, 2.0]


def test_events_to_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "events.csv"
    monkeypatch.setattr(sys, "argv", ["events_to_csv.py", str(target)])
    runpy.run_path(str(EXAMPLES / "events_to_csv.py"), run_name="not_main")["main"](str(target))
    rows = list(csv.DictReader(target.open()))
    assert any(r["event"] == "state" and r["state"] == "ramping_up" for r in rows)
    assert any(r["event"] == "setpoint" and float(r["amplitude_ma"]) == 18.0 for r in rows)
    assert [r["state"] for r in rows if r["event"] == "state"][-1] == "completed"
