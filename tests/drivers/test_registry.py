"""The URL registry, entry-point drivers, and validation of API arguments."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tensctl.drivers import registry
from tensctl.drivers.base import AlternationStep, ChannelSettings, DriverOptions
from tensctl.drivers.errors import CommandRefused, DeviceNotFound, LinkLost, UnknownScheme
from tensctl.drivers.registry import open_driver, open_serial
from tensctl.errors import InputError
from tensctl.model.device import SerialSettings


class _EntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name, self._target = name, target

    def load(self) -> Any:
        return self._target


def test_third_party_scheme_registers_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def open_acme(url: str, options: DriverOptions) -> Any:
        opened.append(url)
        return "acme driver"

    monkeypatch.setattr(registry, "entry_points", lambda group: [_EntryPoint("acme", open_acme)])
    assert open_driver("acme://bench-3") == "acme driver"
    assert opened == ["acme://bench-3"]


def test_builtin_schemes_cannot_be_shadowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [_EntryPoint("serial", None)])
    assert registry.schemes()["serial"] is registry.open_serial


def test_unknown_scheme_lists_the_known_ones() -> None:
    known = r"known: sciencemode2://, sciencemode4://, serial://, sim://, socket://"
    with pytest.raises(UnknownScheme, match=known):
        open_driver("bogus://x")


def test_missing_port_and_refused_socket_are_not_found() -> None:
    with pytest.raises(DeviceNotFound, match="No such file or directory"):
        open_driver("/dev/tensctl-no-such-port")
    with pytest.raises(DeviceNotFound, match=r"cannot open socket://127\.0\.0\.1:1"):
        open_driver("socket://127.0.0.1:1")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim://?seed=abc", "seed must be a whole number"),
        ("sim://no-such-profile", "no device profile with id 'no-such-profile'"),
        ("sim://?scenario=pel", "did you mean 'peel'"),
    ],
)
def test_sim_url_is_validated(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_driver(url)


@pytest.fixture
def sim() -> Any:
    driver = open_driver("sim://")
    driver.identify()
    yield driver
    driver.close()


@pytest.mark.parametrize("amplitude_ma", [-1.0, math.nan, math.inf, 5e6])
def test_amplitude_that_cannot_be_sent_is_an_input_error(sim: Any, amplitude_ma: float) -> None:
    with pytest.raises(InputError, match="amplitude_ma"):
        sim.set_amplitude(1, amplitude_ma)


@pytest.mark.parametrize("channels", [[], [0], [9], ["1"]])
def test_channel_lists_are_validated(sim: Any, channels: list[Any]) -> None:
    with pytest.raises(InputError, match="channel"):
        sim.start(channels)


def test_settings_are_validated_before_sending(sim: Any) -> None:
    with pytest.raises(InputError, match="unknown waveform"):
        sim.configure(1, ChannelSettings(100, 200, waveform="square"))
    with pytest.raises(InputError, match=r"steps\[0\].dwell_s"):
        sim.configure(
            1, ChannelSettings(2, 200, mode="alternating", steps=(AlternationStep(2, 200, -1),))
        )


def test_refusal_carries_the_device_code_and_reason(sim: Any) -> None:
    with pytest.raises(CommandRefused) as refused:
        sim.set_amplitude(3, 1)
    assert refused.value.code == "BAD_CHANNEL"
    assert (
        str(refused.value) == "the device refused 1 mA on channel 3: BAD_CHANNEL (no such channel)"
    )
    assert refused.value.exit_code == 5


def test_closed_driver_reports_link_lost_and_close_is_idempotent() -> None:
    driver = open_driver("sim://")
    driver.close()
    driver.close()
    with pytest.raises(LinkLost, match="closed"):
        driver.heartbeat()
    assert LinkLost("x").exit_code == 6


def test_serial_ports_open_with_the_profiles_line_settings() -> None:
    line = SerialSettings(baudrate=460800, bytesize=8, parity="E", stopbits=1)
    driver = open_serial("serial://loop://", DriverOptions(line=line))
    try:
        port = driver._port  # what pyserial was asked for
        assert (port.baudrate, port.bytesize, port.parity, port.stopbits) == (460800, 8, "E", 1)
    finally:
        driver.close()
    default = open_serial("serial://loop://", DriverOptions())
    try:
        assert (default._port.baudrate, default._port.parity) == (115200, "N")
    finally:
        default.close()
