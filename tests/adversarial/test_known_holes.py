"""Holes the adversarial suite found, kept as strict xfails until they are fixed (issue 13,
item 8). Each one is the smallest reproducer; the strategies leave its input out so the
property tests keep running over everything else."""

from __future__ import annotations

import contextlib

import pytest

import tensctl
from tensctl.errors import TensctlError


@pytest.mark.xfail(
    strict=True,
    raises=ZeroDivisionError,
    reason="crash, not a refusal: a subnormal intensity (5e-324 mA, finite and > 0, so the "
    "API accepts it) reaches tensctl/safety/dose.py worst_impedance_ohm, where "
    "peak_ma / 1000.0 underflows to 0.0 and compliance_v / 0.0 raises ZeroDivisionError "
    "out of Device.session() (the guard `if peak_ma > 0` tests the mA, not the A)",
)
@pytest.mark.parametrize(
    "kwargs",
    [{"intensity": 5e-324}, {"thresholds": {1: {"SC2": 5e-324}}}],
    ids=["intensity", "threshold"],
)
def test_a_subnormal_intensity_is_refused_not_a_crash(kwargs: dict[str, object]) -> None:
    # a refusal (any TensctlError) is the right outcome
    with (
        tensctl.connect("sim://", virtual=True, journal=False) as dev,
        contextlib.suppress(TensctlError),
    ):
        dev.session("conventional-hf", screened=True, **kwargs).close()  # type: ignore[arg-type]
