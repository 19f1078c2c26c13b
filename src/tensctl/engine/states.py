"""The session's states and the transitions between them — the one place they are defined.

``docs/state-machine.md`` is generated from :data:`TRANSITIONS` by :func:`mermaid` (a test
keeps it current). Output is above 0 only in ``titrating``, ``ramping_up``,
``stimulating`` and ``ramping_down``; ``fault`` and ``stopped`` are latched until a reset.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from transitions import Machine

# Triggers are fired by name (Session.fire), so transitions need not bind them as model
# methods; its warnings about skipping those bindings are noise.
logging.getLogger("transitions.core").setLevel(logging.ERROR)


class State(Enum):
    idle = "idle"
    connected = "connected"
    checking = "checking"
    ready = "ready"
    titrating = "titrating"
    ramping_up = "ramping_up"
    stimulating = "stimulating"
    paused = "paused"
    ramping_down = "ramping_down"
    completed = "completed"
    fault = "fault"
    stopped = "stopped"


class Trigger(Enum):
    connect = "connect"
    check = "check"
    checks_passed = "checks_passed"
    checks_failed = "checks_failed"
    titrate = "titrate"
    titration_done = "titration_done"
    start = "start"
    ramp_done = "ramp_done"
    pause = "pause"
    resume = "resume"
    stop = "stop"
    finish = "finish"
    ramped_down = "ramped_down"
    fault = "fault"
    emergency_stop = "emergency_stop"
    reset = "reset"


OUTPUT_STATES = frozenset(
    {State.titrating, State.ramping_up, State.stimulating, State.ramping_down}
)
"""The only states in which any output may be above 0."""
ACTIVE = [State.titrating, State.ramping_up, State.stimulating, State.paused, State.ramping_down]
S, T = State, Trigger

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": T.connect, "source": S.idle, "dest": S.connected},
    {"trigger": T.check, "source": [S.connected, S.ready], "dest": S.checking},
    {"trigger": T.checks_passed, "source": S.checking, "dest": S.ready},
    {"trigger": T.checks_failed, "source": S.checking, "dest": S.connected},
    {"trigger": T.titrate, "source": S.ready, "dest": S.titrating},
    {"trigger": T.titration_done, "source": S.titrating, "dest": S.ready},
    {"trigger": T.start, "source": S.ready, "dest": S.ramping_up, "conditions": "is_checked"},
    {"trigger": T.ramp_done, "source": S.ramping_up, "dest": S.stimulating},
    {
        "trigger": T.pause,
        "source": [S.ramping_up, S.stimulating],
        "dest": S.paused,
        "before": "pause_begins",
    },
    {"trigger": T.resume, "source": S.paused, "dest": S.ramping_up},
    {"trigger": T.stop, "source": [S.ramping_up, S.stimulating, S.paused], "dest": S.ramping_down},
    {"trigger": T.finish, "source": [S.stimulating, S.ramping_up], "dest": S.ramping_down},
    {"trigger": T.ramped_down, "source": S.ramping_down, "dest": S.completed},
    {"trigger": T.fault, "source": [S.connected, S.checking, S.ready, *ACTIVE], "dest": S.fault},
    {
        "trigger": T.emergency_stop,
        "source": [S.connected, S.checking, S.ready, *ACTIVE, S.fault],
        "dest": S.stopped,
    },
    {
        "trigger": T.reset,
        "source": [S.fault, S.stopped, S.completed],
        "dest": S.ready,
        "conditions": "device_reset",
    },
]


ENTERED = "entered"
"""The model's callback on entering any state, before the state's own: the one ``state``
event of each transition, in order, with the session time of the new state."""
ON_ENTER = {
    S.titrating: "begin_titration",
    S.ramping_up: "begin_run",
    S.completed: "run_completed",
}
ON_EXIT = {S.titrating: "end_titration", S.paused: "pause_ends"}
"""Leaving ``paused`` any way (resume, stop, fault) ends the pause on the run's clock."""


def sources(trigger: Trigger) -> list[State]:
    """The states ``trigger`` leaves from (for telling an operator where a command works)."""
    out: list[State] = []
    for t in TRANSITIONS:
        if t["trigger"] is trigger:
            found = t["source"]
            out += found if isinstance(found, list) else [found]
    return out


def build_machine(model: Any, on_exception: str) -> Machine:
    """A machine over ``model``: no automatic ``to_<state>`` triggers, guards and callbacks
    by name (:data:`ENTERED`, :data:`ON_ENTER`, :data:`ON_EXIT`, a transition's ``before``)."""
    states = [
        {
            "name": state,
            "on_enter": [ENTERED, *([ON_ENTER[state]] if state in ON_ENTER else [])],
            "on_exit": [ON_EXIT[state]] if state in ON_EXIT else [],
        }
        for state in State
    ]
    return Machine(
        model=model,
        states=states,
        transitions=[_plain(t) for t in TRANSITIONS],
        initial=State.idle,
        auto_transitions=False,
        send_event=True,  # callbacks and guards receive the EventData (errors included)
        on_exception=on_exception,
        queued=False,
    )


def _plain(transition: dict[str, Any]) -> dict[str, Any]:
    out = dict(transition)
    out["trigger"] = transition["trigger"].value
    return out


def mermaid() -> str:
    """The state diagram in mermaid syntax, generated from :data:`TRANSITIONS`."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.idle.value}"]
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        guard = f" [{t['conditions']}]" if "conditions" in t else ""
        for source in sources:
            lines.append(f"    {source.value} --> {t['dest'].value}: {t['trigger'].value}{guard}")
    return "\n".join(lines) + "\n"


def document() -> str:
    """``docs/state-machine.md``: regenerate with ``python -m tensctl.engine.states``."""
    rows = "\n".join(
        f"| `{t['trigger'].value}` | "
        + ", ".join(
            f"`{x.value}`"
            for x in (t["source"] if isinstance(t["source"], list) else [t["source"]])
        )
        + f" | `{t['dest'].value}` | {t.get('conditions', '')} |"
        for t in TRANSITIONS
    )
    output = ", ".join(f"`{x.value}`" for x in State if x in OUTPUT_STATES)
    return f"""# The session state machine

Generated from `src/tensctl/engine/states.py` by `python -m tensctl.engine.states`; a test
fails when this file and the code disagree. Output may be above 0 only in {output}; every
other state holds every output at 0. `fault` and `stopped` latch until `reset`, which also
needs the device to accept its fault reset (the cause gone for 3 s). An exception in any
state callback stops every output and latches `fault`.

```mermaid
{mermaid()}```

| trigger | from | to | guard |
|---|---|---|---|
{rows}
"""


if __name__ == "__main__":
    print(document(), end="")
