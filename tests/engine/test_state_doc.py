"""docs/state-machine.md is generated from the code and must match it."""

from __future__ import annotations

from pathlib import Path

from tensctl.engine.states import OUTPUT_STATES, TRANSITIONS, State, document

ROOT = Path(__file__).resolve().parents[2]


def test_state_machine_doc_is_current() -> None:
    current = (ROOT / "docs" / "state-machine.md").read_text(encoding="utf-8")
    assert current == document(), (
        "regenerate: python -m tensctl.engine.states > docs/state-machine.md"
    )


def test_every_state_is_reachable_and_every_output_state_can_reach_zero() -> None:
    reached = {State.idle}
    for _ in range(len(State)):
        for t in TRANSITIONS:
            sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
            if reached & set(sources):
                reached.add(t["dest"])
    assert reached == set(State)
    for state in OUTPUT_STATES:
        exits = {
            t["dest"]
            for t in TRANSITIONS
            if state in (t["source"] if isinstance(t["source"], list) else [t["source"]])
        }
        assert State.fault in exits and State.stopped in exits
