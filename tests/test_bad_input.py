"""Every broken protocol file under tests/data/bad/ fails with its own clear message.

Each file starts with `# expect: <text of the message>` and `# where: <line or field path>`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tensctl.errors import InputError, exit_code
from tensctl.model.loader import load_device, load_protocol
from tensctl.model.yamlsafe import MAX_BYTES

ROOT = Path(__file__).resolve().parents[1]
BAD = sorted((ROOT / "tests" / "data" / "bad").glob("*.yaml"))


def _header(path: Path) -> tuple[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    expect = re.match(r"# expect: (.*)", lines[0])
    where = re.match(r"# where: (.*)", lines[1])
    assert expect and where, f"{path.name} lacks its '# expect:' / '# where:' header"
    return expect.group(1), where.group(1)


def _failure(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_protocol(path)
    return info.value


def test_there_is_a_file_per_case() -> None:
    assert len(BAD) >= 35


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_file_fails_with_its_message(path: Path) -> None:
    expect, where = _header(path)
    error = _failure(path)
    assert error.exit_code == exit_code("input") == 3
    text = "\n".join(error.lines())
    assert expect in text
    assert where in text
    assert str(path) in text
    assert "Traceback" not in text


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_file_via_cli_exits_3_without_traceback(path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    expect, _ = _header(path)
    result = cli("protocols", "validate", str(path))
    assert result.code == 3
    assert expect in result.err
    assert "Traceback" not in result.err + result.out


def test_each_problem_is_one_line() -> None:
    for path in BAD:
        for line in _failure(path).lines():
            assert "\n" not in line, path.name


def test_huge_file_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * (MAX_BYTES // 10 + 10))
    text = "\n".join(_failure(huge).lines())
    assert "limit is 1,048,576 bytes" in text and str(huge) in text


def test_non_utf8_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("name: Électrode\n".encode("latin-1"))
    assert "not UTF-8 text (bad byte at offset 6)" in "\n".join(_failure(latin).lines())


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in str(_failure(tmp_path / "absent.yaml"))
    assert "is a directory" in str(_failure(tmp_path))


def test_many_nodes_refused(tmp_path: Path) -> None:
    big = tmp_path / "nodes.yaml"
    big.write_text("a: [" + ", ".join("1" for _ in range(60_000)) + "]\n")
    assert "more than 50,000 YAML nodes" in str(_failure(big))


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    good = (ROOT / "protocols" / "conventional-hf.yaml").read_text(encoding="utf-8")
    bad = good.replace("frequency_hz: 100", "frequency_hz: -1").replace(
        "max_duration_s: 1800", "max_duration_s: 0"
    )
    path = tmp_path / "two.yaml"
    path.write_text(bad)
    lines = _failure(path).lines()
    assert any("phases[0].frequency_hz" in line for line in lines)
    assert any("session.max_duration_s" in line for line in lines)


def test_good_files_load() -> None:
    assert load_protocol(ROOT / "protocols" / "conventional-hf.yaml").id == "conventional-hf"
    assert load_device(ROOT / "devices" / "tenssim-2ch.yaml").channels == 2


def test_device_profile_unknown_key_suggests(tmp_path: Path) -> None:
    text = (ROOT / "devices" / "tenssim-2ch.yaml").read_text(encoding="utf-8")
    path = tmp_path / "dev.yaml"
    path.write_text(text.replace("watchdog_ms:", "watchdog_msec:"))
    with pytest.raises(InputError) as info:
        load_device(path)
    assert "did you mean 'watchdog_ms'?" in str(info.value)


def test_real_device_must_cite_datasheet(tmp_path: Path) -> None:
    text = (ROOT / "devices" / "tenssim-2ch.yaml").read_text(encoding="utf-8")
    path = tmp_path / "dev.yaml"
    path.write_text(text.replace("simulated: true", "simulated: false"))
    with pytest.raises(InputError) as info:
        load_device(path)
    assert "must cite its 'datasheet'" in str(info.value)


def _commands() -> list[tuple[str, ...]]:
    """Every command of the app, from the app itself (a new one is covered too)."""
    import typer

    from tensctl.cli.app import app

    found: list[tuple[str, ...]] = [()]
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        found.append((name,))
        found.extend((name, sub) for sub in getattr(command, "commands", {}))
    return found


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "tensctl")
def test_help_names_values_in_words_not_python_types(command: tuple[str, ...], cli) -> None:  # type: ignore[no-untyped-def]
    shown = cli(*command, "--help")
    assert shown.code == 0, shown.err
    types = re.findall(r"<(?:str|bool|int|float|path|list\[[^\]]*\])>", shown.out)
    assert types == [], shown.out


def test_a_problem_never_says_argument_or_api() -> None:
    from tensctl.errors import Problem

    assert str(Problem("no session 9", "<argument>", path="ID")) == "ID: no session 9"
    assert str(Problem("expected a number", "<api>", path="intensity[1]")) == (
        "intensity[1]: expected a number"
    )
    assert str(Problem("bad", "<api>")) == "bad"
    assert str(Problem("bad", "p.yaml", line=3, path="phases[0]")) == "p.yaml:3: phases[0]: bad"


def test_outcome_errors_name_the_field_and_its_range(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("sessions", "outcomes", "1", "--after", "pain_rest=11,fatigue=x,mood=3")
    assert done.code == 3
    for said in (
        "pain_rest: expected a number from 0 to 10, found '11'",
        "pain_movement: missing: a number from 0 to 10 is required",
        "fatigue: expected a number from 0 to 10, found 'x'",
        "mood: not an outcome measure",
    ):
        assert said in done.err, done.err
    for framework in ("Field required", "Extra inputs", "Input should", "<argument>"):
        assert framework not in done.err
