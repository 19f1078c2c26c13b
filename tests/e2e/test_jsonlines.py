"""``tensctl run --json`` with a controlling program that fails: a stdout nobody reads or
that is closed, a stdin at end of file, commands of the wrong type, a 5 MB line. Each as a
real process against ``tensctl sim --pty``, checked against the simulator's own log and
the session record; then the pieces (:mod:`tensctl.cli.jsonlines`) on their own."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tensctl.cli.jsonlines import (
    MAX_LINE_BYTES,
    QUOTE_CHARS,
    BadCommand,
    EventWriter,
    Line,
    parse_command,
    quote,
    read_lines,
)
from tensctl.engine.events import SessionEvent
from tensctl.errors import EXIT_CODES
from tensctl.journal.store import Store
from tensctl.journal.verify import verify
from tensctl.testing import Simulator, run_command

pytestmark = pytest.mark.timeout(120)
LOST = EXIT_CODES["controller_lost"][0]
STOPPED = EXIT_CODES["stopped"][0]
SHORT = Path(__file__).resolve().parents[1] / "data" / "protocols" / "e2e-short.yaml"  # 6 s, 5 mA


@pytest.fixture
def protocol(tmp_path: Path) -> Path:
    """The short e2e protocol stretched to two minutes: it never completes during a test."""
    text = SHORT.read_text().replace("duration_s: 6", "duration_s: 120")
    text = text.replace("max_duration_s: 6", "max_duration_s: 120")
    text = text.replace("daily_cap_s: 60", "daily_cap_s: 600")
    path = tmp_path / "long.yaml"
    path.write_text(text)
    return path


class Run:
    """``tensctl run --json`` against the simulator; stdin a pipe, stdout a pipe of ours."""

    def __init__(self, tmp_path: Path, protocol: Path, sim: Simulator) -> None:
        self.db = tmp_path / "s.sqlite3"
        self.err_path = tmp_path / "run.err"
        read, self.stdout_w = os.pipe()
        with self.err_path.open("w") as err:
            self.proc = subprocess.Popen(
                run_command(sim.url, "--no-outcomes", "--db", str(self.db), protocol=protocol),
                stdin=subprocess.PIPE,
                stdout=self.stdout_w,
                stderr=err,
            )
        self.stdout: IO[bytes] = os.fdopen(read, "rb")
        self.events: list[dict[str, Any]] = []

    def read_until(self, kind: str, **match: Any) -> dict[str, Any]:
        for raw in self.stdout:
            event: dict[str, Any] = json.loads(raw)
            self.events.append(event)
            if event["event"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event
        raise AssertionError(f"no {kind} {match} before stdout ended: {self.events[-5:]}")

    def send(self, line: str | bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line if isinstance(line, bytes) else line.encode() + b"\n")
        self.proc.stdin.flush()

    def read_to_end(self) -> None:
        self.events += [json.loads(raw) for raw in self.stdout]

    def stderr(self) -> str:
        return self.err_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:  # never leave a controller running behind a failed test
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(OSError):
            self.stdout.close()
        self.close_our_write_end()

    def close_our_write_end(self) -> None:
        if self.stdout_w >= 0:
            os.close(self.stdout_w)
            self.stdout_w = -1

    def record(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with Store(self.db, mark_interrupted=False) as store:
            (header,) = store.sessions()
            events = store.events(header["id"])
            assert verify(store).ok
        return dict(header), [dict(e) for e in events]


@contextlib.contextmanager
def running(tmp_path: Path, protocol: Path) -> Iterator[tuple[Run, Simulator]]:
    with Simulator(tmp_path / "sim.jsonl") as sim:
        run = Run(tmp_path, protocol, sim)
        try:
            yield run, sim
        finally:
            run.close()


def outputs(log: list[dict[str, Any]]) -> list[int]:
    return [e["amplitude_ua"] for e in log if e["event"] == "output" and e["channel"] == 1]


def assert_ramped_to_zero(log: list[dict[str, Any]]) -> None:
    delivered = outputs(log)
    top = delivered.index(max(delivered))
    assert max(delivered) == 5000
    assert delivered[-1] == 0 and len(delivered[top:]) > 2  # ramped down, not dropped


def data(event: dict[str, Any]) -> dict[str, Any]:
    value = event["data"]
    return json.loads(value) if isinstance(value, str) else dict(value)


# ---- the controlling program goes away ------------------------------------------------------


def test_a_stdout_nobody_reads_ends_the_session_with_a_ramp_down(
    tmp_path: Path, protocol: Path
) -> None:
    """It used to hang for good: the listener wrote stdout under the session lock."""
    with running(tmp_path, protocol) as (run, sim):
        run.read_until("state", state="stimulating")
        # fill the pipe from our side and never read again: the controller's writes block
        payload = b" " * (1 << 22)
        threading.Thread(target=_write_all, args=(run.stdout_w, payload), daemon=True).start()
        code = run.proc.wait(timeout=60)
        log = sim.log()
    assert code == LOST, run.stderr()
    assert "stdout is blocked" in run.stderr()
    assert_ramped_to_zero(log)
    header, events = run.record()
    assert header["end_reason"] == "controller_lost:stdout"
    lost = [data(e) for e in events if e["kind"] == "controller_lost"]
    assert lost and lost[0]["source"] == "stdout"
    assert [e["kind"] for e in events][-1] == "closed"


def _write_all(fd: int, payload: bytes) -> None:
    with contextlib.suppress(OSError):  # EPIPE once the test closes its end
        os.write(fd, payload)


def test_a_closed_stdout_ends_the_session_with_a_ramp_down(tmp_path: Path, protocol: Path) -> None:
    with running(tmp_path, protocol) as (run, sim):
        run.read_until("state", state="stimulating")
        run.stdout.close()
        run.close_our_write_end()
        code = run.proc.wait(timeout=60)
        log = sim.log()
    assert code == LOST, run.stderr()
    assert "stdout is closed" in run.stderr()
    assert "Traceback" not in run.stderr()
    assert_ramped_to_zero(log)
    header, _ = run.record()
    assert header["end_reason"] == "controller_lost:stdout"


def test_stdin_at_end_of_file_ends_the_session_with_a_ramp_down(
    tmp_path: Path, protocol: Path
) -> None:
    with running(tmp_path, protocol) as (run, sim):
        run.read_until("state", state="stimulating")
        assert run.proc.stdin is not None
        run.proc.stdin.close()
        run.close_our_write_end()  # then stdout ends when the controller's end closes
        run.read_to_end()
        code = run.proc.wait(timeout=60)
        log = sim.log()
    assert code == LOST, run.stderr()
    kinds = [e["event"] for e in run.events]
    lost = run.events[kinds.index("controller_lost")]
    assert lost["source"] == "stdin" and "end of file" in lost["why"]
    states = [e["state"] for e in run.events if e["event"] == "state"]
    assert states[-2:] == ["ramping_down", "completed"]
    assert_ramped_to_zero(log)
    header, _ = run.record()
    assert header["end_reason"] == "controller_lost:stdin"


def test_stdin_closed_from_the_start_never_starts_the_session(
    tmp_path: Path, protocol: Path
) -> None:
    db = tmp_path / "s.sqlite3"
    with Simulator(tmp_path / "sim.jsonl") as sim:
        done = subprocess.run(
            run_command(sim.url, "--no-outcomes", "--db", str(db), protocol=protocol),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        log = sim.log()
    assert done.returncode == LOST, done.stderr
    assert "stdin is closed" in done.stderr
    assert not [a for a in outputs(log) if a > 0]
    with Store(db, mark_interrupted=False) as store:
        (header,) = store.sessions()
    assert header["end_reason"] == "controller_lost:stdin"


# ---- bad command lines --------------------------------------------------------------------


BAD_CHANNELS = ['"channel": 1.9', '"channel": true', '"channel": "1"', '"channel": 1.0']


def test_commands_of_the_wrong_type_are_refused_and_the_session_goes_on(
    tmp_path: Path, protocol: Path
) -> None:
    """channel 1.9, true or "1" used to be taken as channel 1."""
    with running(tmp_path, protocol) as (run, sim):
        run.read_until("state", state="stimulating")
        for channel in BAD_CHANNELS:
            run.send(f'{{"cmd": "adjust", {channel}, "delta_ma": -1}}')
        run.send('{"cmd": "adjust", "channel": 1, "delta_ma": NaN}')
        run.send('{"cmd": "stop", "now": true}')
        errors = [run.read_until("error") for _ in range(len(BAD_CHANNELS) + 2)]
        run.send('{"cmd": "adjust", "channel": 1, "delta_ma": -1}')
        adjusted = run.read_until("adjust")
        run.send('{"cmd": "stop"}')
        code = run.proc.wait(timeout=60)
        log = sim.log()
    assert code == STOPPED, run.stderr()
    for error, channel in zip(errors, BAD_CHANNELS, strict=False):
        assert "'channel'" in error["where"] and "whole number" in error["why"]
        assert channel in error["input"] and error["input_truncated"] is False
    assert "'delta_ma'" in errors[4]["where"] or "NaN" in errors[4]["why"]
    assert "'now'" in errors[5]["where"]
    # nothing before the good adjust changed the session: it was stimulating at 5 mA
    before = run.events[: run.events.index(adjusted)]
    assert not [e for e in before if e["event"] in ("adjust", "stop")]
    assert [e["state"] for e in before if e["event"] == "state"][-1] == "stimulating"
    assert adjusted["previous_ma"] == 5 and adjusted["target_ma"] == 4
    assert max(outputs(log)) == 5000 and outputs(log)[-1] == 0
    _, events = run.record()
    recorded = [data(e) for e in events if e["kind"] == "error"]
    assert [r["why"] for r in recorded] == [e["why"] for e in errors]


def test_a_5_mb_line_is_quoted_cut_short_and_not_taken(tmp_path: Path, protocol: Path) -> None:
    """It used to be copied whole into stdout and into the hash-chained record."""
    padding = "x" * 5_000_000
    line = f'{{"cmd": "adjust", "channel": 1, "delta_ma": -1, "pad": "{padding}"}}'
    with running(tmp_path, protocol) as (run, _sim):
        run.read_until("state", state="stimulating")
        run.send(line)
        error = run.read_until("error")
        run.send('{"cmd": "stop"}')
        code = run.proc.wait(timeout=60)
    assert code == STOPPED, run.stderr()
    assert error["input_truncated"] is True and error["input_bytes"] == len(line)
    assert error["input"] == line[:QUOTE_CHARS]
    assert f"{len(line)} bytes" in error["why"]
    assert len(json.dumps(error)) < 2000
    assert not [e for e in run.events if e["event"] == "adjust"]  # a cut line is never run
    _, events = run.record()
    (recorded,) = [e for e in events if e["kind"] == "error"]
    assert len(json.dumps(data(recorded))) < 2000
    assert data(recorded)["input_bytes"] == len(line)


# ---- the pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "where", "why"),
    [
        ('{"cmd": "adjust", "channel": 1.9, "delta_ma": 1}', "channel", "whole number"),
        ('{"cmd": "adjust", "channel": true, "delta_ma": 1}', "channel", "true/false"),
        ('{"cmd": "adjust", "channel": "1", "delta_ma": 1}', "channel", 'the text "1"'),
        ('{"cmd": "adjust", "channel": null, "delta_ma": 1}', "channel", "null"),
        ('{"cmd": "adjust", "channel": 3, "delta_ma": 1}', "channel", "no channel 3"),
        ('{"cmd": "adjust", "channel": 1, "delta_ma": "1"}', "delta_ma", "number of mA"),
        ('{"cmd": "adjust", "channel": 1, "delta_ma": false}', "delta_ma", "true/false"),
        ('{"cmd": "adjust", "channel": 1, "delta_ma": 1e999}', "delta_ma", "finite"),
        ('{"cmd": "adjust", "channel": 1, "delta_ma": Infinity}', "line", "Infinity"),
        ('{"cmd": "adjust", "channel": 1}', "delta_ma", "missing"),
        ('{"cmd": "adjust", "channel": 1, "delta_ma": 1, "x": 0}', "'x'", "unknown"),
        ('{"cmd": "stop", "cmd": "adjust"}', "cmd", "twice"),
        ('{"cmd": "Stop"}', "cmd", "unknown command"),
        ('{"cmd": 1}', "cmd", "unknown command"),
        ('{"channel": 1}', "cmd", "missing"),
        ('["stop"]', "line", "JSON object"),
        ("stop", "line", "not JSON"),
        ("[" * 3000 + "]" * 3000, "line", "nested"),
        ('{"cmd": "adjust", "channel": 1%s, "delta_ma": 1}' % ("0" * 4400), "line", "command"),
    ],
)
def test_a_bad_command_says_where_and_why(line: str, where: str, why: str) -> None:
    with pytest.raises(BadCommand) as raised:
        parse_command(line, [1, 2])
    assert where in raised.value.where and why in raised.value.why


def test_good_commands_parse() -> None:
    adjust = parse_command('{"cmd": "adjust", "channel": 2, "delta_ma": -0.5}', [1, 2])
    assert (adjust.name, adjust.channel, adjust.delta_ma) == ("adjust", 2, -0.5)
    assert parse_command('{"cmd": "adjust", "channel": 1, "delta_ma": 2}', [1]).delta_ma == 2.0
    for name in ("pause", "resume", "stop", "emergency_stop"):
        assert parse_command(json.dumps({"cmd": name}), [1]).name == name


def test_lines_are_read_with_a_bound() -> None:
    """50 MB without a newline is counted, never held; the lines around it are whole."""
    chunks = iter(
        [b'{"cmd": "pause"}\n{"cmd"', b': "stop"}\n'] + [b"y" * 65536] * 800 + [b"\nlast"]
    )
    lines = list(read_lines(lambda n: next(chunks, b"")))
    assert [line.text() for line in lines[:2]] == ['{"cmd": "pause"}', '{"cmd": "stop"}']
    huge = lines[2]
    assert huge.too_long and len(huge.data) == MAX_LINE_BYTES and huge.size == 800 * 65536
    assert (lines[3].number, lines[3].text(), lines[3].too_long) == (4, "last", False)
    shown = quote(huge)
    assert len(shown["input"]) == QUOTE_CHARS and shown["input_truncated"] is True
    assert quote(Line(1, b"short", 5)) == {
        "input": "short",
        "input_bytes": 5,
        "input_truncated": False,
    }


def _event() -> SessionEvent:
    return SessionEvent("telemetry", 1.0, {"channel": 1})


class Lost:
    """An ``on_lost`` that remembers each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.called = threading.Event()

    def __call__(self, source: str, why: str) -> None:
        self.calls.append((source, why))
        self.called.set()


class Blocked:
    """A stdout write that does not return until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, data: bytes) -> None:
        self.release.wait(30)


def test_a_writer_that_cannot_keep_up_reports_stdout_lost_and_never_blocks_the_caller() -> None:
    write, lost = Blocked(), Lost()
    writer = EventWriter(write, lost, capacity=3, stall_s=60)
    writer.start()
    for _ in range(10):  # one is being written (blocked), 3 wait, then: lost
        writer.put(_event())
    assert lost.calls[:1] == [("stdout", "stdout is not being read (3 events waiting)")]
    assert len(lost.calls) == 1  # once
    write.release.set()
    writer.close()


def test_a_stalled_write_reports_stdout_blocked() -> None:
    write, lost = Blocked(), Lost()
    writer = EventWriter(write, lost, stall_s=0.2)
    writer.start()
    writer.put(_event())
    assert lost.called.wait(30)
    assert "stdout is blocked" in lost.calls[0][1]
    writer.close()  # returns: stdout is lost, nothing more is waited for
    write.release.set()


def test_a_broken_pipe_reports_stdout_closed() -> None:
    lost = Lost()

    def broken(data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    writer = EventWriter(broken, lost)
    writer.start()
    writer.put(_event())
    assert lost.called.wait(30)
    assert lost.calls == [("stdout", "stdout is closed (Broken pipe)")]
    writer.put(_event())  # dropped, not raised
    writer.close()
