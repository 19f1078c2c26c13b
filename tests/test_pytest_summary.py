"""README's test command ends with pytest's "N passed" line, also when a caller adds its own
``-q`` (as CI systems and people do): the project's pytest options must not take it away."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONE_TEST = "tests/cli/test_sim_scenarios.py::test_sim_help_names_the_scenarios_command"


@pytest.mark.parametrize("extra", [[], ["-q"]], ids=["as README says", "with another -q"])
def test_a_run_ends_with_the_passed_line(extra: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra, ONE_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=*\s*1 passed in [\d.]+s( \([\d:]+\))?\s*=*", last), done.stdout
