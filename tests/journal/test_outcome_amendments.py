"""Outcomes after the session from the API, after its ``with`` block too, and outcomes given
again: an amendment with a reason, appended to the session's chain — never a replacement."""

from __future__ import annotations

from pathlib import Path

import pytest

import tensctl
from tensctl.errors import InputError
from tensctl.journal.store import Store
from tensctl.journal.summary import summarise
from tensctl.journal.verify import verify
from tensctl.journal.writer import QueuedWriter
from tensctl.model.outcomes import parse_outcomes

SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"
BEFORE = {"pain_rest": 6, "pain_movement": 7, "fatigue": 3}
AFTER = {
    "pain_rest": 2,
    "pain_movement": 3,
    "fatigue": 2,
    "adverse_events": ["burn"],
    "adverse_note": "small blister at electrode 2",
}


def _outcomes(db: Path, sid: int) -> list[dict[str, object]]:
    with Store(db) as store:
        return [e["data"] for e in store.events(sid) if e["kind"] == "outcome"]


@pytest.mark.parametrize("how", ["completed", "stopped", "emergency_stop"])
def test_outcomes_after_the_with_block_are_in_the_record(tmp_path: Path, how: str) -> None:
    """A real-time session (its record written by the queued writer's thread, which stops
    on close): the outcomes given afterwards go straight into the closed record."""
    db = tmp_path / "s.sqlite3"
    with tensctl.connect("sim://", journal=db) as dev:  # real time: the queued writer
        with dev.session(SHORT, patient="P-1", screened=True, outcomes_before=BEFORE) as session:
            if how == "completed":
                session.run()
            else:
                session.run_for(2.5)
                session.stop() if how == "stopped" else session.emergency_stop("Esc")
                session.run()
        assert isinstance(session.recorder and session.recorder.queue, QueuedWriter)
        session.record_outcomes(after=AFTER)  # it used to wait on the stopped thread, raise
        sid = session.record_id
        assert sid is not None
    with Store(db) as store:
        header, events = store.session(sid), store.events(sid)
        assert verify(store).ok
    reason = {"completed": "completed", "stopped": "stopped_by_user"}.get(how, how)
    assert header["end_reason"] == reason
    assert [e["kind"] for e in events][-2:] == ["closed", "outcome"]
    summary = summarise(header, events)["outcomes"]
    assert summary["before"]["pain_rest"] == 6
    assert summary["after"]["adverse_events"] == ["burn"]
    assert summary["after"]["adverse_note"] == "small blister at electrode 2"


def test_outcomes_given_twice_through_the_api_are_an_amendment(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        with dev.session("brief-intense", intensity=15, screened=True, patient="P-2") as s:
            s.run_for(2)
            s.record_outcomes(after=AFTER)  # during the session: fine
        with pytest.raises(InputError) as refused:
            s.record_outcomes(after={**AFTER, "pain_rest": 1})
        assert "already recorded" in str(refused.value) and "reason" in str(refused.value)
        s.record_outcomes(after={**AFTER, "pain_rest": 1}, reason="the patient corrected it")
        sid = s.record_id
        assert sid is not None
    found = _outcomes(db, sid)
    assert [o["pain_rest"] for o in found] == [2, 1]  # both on record, in order
    assert found[1]["reason"] == "the patient corrected it"
    with Store(db) as store:
        events = store.events(sid)
        first = next(e for e in events if e["kind"] == "outcome")
        assert found[1]["amends"] == first["seq"]
        assert summarise(store.session(sid), events)["outcomes"]["after"]["pain_rest"] == 1
        assert verify(store).ok


def test_the_store_amends_only_with_a_reason_and_nothing_to_amend_is_said(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.sqlite3"
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        with dev.session("brief-intense", intensity=15, screened=True) as s:
            s.run_for(1)
        sid = s.record_id
        assert sid is not None
    values = parse_outcomes(BEFORE, "--before")
    with Store(db) as store:
        with pytest.raises(InputError, match="nothing to amend"):
            store.add_outcomes(sid, "before", values, "dr-a", reason="why not")
        first = store.add_outcomes(sid, "before", values, "dr-a")
        with pytest.raises(InputError, match="already recorded"):
            store.add_outcomes(sid, "before", values, "dr-a", reason="  ")
        second = store.add_outcomes(sid, "before", values, "dr-b", reason="wrong scale")
        assert second == first + 1
        assert verify(store).ok
    amended = _outcomes(db, sid)[-1]
    assert (amended["amends"], amended["operator"], amended["reason"]) == (
        first,
        "dr-b",
        "wrong scale",
    )


def test_flush_after_the_writer_stopped_does_not_wait(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with Store(db) as store:
        header = {
            "patient_id": None,
            "protocol_id": "x",
            "protocol_name": "x",
            "device_url": "sim://",
            "device_model": "m",
            "device_serial": "s",
            "firmware": "f",
            "simulated": True,
            "operator": "o",
        }
        writer = store.open_session(header, "{}")
        queued = QueuedWriter(writer)
        queued.put("state", 0.0, {"state": "idle"})
        queued.stop()
        queued.stop()  # twice: nothing more
        queued.flush(timeout_s=0.001)  # nothing to wait for: it used to time out and raise
        assert [e["kind"] for e in store.events(writer.session_id)] == ["state"]


def test_a_note_is_appended_sealed_and_verified_and_an_empty_one_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    with tensctl.connect("sim://", virtual=True, journal=db) as dev:
        with dev.session(SHORT, patient="P-1", screened=True) as session:
            session.run()
        sid = session.record_id
        assert sid is not None
    with Store(db) as store:
        first = store.add_note(sid, "  redness under electrode 2 gone after 10 min ", "ana")
        with pytest.raises(InputError, match="a note needs some text"):
            store.add_note(sid, "   ", "ana")
        events = store.events(sid)
    notes = [e for e in events if e["kind"] == "note"]
    assert [(e["seq"], e["data"]) for e in notes] == [
        (first, {"text": "redness under electrode 2 gone after 10 min", "operator": "ana"})
    ]
    assert events[-1]["kind"] == "note"
    with Store(db) as store:
        assert verify(store).ok
