"""The examples an integrator would copy run as written."""

from __future__ import annotations

import csv
import re
import runpy
import sys
from pathlib import Path

import pytest

from tensctl.journal.store import Store, default_path
from tensctl.journal.summary import summarise

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def examples_store() -> Path:
    """Next to the test's scratch store ($TENSCTL_DB), as next to a user's default store."""
    return default_path().with_name("examples.sqlite3")


def test_scripted_study(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "scripted_study.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert out.count("completed after") == 3
    assert f"recorded in {examples_store()}" in out
    with Store(examples_store(), must_exist=True) as store:
        rows = store.sessions("DEMO-001")
        summaries = [summarise(r, store.events(r["id"])) for r in rows]
    assert [s["end_reason"] for s in summaries] == ["completed"] * 3
    assert [s["outcomes"]["after"]["pain_rest"] for s in summaries] == [4.0, 3.0, 2.0]
    assert all(s["simulated"] for s in summaries)
    assert not default_path().exists()  # the default (clinical) store is not touched


def test_events_to_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "events.csv"
    monkeypatch.setattr(sys, "argv", ["events_to_csv.py", str(target)])
    runpy.run_path(str(EXAMPLES / "events_to_csv.py"), run_name="not_main")["main"](str(target))
    rows = list(csv.DictReader(target.open()))
    assert any(r["event"] == "state" and r["state"] == "ramping_up" for r in rows)
    assert any(r["event"] == "setpoint" and float(r["amplitude_ma"]) == 18.0 for r in rows)
    assert [r["state"] for r in rows if r["event"] == "state"][-1] == "completed"
    with Store(examples_store(), must_exist=True) as store:
        assert [r["patient_id"] for r in store.sessions("DEMO-002")] == ["DEMO-002"]
    assert not default_path().exists()


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_examples_use_demonstration_ids_only(example: str) -> None:
    """No realistic patient id (P-0042, STUDY-007) in an example: only DEMO-…"""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    ids = re.findall(r"patient=(\w+)|PATIENT = \"([^\"]*)\"", text)
    named = {a or b for a, b in ids}
    assert named, "an example names its patient"
    for name in named:
        assert name == "PATIENT" or name.startswith("DEMO-"), name


def test_async_session(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "async_session.py"), run_name="not_main")["main"]()
    out = capsys.readouterr().out
    assert "ready → ramping_up" in out and "ramping_down → completed" in out
    assert "channel 1: 20 → 18 mA" in out
    assert "not changed: channel 1: 28 mA is above its ceiling of 24 mA" in out
    assert "completed (stopped_by_user) after 183 s" in out
    assert f"in {examples_store()}" in out
    with Store(examples_store(), must_exist=True) as store:
        (row,) = store.sessions("DEMO-003")
        summary = summarise(row, store.events(row["id"]))
    assert summary["end_reason"] == "stopped_by_user" and summary["simulated"]
    assert summary["outcomes"]["after"]["pain_rest"] == 3.0
    assert not default_path().exists()
