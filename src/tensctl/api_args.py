"""The Python API's arguments from outside, validated: patient ids, per-channel values,
titrated thresholds. Each problem names the argument."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

from tensctl.engine.clock import MAX_SPEED
from tensctl.errors import InputError, Problem, UsageError
from tensctl.model.protocol import Threshold

MAX: Literal["max"] = "max"
Speed = float | Literal["max"]
"""A checked ``--speed``: N times real time, or ``"max"`` (as fast as it can)."""

PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_patient(patient: str | None) -> None:
    if patient is not None and not PATIENT_ID.fullmatch(patient):
        raise InputError(
            [
                Problem(
                    "a patient id is a pseudonym: letters, digits, '.', '_' or '-', up to 64, "
                    f"starting with a letter or digit; found {patient!r}",
                    "<argument>",
                    path="patient",
                )
            ]
        )


def milliamps(value: object, path: str) -> float:
    """``value`` as a finite, non-negative number of mA, or an InputError naming ``path``.

    A bool is not a number here, and NaN or an infinity is never a level: every comparison
    with NaN is false, so a NaN that got through would pass every limit it met."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError([Problem(f"expected a number of mA, found {value!r}", "<api>", path=path)])
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InputError(
            [
                Problem(
                    f"expected a finite number of mA, 0 or more, found {value!r}",
                    "<api>",
                    path=path,
                )
            ]
        )
    return number


def channel_id(value: object, ids: list[int], path: str) -> int:
    """``value`` as one of the protocol's channel ids (an int, not 1.9 or True)."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in ids:
        known = ", ".join(str(i) for i in ids)
        raise InputError(
            [
                Problem(
                    f"no channel {value!r} in this protocol (channels: {known})", "<api>", path=path
                )
            ]
        )
    return value


def per_channel(
    value: float | Mapping[int, float] | None, ids: list[int], name: str
) -> dict[int, float]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {
            channel_id(ch, ids, f"{name}[{ch!r}]"): milliamps(v, f"{name}[{ch!r}]")
            for ch, v in value.items()
        }
    number = milliamps(value, name)
    return dict.fromkeys(ids, number)


def thresholds_of(
    values: Mapping[int, Mapping[str, float]] | None, ids: list[int]
) -> dict[int, dict[Threshold, float]]:
    out: dict[int, dict[Threshold, float]] = {}
    for ch, found in (values or {}).items():
        channel = channel_id(ch, ids, f"thresholds[{ch!r}]")
        out[channel] = {}
        for key, value in found.items():
            try:
                which = Threshold(key)
            except ValueError:
                names = ", ".join(t.value for t in Threshold)
                raise InputError(
                    [
                        Problem(
                            f"{key!r} is not a threshold ({names})",
                            "<api>",
                            path=f"thresholds[{ch}]",
                        )
                    ]
                ) from None
            out[channel][which] = milliamps(value, f"thresholds[{ch}].{key}")
    return out


def check_speed(url: str, speed: object, virtual: bool = False) -> Speed | None:
    """``speed`` for the in-process simulator only: a number N above 0 and at most
    :data:`MAX_SPEED` (one virtual clock paced at N times real time), ``"max"`` (virtual time,
    as fast as it can; ``virtual=True`` says the same), or None for real time. A number may
    is a number, not text (:func:`speed_from_text` reads the command line's)."""
    if virtual and speed is not None and speed != MAX:
        raise UsageError(f"virtual time is --speed max: give virtual or --speed {speed}, not both")
    if virtual:
        speed = MAX
    if speed is not None and not url.startswith("sim://"):
        raise UsageError(
            f"--speed applies only to the built-in simulator (sim://); {url} runs in real time"
        )
    if speed is None:
        return None
    if speed == MAX:
        return MAX
    number = (
        float(speed) if isinstance(speed, int | float) and not isinstance(speed, bool) else None
    )
    if number is None or not (math.isfinite(number) and 0 < number <= MAX_SPEED):
        raise UsageError(
            f"--speed is how many times faster than real time the simulator runs: a number "
            f"above 0 and at most {MAX_SPEED:g}, or max for as fast as it can; found {speed!r}"
        )
    return number


def speed_from_text(text: str) -> float | str:
    """The command line's ``--speed`` for :func:`check_speed`: ``max``, a number, or the
    text as it was (refused there, in the same words as a bad number)."""
    if text.strip().lower() == MAX:
        return MAX
    try:
        return float(text)
    except ValueError:
        return text
