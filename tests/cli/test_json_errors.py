"""With ``--json``, an error is one JSON object on stdout as well as the exit code (and the
text on stderr, for a person watching)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def only_object(out: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object, on one line."""
    assert out.count("\n") == 1, out
    data: dict[str, Any] = json.loads(out)
    return data


def test_a_device_error_is_one_json_object(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("devices", "probe", "/dev/no-such-port", "--json")
    data = only_object(result.out)
    assert result.code == 5 == data["exit_code"] and data["kind"] == "device"
    assert data["error"] == "cannot open /dev/no-such-port: No such file or directory"
    assert data["problems"] == [{"message": data["error"], "where": ""}]
    assert "cannot open /dev/no-such-port" in result.err


def test_an_input_error_lists_each_problem_and_where_it_is(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("protocols", "show", "burst", "--intensity", "abc", "--json")
    data = only_object(result.out)
    assert result.code == 3 == data["exit_code"] and data["kind"] == "input"
    assert data["problems"] == [
        {"message": "expected a number of mA, found 'abc'", "where": "--intensity"}
    ]


def test_a_file_problem_says_file_line_and_field(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("format_version: 1\nid: x\nname: x\nchannels: [}\n", encoding="utf-8")
    result = cli("protocols", "show", str(bad), "--json")
    data = only_object(result.out)
    assert result.code == 3 and data["problems"][0]["where"].startswith(f"{bad}:4")


def test_a_usage_error_names_the_option(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("devices", "probe", "sim://", "--json", "--bogus")
    data = only_object(result.out)
    assert result.code == 2 == data["exit_code"] and data["kind"] == "usage"
    assert data["problems"] == [{"message": "No such option: --bogus", "where": "--bogus"}]


def test_a_bug_is_one_json_object_too(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import tensctl.cli.devices

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.delenv("TENSCTL_DEBUG", raising=False)
    monkeypatch.setattr(tensctl.cli.devices, "open_driver", broken)
    data = only_object(cli("devices", "probe", "sim://", "--json").out)
    assert data["exit_code"] == 1 and data["kind"] == "internal"
    assert data["error"] == "internal error: RuntimeError: boom"


def test_without_json_stdout_stays_empty(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("devices", "probe", "/dev/no-such-port")
    assert result.code == 5 and result.out == "" and "cannot open" in result.err


def test_a_command_that_printed_its_own_result_is_not_followed_by_a_second_document(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path
) -> None:
    """validate --json says per file what went wrong, then exits 3: stdout stays one document."""
    result = cli("protocols", "validate", str(tmp_path / "missing.yaml"), "--json")
    data = json.loads(result.out)
    assert result.code == 3 and data["files"][0]["ok"] is False and "error" not in data


def test_a_store_error_of_a_command_with_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sessions", "verify", "--db", str(tmp_path / "none.sqlite3"), "--json")
    data = only_object(result.out)
    assert result.code == 9 == data["exit_code"] and data["kind"] == "store"


def test_run_json_ends_its_event_stream_with_an_exit_event(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "no-such-protocol", "--json", "--yes")
    data = only_object(result.out)
    assert data["event"] == "exit" and data["exit_code"] == 3 == result.code
    assert "no protocol with id 'no-such-protocol'" in data["error"]


def test_json_after_a_double_dash_is_an_argument_not_the_flag() -> None:
    import typer

    from tensctl.cli.app import app, wants_json

    command = typer.main.get_command(app)
    assert wants_json(command, ["sessions", "note", "1", "--", "--json"]) is None
    assert wants_json(command, ["sessions", "note", "1", "--json"]) is None  # note takes none
    assert wants_json(command, ["sessions", "list", "--json"]) == "list"
    assert wants_json(command, ["sim", "scenarios", "--json"]) == "scenarios"
