"""Every driver behaviour against the simulator, in-process, over a pty and over TCP."""

from __future__ import annotations

import time

import pytest
from simbench import Bench

from tensctl.drivers.base import AlternationStep, ChannelSettings
from tensctl.drivers.errors import CommandRefused


def test_identify_reports_the_profile_limits(bench: Bench) -> None:
    info = bench.driver.identify()
    assert (info.model, info.channels, info.max_amplitude_ma) == ("tenssim 2-channel", 2, 100)
    assert info.pulse_width_us == (50, 400) and info.frequency_hz == (1, 200)
    assert (info.watchdog_ms, info.slew_step_ma, info.slew_rate_ma_per_s) == (500, 1, 4)


def test_ramp_and_stop_are_delivered_as_commanded(bench: Bench) -> None:
    bench.run_at(1, 3)
    bench.driver.stop([1])
    amplitudes = [e["amplitude_ua"] for e in bench.outputs(1)]
    assert amplitudes == [0, 1000, 2000, 3000, 0]
    assert bench.outputs(1)[-1]["running"] is False


def test_telemetry_reports_delivered_output_and_pulses(bench: Bench) -> None:
    bench.run_at(1, 2)
    time.sleep(0.25)
    bench.driver.heartbeat()
    time.sleep(0.15)
    t = bench.driver.telemetry()[1]
    assert t.state == "on" and t.commanded_ma == 2 and t.delivered_peak_ma == 2
    assert (t.frequency_hz, t.pulse_width_us) == (100, 200)
    assert 1000 < t.impedance_ohm < 8000 and t.pulses > 0 and t.net_charge_nc == 0
    per_pulse_at_1ma_uc = 2 * 1e-3 * 200e-6 * 1e6  # both phases, µC
    assert (
        t.pulses * per_pulse_at_1ma_uc < t.delivered_charge_uc < t.pulses * 2 * per_pulse_at_1ma_uc
    )
    bench.driver.stop([1])


def test_impedance_is_measured_per_channel(bench: Bench) -> None:
    assert 1000 < bench.driver.measure_impedance(1) < 8000
    assert 1000 < bench.driver.measure_impedance(2) < 8000


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        (ChannelSettings(500, 200), "OUT_OF_RANGE"),  # above 200 Hz
        (ChannelSettings(100, 20), "OUT_OF_RANGE"),  # below 50 µs
        (
            ChannelSettings(100, 200, "asymmetric_biphasic", secondary_amplitude_ratio=0.5),
            "OUT_OF_RANGE",
        ),
        (
            ChannelSettings(100, 200, mode="burst", pulses_per_train=50, train_rate_hz=4),
            "OUT_OF_RANGE",
        ),
        (
            ChannelSettings(100, 200, mode="alternating", steps=(AlternationStep(900, 200, 1),)),
            "OUT_OF_RANGE",
        ),
    ],
)
def test_device_refuses_out_of_range_configuration(
    bench: Bench, settings: ChannelSettings, code: str
) -> None:
    """The host's checks are bypassed (the driver is called directly): the device refuses."""
    with pytest.raises(CommandRefused) as refused:
        bench.driver.configure(1, settings)
    assert refused.value.code == code
    assert bench.outputs(1) == []


def test_device_refuses_amplitude_beyond_its_limits_and_output_is_unchanged(bench: Bench) -> None:
    bench.run_at(1, 1)
    for amplitude_ma, code in ((150, "OUT_OF_RANGE"), (3, "SLEW_LIMIT"), (1.5, None)):
        if code is None:
            bench.driver.set_amplitude(1, amplitude_ma)
            continue
        with pytest.raises(CommandRefused) as refused:
            bench.driver.set_amplitude(1, amplitude_ma)
        assert refused.value.code == code
        assert bench.outputs(1)[-1]["amplitude_ua"] == 1000  # unchanged
    time.sleep(0.3)
    bench.driver.set_amplitude(1, 2.5)  # within 1 mA of 1.5 and 4 mA/s
    with pytest.raises(CommandRefused, match="SLEW_LIMIT"):
        bench.driver.set_amplitude(1, 3.6)  # step 1.1 mA > 1 mA
    bench.driver.set_amplitude(1, 0.2)  # decreases are never refused
    assert bench.outputs(1)[-1]["amplitude_ua"] == 200


def test_waveform_change_needs_zero_output_but_frequency_may_change(bench: Bench) -> None:
    bench.run_at(1, 1)
    bench.driver.configure(1, ChannelSettings(80, 200))  # host-driven modulation
    with pytest.raises(CommandRefused, match="NOT_AT_ZERO"):
        bench.driver.configure(
            1, ChannelSettings(80, 200, mode="burst", pulses_per_train=7, train_rate_hz=2)
        )
    bench.driver.stop([1])


def test_amplitude_needs_a_started_channel(bench: Bench) -> None:
    with pytest.raises(CommandRefused, match="NOT_CONFIGURED"):
        bench.driver.start([1])
    bench.driver.configure(1, ChannelSettings(100, 200))
    with pytest.raises(CommandRefused, match="NOT_STARTED"):
        bench.driver.set_amplitude(1, 1)
    with pytest.raises(CommandRefused, match="BAD_CHANNEL"):
        bench.driver.set_amplitude(3, 1)


def test_emergency_stop_zeroes_every_channel_and_latches(bench: Bench) -> None:
    bench.run_at(1, 2)
    bench.driver.configure(2, ChannelSettings(2, 200))
    bench.driver.start([2])
    bench.driver.set_amplitude(2, 1)
    bench.driver.emergency_stop()
    assert bench.outputs(1)[-1]["amplitude_ua"] == 0 and bench.outputs(2)[-1]["amplitude_ua"] == 0
    assert bench.faults(1) == bench.faults(2) == {"EMERGENCY_STOP"}
    with pytest.raises(CommandRefused, match="FAULT_LATCHED"):
        bench.driver.start([1])
    with pytest.raises(CommandRefused, match="RESET_TOO_EARLY"):
        bench.driver.reset_fault([1, 2])
    time.sleep(0.2)
    assert any(e.kind == "fault" for e in bench.driver.events())


def test_watchdog_zeroes_output_when_the_host_goes_silent(bench: Bench) -> None:
    bench.run_at(1, 2)
    commands = [e for e in bench.log() if e["event"] == "command"]
    last_command_t = commands[-1]["t"]
    time.sleep(0.9)  # the host says nothing
    zeroed = bench.outputs(1)[-1]
    assert zeroed["amplitude_ua"] == 0 and zeroed["cause"] == "watchdog"
    frame_time_s = 0.005  # the simulator's tick plus one short frame at 115200 baud
    assert zeroed["t"] - last_command_t <= 0.5 + frame_time_s
    assert zeroed["t"] - last_command_t >= 0.5
    time.sleep(0.15)
    assert "watchdog" in bench.driver.telemetry()[1].faults


def test_heartbeats_keep_the_output_on(bench: Bench) -> None:
    bench.run_at(1, 1)
    done = bench.heartbeat()
    time.sleep(1.2)
    done()
    assert bench.outputs(1)[-1]["amplitude_ua"] == 1000
    bench.driver.stop([1])
