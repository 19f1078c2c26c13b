"""Shell completion: ``tensctl --install-completion`` / ``--show-completion``, and the
completion variable the installed script sets, answered by the real command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def complete(words: str, cword: int) -> list[str]:
    """What bash would offer: the real ``tensctl`` (``python -m tensctl``) asked as the
    script that ``--show-completion bash`` prints asks it."""
    env = os.environ | {
        "_TENSCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tensctl"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_show_completion_prints_a_bash_script(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--show-completion", "bash")
    assert result.code == 0
    assert "complete -o default -F _tensctl_completion tensctl" in result.out
    assert "_TENSCTL_COMPLETE=complete_bash" in result.out


def test_install_completion_is_offered_in_help(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("--help").out
    assert "--install-completion" in out and "--show-completion" in out


def test_completion_names_the_subcommands() -> None:
    assert complete("tensctl ses", 1) == ["sessions"]
    assert set(complete("tensctl sessions ", 2)) >= {"list", "show", "export", "verify", "report"}
    assert complete("tensctl sim sc", 2) == ["scenarios"]


def test_completion_names_a_commands_options_and_not_the_refused_ones() -> None:
    offered = complete("tensctl protocols validate --", 3)
    assert "--profile" in offered and "--json" in offered
    assert "--device" not in offered  # refused there: never suggested


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_their_own_script(cli, shell: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("--show-completion", shell)
    assert result.code == 0 and "_TENSCTL_COMPLETE" in result.out


def test_install_completion_writes_the_script_where_bash_reads_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In a scratch home: what it writes, and that ~/.bashrc sources it."""
    env = os.environ | {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    done = subprocess.run(
        [sys.executable, "-m", "tensctl", "--install-completion", "bash"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    script = tmp_path / ".bash_completions" / "tensctl.sh"
    assert "_TENSCTL_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
