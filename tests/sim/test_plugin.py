"""The simulator plugs in like any third-party driver: ``sim://`` comes from the installed
``tensctl.drivers`` entry point, and tensctl loads a driver only when its scheme is opened."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import pytest
from tenssim.driver import SimDriver, open_sim

from tensctl.drivers import registry
from tensctl.drivers.base import DriverOptions
from tensctl.drivers.errors import UnknownScheme
from tensctl.drivers.registry import open_driver, schemes


class _EntryPoint:
    """An entry point whose loading is an error (so a test sees when it happens)."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name, self.error = name, error

    def load(self) -> Any:
        raise self.error


def test_the_installed_package_registers_sim_through_its_entry_point() -> None:
    (found,) = [ep for ep in entry_points(group=registry.ENTRY_POINT_GROUP) if ep.name == "sim"]
    assert found.value == "tenssim.driver:open_sim"
    assert "sim" not in registry.BUILTIN
    assert schemes()["sim"] is open_sim


def test_sim_urls_open_the_native_driver_on_an_in_process_device() -> None:
    driver = open_driver("sim://?seed=3", DriverOptions(realtime=False))
    try:
        assert isinstance(driver, SimDriver)
        assert driver.identify().model == driver.device.firmware.profile.model
        port = driver._port
        assert (port.synchronous, port.ticking) == (True, False)  # a virtual clock: no thread
        assert port.read_available() == b""
    finally:
        driver.close()


def test_listing_the_schemes_loads_no_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    never = AssertionError("loaded only to be listed")
    monkeypatch.setattr(
        registry,
        "entry_points",
        lambda group: [_EntryPoint("acme", never), _EntryPoint("b", never)],
    )
    known = schemes()
    assert "acme" in known and "nope" not in known and len(known) == 6
    assert list(known) == ["acme", "b", "sciencemode2", "sciencemode4", "serial", "socket"]
    with pytest.raises(UnknownScheme, match=r"known: acme://, b://, sciencemode2://"):
        open_driver("nope://x")
    with pytest.raises(AssertionError, match="loaded only"):  # opened: now it is loaded
        open_driver("acme://x")


@pytest.mark.parametrize(
    "error", [ModuleNotFoundError("No module named 'acme'"), AttributeError("no open_acme")]
)
def test_a_backend_that_cannot_be_loaded_is_an_unknown_scheme(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [_EntryPoint("acme", error)])
    with pytest.raises(UnknownScheme, match=r"'acme://' cannot be loaded .*known: acme://, scien"):
        open_driver("acme://bench")


def test_a_missing_builtin_module_is_an_unknown_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "sciencemode2", "tensctl.drivers.no_such:open")
    with pytest.raises(UnknownScheme, match=r"No module named 'tensctl\.drivers\.no_such'"):
        open_driver("sciencemode2:///dev/null")


def _modules_after(code: str) -> set[str]:
    """The tensctl/tenssim modules imported by running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in sys.modules if m.startswith('tens')))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_schemes_are_imported_only_when_opened() -> None:
    listed = _modules_after(
        "from tensctl.drivers.registry import schemes\nassert 'sim' in set(schemes())"
    )
    assert not {m for m in listed if m.startswith("tenssim")}
    assert not {m for m in listed if m.startswith("tensctl.drivers.sciencemode")}
    assert "tensctl.drivers.native" not in listed
    opened = _modules_after(
        "from tensctl.drivers.registry import open_driver\nopen_driver('sim://').close()"
    )
    assert {"tenssim.driver", "tensctl.drivers.native"} <= opened
    assert not {m for m in opened if m.startswith("tensctl.drivers.sciencemode")}


def test_the_cli_s_help_does_not_import_the_simulator() -> None:
    code = (
        "import contextlib, io, sys\nsys.argv = ['tensctl', '--help']\n"
        "from tensctl.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()"
    )
    assert not {m for m in _modules_after(code) if m.startswith("tenssim")}
