"""A scripted study session: the same protocol at three intensities, one after another,
each checked by the safety layer first, with a rest between them, and pain before and after
each recorded with the session (``tensctl sessions list --patient STUDY-007``). Runs on the
built-in simulator in virtual time (seconds, not an hour); point URL at a real device to run
it for real (then drop virtual=True).

    python examples/scripted_study.py
"""

from __future__ import annotations

import tensctl
from tensctl.errors import TensctlError

URL = "sim://"
PROTOCOL = "conventional-hf"
PATIENT = "STUDY-007"
LEVELS_MA = (10.0, 15.0, 20.0)


def ask_pain(when: str, level: float) -> dict[str, float]:
    """Stands in for the study's questionnaire (here: a made-up, improving score)."""
    pain = 6.0 if when == "before" else 6.0 - level / 5
    return {"pain_rest": pain, "pain_movement": pain + 1, "fatigue": 3.0}


def main() -> int:
    with tensctl.connect(URL, virtual=True) as device:
        print(f"device: {device.info.model} ({device.info.serial}), profile {device.profile.id}")
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
