"""Imports point one way (DEVELOPERS.md): cli → engine → drivers/safety → wire/model, and the
simulator sees only the wire protocol and the models. Checked on the source, statically."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package → the tensctl packages it may import (besides itself)
ALLOWED = {
    "tensctl.model": {"tensctl.errors"},
    "tensctl.wire": set(),
    "tensctl.safety": {"tensctl.model", "tensctl.errors"},
    "tensctl.engine": {"tensctl.model", "tensctl.safety", "tensctl.drivers", "tensctl.errors"},
    "tensctl.drivers": {"tensctl.wire", "tensctl.model", "tensctl.errors", "tenssim"},
    "tenssim": {"tensctl.wire", "tensctl.model"},
    "tensctl.journal": {"tensctl.model", "tensctl.errors"},  # records: fed plain data by api
}


def _package(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[1:] if parts[0] in ("src", "simulator") else parts
    return ".".join(parts[:2]) if parts[0] == "tensctl" else parts[0]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "tenssim":
        return "tenssim"
    if parts[0] == "tensctl":
        return ".".join(parts[:2])
    return None


FILES = sorted((ROOT / "src" / "tensctl").rglob("*.py")) + sorted(
    (ROOT / "simulator" / "tenssim").rglob("*.py")
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    package = _package(path)
    if package not in ALLOWED:
        return  # cli and the top-level modules may import anything
    for module in _imports(path):
        target = _top(module)
        if target is None or target == package:
            continue
        assert target in ALLOWED[package], f"{package} must not import {module}"
