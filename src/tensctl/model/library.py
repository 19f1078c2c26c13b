"""Where shipped protocols and device profiles live, and lookup by id or path.

Installed from a wheel they sit in ``tensctl/_library/``; in a source checkout (editable
install) they are the repository's ``protocols/`` and ``devices/`` folders. The environment
variables ``TENSCTL_PROTOCOLS`` and ``TENSCTL_DEVICES`` add a folder searched first.
"""

from __future__ import annotations

import os
from difflib import get_close_matches
from pathlib import Path

from tensctl.errors import InputError, Problem
from tensctl.model.device import DeviceProfile
from tensctl.model.loader import load_device, load_protocol
from tensctl.model.protocol import Protocol

_PACKAGE = Path(__file__).resolve().parents[1]
DEFAULT_DEVICE = "tenssim-2ch"


def _dirs(kind: str, env: str) -> list[Path]:
    out = []
    extra = os.environ.get(env)
    if extra:
        out.append(Path(extra))
    for candidate in (_PACKAGE / "_library" / kind, _PACKAGE.parents[1] / kind):
        if candidate.is_dir():
            out.append(candidate)
    return out


def protocol_dirs() -> list[Path]:
    return _dirs("protocols", "TENSCTL_PROTOCOLS")


def device_dirs() -> list[Path]:
    return _dirs("devices", "TENSCTL_DEVICES")


def library_files(dirs: list[Path]) -> dict[str, Path]:
    """id (file stem) → path; earlier folders win."""
    found: dict[str, Path] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def resolve(ref: str, dirs: list[Path], what: str) -> Path:
    """A path if ``ref`` names an existing file or looks like one, else an id in ``dirs``."""
    path = Path(ref)
    if path.exists() or path.suffix in (".yaml", ".yml") or os.sep in ref:
        return path
    known = library_files(dirs)
    if ref in known:
        return known[ref]
    near = get_close_matches(ref, list(known), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    listing = f" (known: {', '.join(known)})" if known and not near else ""
    raise InputError([Problem(f"no {what} with id '{ref}'{hint}{listing}", "<argument>")])


def find_protocol(ref: str) -> tuple[Protocol, Path]:
    path = resolve(ref, protocol_dirs(), "protocol")
    return load_protocol(path), path


def find_device(ref: str) -> tuple[DeviceProfile, Path]:
    path = resolve(ref, device_dirs(), "device profile")
    return load_device(path), path
