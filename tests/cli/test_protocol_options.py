"""The protocol commands take library ids like files, and one option name per meaning:
``--profile`` is a device profile, ``--device`` a device URL (as in ``run``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_validate_takes_a_library_id(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("protocols", "validate", "conventional-hf", "--json")
    data = json.loads(result.out)
    assert result.code == 0
    assert [f["path"] for f in data["files"]] == [str(ROOT / "protocols" / "conventional-hf.yaml")]
    assert data["files"][0]["ok"] is True


def test_validate_takes_ids_and_files_together(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    own = tmp_path / "own.yaml"
    own.write_text((ROOT / "protocols" / "burst.yaml").read_text(encoding="utf-8"))
    result = cli("protocols", "validate", "conventional-hf", str(own), "modulated")
    assert result.code == 0
    for shown in ("conventional-hf.yaml: valid", f"{own}: valid", "modulated.yaml: valid"):
        assert shown in result.err


def test_validate_names_a_mistyped_id_and_checks_the_rest(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("protocols", "validate", "conventinal-hf", "burst")
    assert result.code == 3
    assert "no protocol with id 'conventinal-hf'; did you mean 'conventional-hf'?" in result.err
    assert "burst.yaml: valid" in result.err


def test_a_missing_file_is_still_said_as_one(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("protocols", "validate", str(tmp_path / "nothing.yaml"))
    assert result.code == 3 and "no such file" in result.err


@pytest.mark.parametrize("command", ["show", "validate", "plot"])
def test_profile_names_the_device_profile(cli, command: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On the RehaStim2's profile (50 Hz at most) a 100 Hz protocol is out of range."""
    if command == "plot":
        pytest.importorskip("matplotlib")
    out = ["-o", str(tmp_path / "p.png")] if command == "plot" else []
    for flag in ("--profile", "-p"):
        result = cli("protocols", command, "conventional-hf", flag, "hasomed-rehastim2", *out)
        if command == "plot":
            assert result.code == 0 and (tmp_path / "p.png").stat().st_size > 0
        elif command == "show":
            assert result.code == 0 and "on hasomed-rehastim2" in result.out
        else:
            assert result.code == 4 and "on hasomed-rehastim2" in result.err


@pytest.mark.parametrize("command", ["show", "validate", "plot"])
@pytest.mark.parametrize("flag", ["--device", "-d"])
def test_device_is_refused_with_the_option_to_use(  # type: ignore[no-untyped-def]
    cli, command: str, flag: str, tmp_path: Path
) -> None:
    """It named a profile here once; taken with a changed meaning it would silently check
    on another profile, so it is refused and the message says what to type."""
    image = tmp_path / "x.png"
    out = ["-o", str(image)] if command == "plot" else []
    result = cli("protocols", command, "conventional-hf", flag, "hasomed-rehastim2", *out)
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert f"`tensctl protocols {command}` takes a device profile" in result.err
    assert "use --profile hasomed-rehastim2" in result.err
    assert not image.exists()


def test_a_device_url_given_to_a_protocol_command_says_it_talks_to_no_device(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("protocols", "validate", "burst", "--device", "sciencemode2:///dev/ttyUSB0")
    assert result.code == 2
    assert "talks to no device: give the device's profile with --profile ID" in result.err


def test_every_device_option_is_a_url_and_every_profile_option_a_profile() -> None:
    """Across every command: the options shown in help, by name and by what they take."""
    from collections.abc import Iterator
    from typing import Any

    import typer

    from tensctl.cli.app import app

    def options(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        for name, sub in getattr(command, "commands", {}).items():
            yield from options(sub, [*path, name])
        for param in command.params:
            if getattr(param, "param_type_name", "") == "option" and not param.hidden:
                yield " ".join(path), param

    seen = {"--device": 0, "--profile": 0}
    for where, param in options(typer.main.get_command(app), ["tensctl"]):
        if "--device" in param.opts:
            seen["--device"] += 1
            assert "URL" in (param.help or ""), where
        if "--profile" in param.opts:
            seen["--profile"] += 1
            assert "profile" in (param.help or "").lower(), where
    assert seen["--device"] >= 1 and seen["--profile"] >= 5
