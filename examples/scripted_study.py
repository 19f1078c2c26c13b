"""A scripted study session: the same protocol at three intensities, one after another,
each checked by the safety layer first, with a rest between them, and pain before and after
each recorded with the session. Runs on the built-in simulator in virtual time (seconds, not
an hour), recorded in a store of the examples' own (``examples.sqlite3`` next to the default
store; the path is printed) under a demonstration id, so that it never mixes into a clinic's
records: ``tensctl sessions list --db PATH --patient DEMO-001``. To run it for real, point URL
at a real device, drop virtual=True, and give the study's own store and patient id.

    python examples/scripted_study.py
"""

from __future__ import annotations

from pathlib import Path

import tensctl
from tensctl.errors import TensctlError
from tensctl.journal.store import default_path

URL = "sim://"
PROTOCOL = "conventional-hf"
PATIENT = "DEMO-001"  # a demonstration id: never a real patient's
LEVELS_MA = (10.0, 15.0, 20.0)


def examples_store() -> Path:
    """The examples' own store, next to the default one (never the clinic's records)."""
    return default_path().with_name("examples.sqlite3")


def ask_pain(when: str, level: float) -> dict[str, float]:
    """Stands in for the study's questionnaire (here: a made-up, improving score)."""
    pain = 6.0 if when == "before" else 6.0 - level / 5
    return {"pain_rest": pain, "pain_movement": pain + 1, "fatigue": 3.0}


def main() -> int:
    store = examples_store()
    with tensctl.connect(URL, virtual=True, journal=store) as device:
        print(f"device: {device.info.model} ({device.info.serial}), profile {device.profile.id}")
        print(f"recorded in {store} (the examples' own store)")
        for level in LEVELS_MA:
            try:
                with device.session(
                    PROTOCOL,
                    patient=PATIENT,
                    intensity=level,
                    screened=True,
                    outcomes_before=ask_pain("before", level),
                ) as session:
                    state = session.run()
                    session.record_outcomes(after=ask_pain("after", level))
                    print(
                        f"{level:5.1f} mA: {state.value} after {session.elapsed_s():.0f} s"
                        f" ({session.end_reason}), recorded as session {session.record_id}"
                    )
            except TensctlError as error:  # refused, device error, fault: say so and go on
                print(f"{level:5.1f} mA: not run: {error}")
            device.clock.advance(300)  # type: ignore[attr-defined]  # a 5-minute rest
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
