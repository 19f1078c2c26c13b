"""The Python API's arguments from outside, validated: patient ids, per-channel values,
titrated thresholds. Each problem names the argument."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tensctl.errors import InputError, Problem
from tensctl.model.protocol import Threshold

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


def per_channel(
    value: float | Mapping[int, float] | None, ids: list[int], name: str
) -> dict[int, float]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {int(ch): float(v) for ch, v in value.items()}
    if isinstance(value, int | float):
        return dict.fromkeys(ids, float(value))
    raise InputError(
        [Problem(f"expected mA or {{channel: mA}}, found {value!r}", "<api>", path=name)]
    )


def thresholds_of(
    values: Mapping[int, Mapping[str, float]] | None,
) -> dict[int, dict[Threshold, float]]:
    out: dict[int, dict[Threshold, float]] = {}
    for ch, found in (values or {}).items():
        try:
            out[int(ch)] = {Threshold(k): float(v) for k, v in found.items()}
        except ValueError as exc:
            raise InputError([Problem(str(exc), "<api>", path=f"thresholds[{ch}]")]) from None
    return out
