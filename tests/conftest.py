from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The simulator's pytest plugin, used by the project's own tests as by anyone's. Installed,
# tensctl registers it in the pytest11 group under this very name and pytest skips this line
# (a plugin already registered under a name is not imported again, nor is a blocked one);
# where the install predates the entry point (an editable install made before it), this line
# is what loads it. Either way it is loaded once.
pytest_plugins = ["tensctl.testing", "pytester"]  # pytester: tests of the plugins themselves


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tensctl", "tensctl conformance against a device")
    group.addoption(
        "--device",
        default="",
        metavar="URL",
        help="run tests/conformance/test_device.py against the device at URL (any scheme: "
        "sciencemode4:///dev/ttyUSB0, sciencemode2://..., /dev/ttyACM0, socket://...)",
    )
    group.addoption(
        "--test-load-connected",
        action="store_true",
        default=False,
        help="confirm the --device's outputs are on a test load (a resistor), not a person",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("device") and not config.getoption("test_load_connected"):
        raise pytest.UsageError(
            f"--device {config.getoption('device')} drives a real stimulator's outputs (at "
            "the lowest amplitude it allows): connect them to a test load, e.g. a 1 kΩ "
            "resistor, never to a person, and add --test-load-connected to go on"
        )


@pytest.fixture
def root() -> Path:
    return ROOT


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run the real entry point in-process; returns exit code, stdout and stderr."""
    from tensctl.cli.app import main

    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def _session_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Sessions recorded by tests (and by the processes they start) go to a scratch store,
    never to the user's."""
    path = tmp_path_factory.mktemp("store") / "sessions.sqlite3"
    monkeypatch.setenv("TENSCTL_DB", str(path))
    monkeypatch.setenv("TENSCTL_OPERATOR", "test-operator")
    return path
