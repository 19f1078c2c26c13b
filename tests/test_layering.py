"""Imports point one way (DEVELOPERS.md): cli → engine → drivers/safety → wire/model, and the
simulator sees only the wire protocol and the models, except in its driver plugin; and no
module imports itself back through others. Checked on the source, statically."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package → the tensctl packages it may import (besides itself)
ALLOWED = {
    "tensctl.model": {"tensctl.errors"},
    "tensctl.wire": set(),
    "tensctl.safety": {"tensctl.model", "tensctl.errors"},
    "tensctl.engine": {"tensctl.model", "tensctl.safety", "tensctl.drivers", "tensctl.errors"},
    "tensctl.drivers": {"tensctl.wire", "tensctl.model", "tensctl.errors"},
    "tenssim": {"tensctl.wire", "tensctl.model"},
    "tensctl.journal": {"tensctl.model", "tensctl.errors"},  # records: fed plain data by api
}

# module → what it may import besides its package's allowance: the simulator registers
# ``sim://`` like any third-party driver, through one module (entry point ``tensctl.drivers``)
PLUGIN_SEAMS = {
    "tenssim.driver": {"tensctl.drivers", "tensctl.errors"},
}

FILES = sorted((ROOT / "src" / "tensctl").rglob("*.py")) + sorted(
    (ROOT / "simulator" / "tenssim").rglob("*.py")
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts[1:]  # without src/ or simulator/
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in FILES}


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "tensctl" else parts[0]


def _known(module: str) -> str | None:
    """The longest prefix of ``module`` that is one of ours (``None``: not ours)."""
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def _imports(module: str, source: str | None = None) -> Iterator[str]:
    """Every module of ours that ``module`` imports (its file's text, or ``source``): at
    module level, inside functions and under ``if TYPE_CHECKING:`` alike. Relative imports
    are resolved, and ``from package import name`` names the submodule ``package.name`` when
    there is one."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    text = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (found := _known(alias.name)) is not None:
                    yield found
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                found = _known(f"{origin}.{alias.name}")
                if found is None or found == _known(origin):  # a name, not a submodule
                    found = _known(origin)
                if found is not None:
                    yield found


GRAPH = {m: sorted(set(_imports(m)) - {m}) for m in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module: str) -> None:
    package = _package(module)
    if package not in ALLOWED:
        return  # cli and the top-level modules may import anything
    allowed = ALLOWED[package] | PLUGIN_SEAMS.get(module, set())
    for target in GRAPH[module]:
        other = _package(target)
        if other != package:
            assert other in allowed, f"{module} must not import {target}"


def test_only_the_plugin_seam_imports_the_controller_s_drivers() -> None:
    """``tensctl.drivers`` finds the simulator through its entry point, never by import."""

    def importers(of: str, among: str) -> set[str]:
        return {
            m
            for m, ts in GRAPH.items()
            if _package(m) == among and any(_package(t) == of for t in ts)
        }

    assert importers("tenssim", among="tensctl.drivers") == set()
    assert importers("tensctl.drivers", among="tenssim") == {"tenssim.driver"}


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every elementary cycle, each as the path from its smallest module back to it."""
    found: list[list[str]] = []

    def walk(start: str, path: list[str]) -> None:
        for nxt in graph[path[-1]]:
            if nxt == start:
                found.append([*path, start])
            elif nxt > start and nxt not in path:
                walk(start, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c", "a"], "c": ["a"], "d": ["a"]}
    assert _cycles(graph) == [["a", "b", "c", "a"], ["a", "b", "a"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_the_import_graph_resolves_relative_and_submodule_imports() -> None:
    assert "tensctl.drivers.base" in GRAPH["tensctl.drivers.registry"]
    assert "tenssim.sciencemode2.channel_list" in GRAPH["tenssim.sciencemode2.personality"]
    source = """
from typing import TYPE_CHECKING
from . import port
from .errors import UnknownScheme
from .. import errors
from ..wire import codes, Deframer
from tensctl.model import device
if TYPE_CHECKING:
    from tensctl.journal.store import Store
def later():
    import tensctl.safety.limits
    import json
"""
    expected = [
        "tensctl.drivers.port",
        "tensctl.drivers.errors",
        "tensctl.errors",
        "tensctl.wire.codes",
        "tensctl.wire",
        "tensctl.model.device",
        "tensctl.journal.store",
        "tensctl.safety.limits",
    ]
    assert sorted(_imports("tensctl.drivers.registry", source)) == sorted(expected)
    # in a package's __init__, "." is the package itself
    assert list(_imports("tensctl.drivers", "from . import port")) == ["tensctl.drivers.port"]


@pytest.mark.parametrize("package", sorted({_package(m) for m in MODULES}))
def test_no_import_circle(package: str) -> None:
    """No module imports itself back, however indirectly and whatever kind of import (a
    circle through ``TYPE_CHECKING`` or a function body is a circle of responsibility).
    Importing ``a.b.c`` counts as importing that module only, not the packages ``a`` and
    ``a.b`` Python initialises on the way."""
    mine = [c for c in _cycles(GRAPH) if any(_package(m) == package for m in c)]
    assert not mine, "import circles:\n" + "\n".join(" -> ".join(c) for c in mine)


def test_the_pytest_plugin_is_a_leaf() -> None:
    """``tensctl.testing`` (the pytest plugin) may import anything, the simulator included,
    as the cli does; nothing imports it, so neither the controller nor the simulator ever
    needs pytest."""
    importers = {
        m
        for m, targets in GRAPH.items()
        if _package(m) != "tensctl.testing"
        and any(_package(t) == "tensctl.testing" for t in targets)
    }
    assert importers == set()
    assert "tenssim.process" in GRAPH["tensctl.testing.simulator"]  # the check sees the plugin


def test_every_test_file_has_its_own_name() -> None:
    """The test folders are not packages (pytest's rootdir-relative imports), so two test
    files of one name anywhere under tests/ stop the collection of the whole suite."""
    tests = Path(__file__).resolve().parent
    names: dict[str, list[str]] = {}
    for path in tests.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(tests)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
