"""``tensctl run`` as a therapist runs it, in a real pseudo-terminal: the outcomes typed
before and after — an adverse event among them — are in the record however the session
ended (completed, stopped with s, emergency-stopped with Esc or two Ctrl-C, faulted), the
last line says why it ended and where it is recorded, and the exit code is the README's.

The terminal is the process's controlling terminal, so Ctrl-C is the byte ``\\x03`` typed
into it and the line discipline turns it into SIGINT, as at a keyboard. The session's
progress is read from its own record (the store is written as the session runs), not from
the display's wording.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tensctl.journal.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHORT = ROOT / "tests" / "data" / "protocols" / "e2e-short.yaml"  # 6 s at 5 mA
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\r")
WAIT_S = 60.0  # the longest any step may take on a loaded machine (a hang fails, not a slow run)


def _controlling_tty() -> None:  # in the child: a session of its own, the pty its terminal
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A command on a pseudo-terminal (80×24): what it prints, and keys typed into it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x18\x00\x50\x00\x00\x00\x00\x00")  # 24×80
        self.master, self.text, self.seen = master, "", 0
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            preexec_fn=_controlling_tty,
            close_fds=True,
        )
        os.close(slave)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.text += ANSI.sub("", data.decode("utf-8", "replace"))

    def expect(self, pattern: str) -> str:
        """Wait for ``pattern`` (a regex) after what was matched before; returns the match."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with self._lock:
                found = re.compile(pattern).search(self.text, self.seen)
                if found:
                    self.seen = found.end()
                    return found.group(0)
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the last output may still be in the pty
                with self._lock:
                    found = re.compile(pattern).search(self.text, self.seen)
                if found:
                    self.seen = found.end()
                    return found.group(0)
                pytest.fail(f"exited {self.proc.returncode} before {pattern!r}:\n{self.text}")
            time.sleep(0.02)
        pytest.fail(f"no {pattern!r} within {WAIT_S:g} s:\n{self.text}")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def answer(self, prompt: str, value: str) -> None:
        self.expect(prompt)
        self.type(value + "\r")

    def wait(self) -> int:
        code = self.proc.wait(timeout=WAIT_S)
        time.sleep(0.2)  # drain the reader
        os.close(self.master)
        return code

    def last_line(self) -> str:
        with self._lock:
            lines = [line for line in self.text.splitlines() if line.strip()]
        return " ".join(lines[-3:])  # a long line wraps at 80 columns


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TENSCTL_DB", None)
    env["TENSCTL_OPERATOR"] = "dr-pty"
    env["TERM"] = "xterm-256color"
    env["COLUMNS"], env["LINES"] = "80", "24"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "simulator")])
    return env


def start(tmp_path: Path, protocol: str, *extra: str) -> tuple[Terminal, Path]:
    db = tmp_path / "sessions.sqlite3"
    args = [sys.executable, "-m", "tensctl", "run", protocol, "--patient", "P-77"]
    term = Terminal([*args, "--yes", "--db", str(db), *extra], _env(tmp_path))
    return term, db


def answer_before(term: Terminal) -> None:
    term.answer(r"Pain at rest \(0 none – 10 worst\): ", "")  # a required rating left empty
    term.expect(r"required: a number from 0 to 10")
    term.answer(r"Pain at rest \(0 none – 10 worst\): ", "6")
    term.answer(r"Pain on movement \(0–10\): ", "7")
    term.answer(r"Fatigue \(0–10\): ", "4")
    term.answer(r"at the stimulated site, kPa \(Enter: skip\): ", "310")
    term.answer(r"at a remote site, kPa \(Enter: skip\): ", "")


def answer_after(term: Terminal) -> None:
    term.answer(r"Outcomes after the session:\s*Pain at rest \(0 none – 10 worst\): ", "3")
    term.answer(r"Pain on movement \(0–10\): ", "11")  # out of range: asked again
    term.expect(r"a number from 0 to 10, please")
    term.answer(r"Pain on movement \(0–10\): ", "4")
    term.answer(r"Fatigue \(0–10\): ", "2")
    term.answer(r"at the stimulated site, kPa \(Enter: skip\): ", "")
    term.answer(r"at a remote site, kPa \(Enter: skip\): ", "")
    term.answer(
        r"Adverse events \(skin_irritation, burn, other; Enter: none\): ", "skin_irritation"
    )
    term.answer(r"What happened: ", "redness under electrode 1")


def wait_for_state(db: Path, state: str) -> None:
    """Until the session's own record says it reached ``state``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if db.is_file():
            try:
                with Store(db, read_only=True) as store:
                    events = store.events(1) if store.sessions() else []
            except Exception:  # the store being created or migrated: look again
                events = []
            if any(e["kind"] == "state" and e["data"]["state"] == state for e in events):
                return
        time.sleep(0.05)
    pytest.fail(f"the session never reached {state}")


def shown(db: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tensctl", "sessions", "show", "1", "--json", "--db", str(db)],
        capture_output=True,
        text=True,
        env=_env(db.parent),
        timeout=WAIT_S,
        check=True,
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def check_record(db: Path, end_reason: str) -> dict[str, Any]:
    """``end_reason`` exactly, or a prefix of it ending in ':' (a fault, whichever rule)."""
    data = shown(db)
    if end_reason.endswith(":"):
        assert data["end_reason"].startswith(end_reason)
    else:
        assert data["end_reason"] == end_reason
    before, after = data["outcomes"]["before"], data["outcomes"]["after"]
    assert (before["pain_rest"], before["pain_movement"], before["fatigue"]) == (6, 7, 4)
    assert before["ppt_stimulated_kpa"] == 310 and before["ppt_remote_kpa"] is None
    assert (after["pain_rest"], after["pain_movement"], after["fatigue"]) == (3, 4, 2)
    assert after["adverse_events"] == ["skin_irritation"]
    assert after["adverse_note"] == "redness under electrode 1"
    assert after["operator"] == "dr-pty" and "amends" not in after
    verified = subprocess.run(
        [sys.executable, "-m", "tensctl", "sessions", "verify", "--db", str(db)],
        capture_output=True,
        text=True,
        env=_env(db.parent),
        timeout=WAIT_S,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return data


def check_last_line(term: Terminal, db: Path, said: str) -> None:
    last = term.last_line()
    assert said in last, term.text
    assert f"recorded as session 1 in {db}" in last.replace("\n", "")
    assert "tensctl sessions show 1" in last


def test_completed_session_keeps_the_outcomes(tmp_path: Path) -> None:
    term, db = start(tmp_path, str(SHORT), "--speed", "3")
    answer_before(term)
    answer_after(term)
    assert term.wait() == 0, term.text
    check_last_line(term, db, "session completed")
    data = check_record(db, "completed")
    assert data["dose"][0]["peak_ma"] == pytest.approx(5)


def test_stopped_with_s_keeps_the_outcomes_and_never_says_completed(tmp_path: Path) -> None:
    term, db = start(tmp_path, "conventional-hf", "-i", "1=20", "--speed", "20")
    answer_before(term)
    wait_for_state(db, "stimulating")
    term.type("s")
    answer_after(term)
    assert term.wait() == 7, term.text
    check_last_line(term, db, "stopped by the user")
    assert "completed" not in term.last_line()
    check_record(db, "stopped_by_user")


def test_esc_is_an_emergency_stop_and_keeps_the_outcomes(tmp_path: Path) -> None:
    term, db = start(tmp_path, "conventional-hf", "-i", "1=20", "--speed", "20")
    answer_before(term)
    wait_for_state(db, "stimulating")
    term.type("\x1b")
    answer_after(term)
    assert term.wait() == 7, term.text
    check_last_line(term, db, "emergency stop by the operator")
    data = check_record(db, "emergency_stop")
    assert data["faults"] == []


def test_two_ctrl_c_are_the_same_emergency_stop_as_esc(tmp_path: Path) -> None:
    """The first Ctrl-C begins the ramp-down (5 s of protocol, 2.5 s at --speed 2); the
    second, well inside it, is the operator's emergency stop — the device's report of its
    own e-stop latch is not a device fault."""
    term, db = start(tmp_path, "conventional-hf", "-i", "1=20", "--speed", "2")
    answer_before(term)
    wait_for_state(db, "stimulating")
    term.type("\x03")
    wait_for_state(db, "ramping_down")
    term.type("\x03")
    answer_after(term)
    assert term.wait() == 7, term.text
    check_last_line(term, db, "emergency stop by the operator")
    data = check_record(db, "emergency_stop")
    assert data["faults"] == []


def test_a_fast_double_ctrl_c_is_an_emergency_stop(tmp_path: Path) -> None:
    """Both presses in one burst (the panic gesture, found by a review): the kernel merges
    two SIGINTs that arrive before the first is handled, so Ctrl-C is read as a key while
    the display runs — two bytes, two presses, the second an emergency stop."""
    term, db = start(tmp_path, "conventional-hf", "-i", "1=20", "--speed", "2")
    answer_before(term)
    wait_for_state(db, "stimulating")
    term.type("\x03\x03")
    answer_after(term)
    assert term.wait() == 7, term.text
    check_last_line(term, db, "emergency stop by the operator")
    check_record(db, "emergency_stop")


def test_fault_keeps_the_outcomes_and_exits_6(tmp_path: Path) -> None:
    """The simulator's electrode-off scenario: channel 1's electrode comes off 5 s after
    the start; the device trips on the open circuit, or the host does from its telemetry
    (whichever sees it first)."""
    term, db = start(
        tmp_path,
        "conventional-hf",
        "-i",
        "1=20",
        "--speed",
        "20",
        "--device",
        "sim://?scenario=electrode-off",
    )
    answer_before(term)
    answer_after(term)
    assert term.wait() == 6, term.text
    check_last_line(term, db, "fault")
    assert "open_circuit" in term.last_line()
    data = check_record(db, "fault:")
    assert len(data["faults"]) == 1 and "open_circuit" in json.dumps(data["faults"])


def test_a_demonstration_asks_nothing_after_yes(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    args = [sys.executable, "-m", "tensctl", "run", str(SHORT), "--yes", "--speed", "3"]
    term = Terminal([*args, "--db", str(db)], _env(tmp_path))
    assert term.wait() == 0, term.text
    assert "Pain" not in term.text and "?" not in term.text
    assert "a demonstration run, no outcomes asked" in term.text
    assert shown(db)["outcomes"] == {}


def test_relative_intensity_without_i_is_refused_before_anything(tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite3"
    term = Terminal(
        [sys.executable, "-m", "tensctl", "run", "burst", "--patient", "P-1", "--db", str(db)],
        _env(tmp_path),
    )
    assert term.wait() == 2, term.text
    assert "`tensctl run burst -i 1=20`" in term.text.replace("\n", "")
    assert "`tensctl run burst -i 1=SC2`" in term.text.replace("\n", "")
    assert "screened" not in term.text and "Pain" not in term.text  # nothing was asked
    assert "state" not in term.text  # the display never opened
    assert not db.exists()
