"""The plugin as someone building on tensctl meets it: tensctl installed from its wheel into
a fresh virtual environment outside the repository, a three-line test in a new project
folder using the plugin's fixture with no conftest and no import of the plugin, and pytest
run there. The environment takes its other packages (pydantic, pytest, ...) from the one
running these tests, through a path file, so nothing is downloaded but the build backend."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

THE_TEST = """\
import tensctl

def test_the_simulator_is_reached_and_ends_at_zero(tenssim):
    with tensctl.connect(tenssim.url, journal=False) as device:
        assert device.info.simulated and device.info.model == "tenssim 2-channel"
    assert tenssim.log.entries("listening") and tenssim.log.output_ma(1) == 0
"""


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def test_a_fresh_project_uses_the_plugin_from_an_installed_wheel(
    root: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    pip = [sys.executable, "-m", "pip"]
    wheels = tmp_path / "wheels"
    run([*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(root)], tmp_path, env)
    (wheel,) = wheels.glob("tensctl-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([str(python), "-c", purelib], tmp_path, env).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)], tmp_path, env)

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_with_the_simulator.py").write_text(THE_TEST)
    where = run([str(python), "-c", "import tensctl.testing as t; print(t.__file__)"], project, env)
    assert where.stdout.strip().startswith(str(site))  # the wheel's, not the checkout's
    for extra in ([], ["-p", "tensctl.testing"]):  # loaded once by either route
        done = run([str(python), "-m", "pytest", "-p", "no:cacheprovider", *extra], project, env)
        assert "1 passed" in done.stdout, done.stdout
        assert "plugins: tensctl-" in done.stdout  # found through the pytest11 entry point
