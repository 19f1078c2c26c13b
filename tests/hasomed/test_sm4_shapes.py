"""Pulse shapes the ScienceMode4 driver sends: asymmetric pulses balanced through the
secondary phase's duration, amplitudes and widths rounded down, decreases never refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sm4_helpers import sim_process

from tensctl.drivers.base import ChannelSettings, DriverOptions
from tensctl.drivers.errors import CommandRefused
from tensctl.drivers.sciencemode4 import open_sciencemode4, shapes
from tensctl.model.library import find_device
from tensctl.wire.sciencemode4.midlevel import MAX_DURATION_US

P24, _ = find_device("hasomed-p24")


def _asymmetric(width_us: float, ratio: float, width_ratio: float) -> ChannelSettings:
    return ChannelSettings(
        40,
        width_us,
        "asymmetric_biphasic",
        secondary_amplitude_ratio=ratio,
        secondary_width_ratio=width_ratio,
    )


def _balanced_within_tolerance(sh: shapes.Shape, level_ma: float) -> None:
    first, second = sh.points(level_ma)
    q1, q2 = first.current_ma * first.duration_us, -second.current_ma * second.duration_us
    assert abs(q1 - q2) <= shapes.BALANCE_TOLERANCE * q1
    assert abs(q1 - q2) <= abs(second.current_ma) * 0.5  # at most half a µs of the phase
    assert 1 <= second.duration_us <= MAX_DURATION_US
    assert first.duration_us + second.duration_us <= sh.period_ms * 1000


@pytest.mark.parametrize("width_us", [100, 250, 500])
def test_every_amplitude_of_a_quarter_ratio_pulse_is_sent_balanced(width_us: int) -> None:
    sh = shapes.shape(1, _asymmetric(width_us, 0.25, 4), P24)
    for tenth in range(5, 201):  # 0.5 to 20 mA in 0.1 mA steps
        asked = tenth / 10
        level = shapes.quantize_ma(asked)
        assert level <= asked and asked - level < 0.5
        shapes.check_amplitude(1, level, sh, P24)  # accepted
        first, second = sh.points(level)
        assert first.current_ma == level and first.duration_us == width_us
        # the secondary current: a quarter of the primary, rounded down to 0.5 mA, but at
        # least one 0.5 mA step — never above the primary
        assert second.current_ma == -max(math.floor(level * 0.25 * 2) / 2, 0.5)
        assert -second.current_ma <= level
        _balanced_within_tolerance(sh, level)
        assert sh.balanced_down(level) == level  # a decrease to it goes exactly there


def test_the_charge_of_a_pulse_is_in_nanocoulombs() -> None:
    """mA × µs is nC: a symmetric 16 mA, 200 µs pulse moves 3.2 µC each phase — 6400 nC in
    all, none net (the dose's charge was 1000× too small when this said µC)."""
    sh = shapes.shape(1, ChannelSettings(100, 200, "symmetric_biphasic"), P24)
    assert sh.charge_per_pulse_nc(16.0) == (6400.0, 0.0)


def test_secondary_current_is_floored_and_checked_against_the_profile() -> None:
    sh = shapes.shape(1, _asymmetric(100, 0.3, 1 / 0.3), P24)
    first, second = sh.points(12.5)  # 3.75 mA floored to 3.5, lasting 357 µs (1250 / 3.5)
    assert (first.current_ma, second.current_ma, second.duration_us) == (12.5, -3.5, 357)
    _balanced_within_tolerance(sh, 12.5)
    doubled = shapes.shape(1, _asymmetric(200, 2, 0.5), P24)
    shapes.check_amplitude(1, 65, doubled, P24)  # 130 mA secondary: the profile's maximum
    with pytest.raises(CommandRefused, match="secondary phase above 130 mA"):
        shapes.check_amplitude(1, 65.5, doubled, P24)  # 131 mA, inside the wire's 150


def test_a_decrease_goes_to_the_nearest_lower_level_that_balances() -> None:
    # 1000 µs, a quarter of the current for four times as long: the secondary phase is
    # already 4000 µs, so only levels where I/4 is a multiple of 0.5 mA (or I < 2 mA, one
    # 0.5 mA step) fit in 4095 µs
    sh = shapes.shape(1, _asymmetric(1000, 0.25, 4), P24)
    sendable = []
    for half in range(1, 21):
        level = half / 2
        try:
            shapes.check_amplitude(1, level, sh, P24)
        except CommandRefused as exc:
            assert exc.code == "UNSUPPORTED" and "at most 4095 µs" in exc.reason
            continue
        _balanced_within_tolerance(sh, level)
        sendable.append(level)
    assert sendable == [0.5, 1.0, 1.5, 2.0, 4.0, 6.0, 8.0, 10.0]
    for asked in (9.9, 7.0, 5.5, 3.5, 2.5, 2.0, 1.7, 0.4):
        got = sh.balanced_down(asked)
        assert got <= asked and got in [0.0, *sendable]
        assert not [s for s in sendable if got < s <= asked]  # the nearest lower one
    assert sh.balanced_down(3.5) == 2.0 and sh.balanced_down(0.4) == 0.0


def test_pulse_widths_are_rounded_down() -> None:
    assert shapes.shape(1, ChannelSettings(40, 200.7), P24).width_us == 200
    sh = shapes.shape(1, _asymmetric(100.9, 0.25, 4), P24)
    assert (sh.width_us, sh.secondary_width_us) == (100, 400)
    with pytest.raises(CommandRefused, match="not charge balanced"):
        shapes.shape(1, _asymmetric(100, 0.25, 3.9), P24)


@pytest.mark.timeout(60)
def test_driver_decrease_never_refused_nor_above_what_was_asked(tmp_path: Path) -> None:
    with sim_process(tmp_path / "sim.jsonl") as sim:
        driver = open_sciencemode4(
            f"sciencemode4://{sim.address}", DriverOptions(timeout_s=0.25, retries=2)
        )
        driver.identify()
        driver.configure(1, _asymmetric(1000, 0.25, 4))
        driver.start([1])
        driver.set_amplitude(1, 4)
        with pytest.raises(CommandRefused, match="UNSUPPORTED"):
            driver.set_amplitude(1, 5)  # 5000 µs of secondary phase: explained, unchanged
        driver.set_amplitude(1, 3.5)  # cannot balance: the nearest lower level, 2 mA
        driver.set_amplitude(1, 1.5)  # one 0.5 mA step for 3000 µs
        driver.close()
    outputs = [
        (o["amplitude_ua"], o["running"])
        for o in sim.log()
        if o["event"] == "output" and o["channel"] == 1
    ]
    assert outputs == [(0, True), (4000, True), (2000, True), (1500, True), (0, False)]
    updates = [
        c["fields"]["channels"]["1"]
        for c in sim.log()
        if c["event"] == "command" and c["type"] == "ML_UPDATE"
    ]
    assert [u["points"] for u in updates[1:]] == [
        [[1000, 4.0], [4000, -1.0]],
        [[1000, 2.0], [4000, -0.5]],
        [[1000, 1.5], [3000, -0.5]],
    ]
    assert all(u["net_charge_nc"] == 0 and "warning" not in u for u in updates)
