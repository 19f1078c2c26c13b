"""Mutation testing of ``tensctl.safety``: every mutant of the safety code must be killed.

    .venv/bin/python bench/mutation.py [--jobs N] [--report-only] [--simulator]

``--simulator`` mutates the device's own limit module instead
(``simulator/tenssim/limits.py``, the second safety layer) against ``tests/sim``. mutmut
only finds mutated code under ``./``, ``src/`` or ``source/``, so the run happens in a
staging copy, ``mutants/simulator-stage/``, with ``tenssim`` laid out under ``src/``.

Runs mutmut 3 (the ``dev`` extra) from a clean state: ``mutants/`` is deleted, then
``mutmut run`` copies ``src/`` there, mutates ``src/tensctl/safety/*`` and runs
``tests/safety`` against each mutant (settings in ``[tool.mutmut]`` of pyproject.toml). The
tracked source files are never touched; ``mutants/`` is git-ignored and left behind for
``mutmut show NAME`` / ``mutmut browse``. mutmut's own output goes to
``mutants/bench-mutation.log``.

Prints how many mutants there were, how many were killed, timed out or survived, and lists
every survivor as ``file:line function`` with the mutation (``-`` original, ``+`` mutant).
Mutants listed in ``KNOWN_EQUIVALENT`` below (no behavioural difference; each with its
reason) are reported separately and not counted as survivors.

``--jobs`` is the number of mutants tested at once (default 2: the machine has 2 cores).
``--report-only`` skips the run and reports on the results already in ``mutants/``.

Exit status: 0 when no mutant survived (other than the known equivalents), 1 when some did,
2 when mutmut itself failed (its log's tail is printed). A full run takes about 6–7 minutes
with 2 jobs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/tensctl/safety")
TESTS = "tests/safety"
MUTANTS = Path("mutants")
STAGE = ROOT / "mutants" / "simulator-stage"
SIMULATOR_CONFIG = """[tool.mutmut]
source_paths = ["src/"]
only_mutate = ["src/tenssim/limits.py"]
also_copy = ["devices/", "protocols/", "tests/"]
pytest_add_cli_args = ["-p", "no:cacheprovider"]
pytest_add_cli_args_test_selection = ["tests/sim"]
"""
LOG = MUTANTS / "bench-mutation.log"

# a mutant is detected when the tests fail, crash or hang; anything else is a survivor
DETECTED = {"killed", "caught by type check", "segfault"}
TIMEOUT = "timeout"


@dataclass(frozen=True)
class Equivalent:
    """A mutant that cannot change behaviour: ``where`` is ``module.function`` (or
    ``module.Class.method``), ``before``/``after`` the changed lines, stripped."""

    where: str
    before: str
    after: str
    reason: str
    simulator: bool = False  # a mutant of simulator/tenssim/limits.py (--simulator)


_SECONDARY_BOUNDS = "if not (0 < amp <= PERMILLE and width > 0):"
_BALANCE = "the balance check right after refuses it with the same OUT_OF_RANGE"

KNOWN_EQUIVALENT: tuple[Equivalent, ...] = (
    # simulator/tenssim/limits.py (--simulator)
    Equivalent(
        "limits.Limits.check_configure",
        _SECONDARY_BOUNDS,
        "if not (0 <= amp <= PERMILLE and width > 0):",
        f"a secondary amplitude of 0 carries no charge, so {_BALANCE}",
        simulator=True,
    ),
    Equivalent(
        "limits.Limits.check_configure",
        _SECONDARY_BOUNDS,
        "if not (0 < amp <= PERMILLE and width >= 0):",
        f"a secondary width of 0 carries no charge, so {_BALANCE}",
        simulator=True,
    ),
    Equivalent(
        "limits.Limits.check_configure",
        _SECONDARY_BOUNDS,
        "if not (0 < amp <= PERMILLE and width > 1):",
        f"a 1 permille width with amp <= 1000 permille is never within 1 % of balance, so "
        f"{_BALANCE}",
        simulator=True,
    ),
    Equivalent(
        "rules.envelope",
        'lo = Limit(lo.key, dev_range.min, unit, src, "S")',
        'lo = Limit(None, dev_range.min, unit, src, "S")',
        "the limit's key is never read: findings carry its value, unit and citation",
    ),
    Equivalent(
        "rules.envelope",
        'hi = Limit(hi.key, dev_range.max, unit, src, "S")',
        'hi = Limit(None, dev_range.max, unit, src, "S")',
        "the limit's key is never read: findings carry its value, unit and citation",
    ),
    *(
        Equivalent(
            "capability.phase_envelope",
            'w_lo, w_hi = envelope(device, "pulse_width")',
            f"w_lo, w_hi = envelope(device, {what})",
            'envelope() reads anything but "frequency" as the pulse width',
        )
        for what in ("None", '"XXpulse_widthXX"', '"PULSE_WIDTH"')
    ),
    Equivalent(
        "supervisor.Supervisor.lower_ceiling",
        "lowered = ceiling_ma if math.isfinite(ceiling_ma) and ceiling_ma >= 0 else 0.0",
        "lowered = ceiling_ma if math.isfinite(ceiling_ma) and ceiling_ma > 0 else 0.0",
        "differs only for -0.0, which the original keeps and the mutant makes 0.0: equal, "
        "and limit() sends exactly 0.0 from either",
    ),
    Equivalent(
        "dose._pulse_checks",
        'lim.key, device.max_charge_per_phase_uc, lim.unit, f"device profile {device.id}", "S"',
        'None, device.max_charge_per_phase_uc, lim.unit, f"device profile {device.id}", "S"',
        "the limit's key is never read: findings carry its value, unit and citation",
    ),
    Equivalent(
        "supervisor.Supervisor.limit",
        "if wanted <= guard.sent_ma:",
        "if wanted < guard.sent_ma:",
        "wanting exactly what was sent: the increase path allows sent + max(0, min(…, 0)) = "
        "sent as well",
    ),
    Equivalent(
        "supervisor.Supervisor._quantize",
        "return round(steps * self.resolution_ma, 6)",
        "return round(steps * self.resolution_ma, 7)",
        "both give the same float for any resolution that is a whole number of nA (profiles: "
        "1 µA, 1 mA)",
    ),
    Equivalent(
        "supervisor.Supervisor.sent",
        "if amplitude_ma > guard.sent_ma:",
        "if amplitude_ma >= guard.sent_ma:",
        "re-sending the same amplitude records a 0 mA increase, which adds nothing to the budget",
    ),
)


@dataclass
class Mutant:
    name: str
    status: str
    file: Path
    line: int
    where: str
    before: list[str]
    after: list[str]

    def matches(self, eq: Equivalent) -> bool:
        return (
            self.where == eq.where
            and "\n".join(self.before) == eq.before
            and "\n".join(self.after) == eq.after
        )


def stage_simulator() -> None:
    """A copy of what the simulator's tests need, ``tenssim`` (and its scenarios, which it
    finds next to itself) under ``src/``; then work there."""
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "tests").mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src" / "tensctl", STAGE / "src" / "tensctl", ignore=ignore)
    shutil.copytree(ROOT / "simulator" / "tenssim", STAGE / "src" / "tenssim", ignore=ignore)
    shutil.copytree(ROOT / "simulator" / "scenarios", STAGE / "src" / "scenarios")
    for data in ("devices", "protocols"):
        shutil.copytree(ROOT / data, STAGE / data)
    shutil.copytree(ROOT / "tests" / "sim", STAGE / "tests" / "sim", ignore=ignore)
    # the simulator fixtures are tensctl.testing's, staged with src/tensctl above
    shutil.copy(ROOT / "tests" / "conftest.py", STAGE / "tests" / "conftest.py")
    (STAGE / "pyproject.toml").write_text(SIMULATOR_CONFIG)
    os.chdir(STAGE)


def run_mutmut(jobs: int) -> float:
    """Delete ``mutants/`` and run mutmut; returns the run time in seconds."""
    shutil.rmtree(MUTANTS, ignore_errors=True)
    MUTANTS.mkdir()
    exe = Path(sys.executable).parent / "mutmut"
    command = [str(exe if exe.exists() else "mutmut"), "run", "--max-children", str(jobs)]
    print(f"$ {' '.join(command)}  (output in {LOG})", flush=True)
    start = time.monotonic()
    with LOG.open("w") as log:
        # the original tree must never be imported instead of the mutants
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MUTANT_UNDER_TEST")}
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    elapsed = time.monotonic() - start
    if code != 0:
        tail = LOG.read_text(errors="replace").replace("\r", "\n").splitlines()[-40:]
        print("\n".join(tail))
        print(f"mutmut failed (exit {code}); see {LOG}")
        sys.exit(2)
    return elapsed


def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """``function`` / ``Class.method`` → (first, last) line of its definition."""
    spans: dict[str, tuple[int, int]] = {}
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    for node in ast.parse(source).body:
        if isinstance(node, functions):
            spans[node.name] = (node.lineno, node.end_lineno or node.lineno)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, functions):
                    end = item.end_lineno or item.lineno
                    spans[f"{node.name}.{item.name}"] = (item.lineno, end)
    return spans


def describe(name: str, status: str, path: Path) -> Mutant:
    """Where a mutant is in the original file, and what it changed."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    function, cls = orig_function_and_class_names_from_key(name)
    qualname = f"{cls}.{function}" if cls else function
    diff = get_diff_for_mutant(name, path=path).splitlines()
    before, after, first = [], [], 0
    at = 0
    for line in diff[2:]:
        hunk = re.match(r"@@ -(\d+)", line)
        if hunk:
            at = int(hunk.group(1))
        elif line.startswith("-"):
            before.append(line[1:].strip())
            first = first or at
            at += 1
        elif line.startswith("+"):
            after.append(line[1:].strip())
        else:
            at += 1
    source = path.read_text()
    lines = source.splitlines()
    lo, hi = function_spans(source).get(qualname, (1, len(lines)))
    guess = lo + max(first - 1, 0)
    # the diff counts lines within the function; find the changed line itself near there
    candidates = [n for n in range(lo, hi + 1) if before and lines[n - 1].strip() == before[0]]
    line_no = min(candidates, key=lambda n: abs(n - guess)) if candidates else guess
    where = f"{path.stem}.{qualname}"
    return Mutant(name, status, path, line_no, where, before, after)


def collect(package: Path) -> tuple[dict[str, int], list[Mutant]]:
    """Counts by status, and every mutant that was not detected."""
    from mutmut.stats import status_by_exit_code

    counts: dict[str, int] = {}
    undetected: list[Mutant] = []
    metas = sorted((MUTANTS / package).glob("*.py.meta"))
    if not metas:
        print(f"no mutmut results in {MUTANTS / package}")
        sys.exit(2)
    for meta in metas:
        path = Path(str(meta.relative_to(MUTANTS)).removesuffix(".meta"))
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = status_by_exit_code[code]
            counts[status] = counts.get(status, 0) + 1
            if status not in DETECTED and status != TIMEOUT:
                undetected.append(describe(name, status, path))
    return counts, undetected


def number(name: str) -> int:
    return int(name.rpartition("__mutmut_")[2])


def show(m: Mutant, note: str = "") -> None:
    print(f"  {m.file}:{m.line}  {m.where}  [{m.status}] {m.name.rpartition('.')[2]}{note}")
    for text in m.before:
        print(f"      - {text}")
    for text in m.after:
        print(f"      + {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (2)")
    parser.add_argument("--report-only", action="store_true", help="report on mutants/ as is")
    parser.add_argument(
        "--simulator", action="store_true", help="mutate simulator/tenssim/limits.py instead"
    )
    args = parser.parse_args()
    package, tests = (Path("src/tenssim"), "tests/sim") if args.simulator else (PACKAGE, TESTS)
    if args.simulator and not args.report_only:
        stage_simulator()
    elif args.simulator and not STAGE.is_dir():
        print(f"no mutmut results in {STAGE} (run without --report-only first)")
        return 2
    else:
        os.chdir(STAGE if args.simulator else ROOT)
    elapsed = None if args.report_only else run_mutmut(args.jobs)

    counts, undetected = collect(package)
    equivalent = [(m, e) for m in undetected for e in KNOWN_EQUIVALENT if m.matches(e)]
    explained = {id(m) for m, _ in equivalent}
    survivors = [m for m in undetected if id(m) not in explained]
    total = sum(counts.values())
    killed = sum(n for status, n in counts.items() if status in DETECTED)

    took = f" in {elapsed:.0f} s with {args.jobs} jobs" if elapsed is not None else ""
    print(f"\nmutmut {version('mutmut')} on {package} with {tests}{took}")
    print(f"  mutants     {total:5d}")
    print(f"  killed      {killed:5d}")
    print(f"  timeouts    {counts.get(TIMEOUT, 0):5d}  (the tests hung: detected)")
    print(f"  equivalent  {len(equivalent):5d}  (known, not counted)")
    print(f"  survived    {len(survivors):5d}")
    others = {s: n for s, n in counts.items() if s not in DETECTED | {TIMEOUT, "survived"}}
    if others:
        print("  of which " + ", ".join(f"{n} {s}" for s, n in sorted(others.items())))

    if equivalent:
        print("\nknown equivalent mutants:")
        for m, e in sorted(equivalent, key=lambda p: (str(p[0].file), p[0].line)):
            show(m, f"  — {e.reason}")
    # stale only among the entries of the package that was mutated
    equivalents = [e for e in KNOWN_EQUIVALENT if e.simulator == args.simulator]
    unused = [e for e in equivalents if not any(e is f for _, f in equivalent)]
    if unused:
        print("\nKNOWN_EQUIVALENT entries that matched no surviving mutant (stale?):")
        for e in unused:
            print(f"  {e.where}: {e.before!r} → {e.after!r}")
    if survivors:
        print(f"\n{len(survivors)} surviving mutants:")
        for m in sorted(survivors, key=lambda m: (str(m.file), m.line, number(m.name))):
            show(m)
        print("\n(mutmut show NAME for the full diff; names are in mutants/*.meta)")
        return 1
    print("\nno surviving mutants")
    return 0


if __name__ == "__main__":
    sys.exit(main())
