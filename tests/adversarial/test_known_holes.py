"""Holes the adversarial suite found (issue 13, item 8), each as its smallest reproducer,
kept after the fix.

- A subnormal intensity (5e-324 mA: finite and > 0, so the API accepts it) made the power
  check compute V / (mA / 1000) = V / 0.0 and crash out of Device.session() with a
  ZeroDivisionError instead of an answer."""

from __future__ import annotations

import contextlib

import pytest

import tensctl
from tensctl.errors import TensctlError


@pytest.mark.parametrize(
    "kwargs",
    [{"intensity": 5e-324}, {"thresholds": {1: {"SC2": 5e-324}}}],
    ids=["intensity", "threshold"],
)
def test_a_subnormal_intensity_is_answered_not_a_crash(kwargs: dict[str, object]) -> None:
    # a refusal (any TensctlError) or a checked session is an answer; anything else a crash
    with (
        tensctl.connect("sim://", virtual=True, journal=False) as dev,
        contextlib.suppress(TensctlError),
    ):
        dev.session("conventional-hf", screened=True, **kwargs).close()  # type: ignore[arg-type]
