"""Device URLs → drivers.

| URL | driver |
|---|---|
| ``/dev/ttyUSB0``, ``COM3``, ``serial:///dev/ttyUSB0`` | native protocol over a serial port |
| ``socket://HOST:PORT`` | native protocol over TCP (the simulator's ``--tcp``) |
| ``sciencemode2://PORT`` | Hasomed RehaStim2 (ScienceMode2, channel list mode) |
| ``sciencemode4://PORT`` | Hasomed P24 (ScienceMode4, mid level) |
| ``sim://PROFILE?scenario=ID&seed=N&log=FILE&telemetry_ms=N`` | in-process simulator |

The built-in schemes are a table of ``"module:function"`` names, imported only when a URL
of that scheme is opened. Other packages add schemes through the ``tensctl.drivers``
entry-point group: the entry point's name is the scheme and its value a callable
``(url, options) -> Driver``, loaded only when its scheme is opened. The simulator registers
``sim://`` that way (``tenssim.driver``, see pyproject.toml), like any third-party driver.
A built-in scheme cannot be taken over by an entry point.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points

from tensctl.drivers.base import Driver, DriverOptions, Opener
from tensctl.drivers.errors import UnknownScheme

ENTRY_POINT_GROUP = "tensctl.drivers"

BUILTIN: dict[str, str] = {
    "serial": "tensctl.drivers.registry:open_serial",
    "socket": "tensctl.drivers.registry:open_serial",
    "sciencemode2": "tensctl.drivers.sciencemode2:open_sciencemode2",
    "sciencemode4": "tensctl.drivers.sciencemode4:open_sciencemode4",
}
"""Scheme → ``"module:function"`` of its opener."""


def open_serial(url: str, options: DriverOptions) -> Driver:
    from tensctl.drivers.native import NativeDriver
    from tensctl.drivers.port import open_serial_port

    port = open_serial_port(url.removeprefix("serial://"), options.line)
    return NativeDriver(port, url, options.timeout_s, options.retries)


def _load_builtin(target: str) -> Opener:
    module, _, name = target.partition(":")
    opener: Opener = getattr(importlib.import_module(module), name)
    return opener


class Schemes(Mapping[str, Opener]):
    """Every known scheme → its opener. Listing the schemes imports and loads nothing; looking
    one up imports its module (built-in) or loads its entry point, and only that one."""

    def __init__(self) -> None:
        self._plugins: dict[str, EntryPoint] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in BUILTIN:  # the first package to claim a scheme keeps it
                self._plugins.setdefault(ep.name, ep)

    def __getitem__(self, scheme: str) -> Opener:
        if scheme in BUILTIN:
            return _load_builtin(BUILTIN[scheme])
        opener: Opener = self._plugins[scheme].load()
        return opener

    def __contains__(self, scheme: object) -> bool:  # without loading anything
        return scheme in BUILTIN or scheme in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*BUILTIN, *self._plugins}))

    def __len__(self) -> int:
        return len({*BUILTIN, *self._plugins})

    def listing(self) -> str:
        return ", ".join(f"{s}://" for s in self)


def schemes() -> Schemes:
    return Schemes()


def open_driver(url: str, options: DriverOptions | None = None) -> Driver:
    """The driver for ``url``; a bare path (``/dev/ttyUSB0``, ``COM3``) is a serial port."""
    options = options or DriverOptions()
    scheme = url.split("://", 1)[0] if "://" in url else "serial"
    known = schemes()
    if scheme not in known:
        raise UnknownScheme(f"no driver for '{scheme}://' in {url!r} (known: {known.listing()})")
    try:
        opener = known[scheme]
    except (ImportError, AttributeError) as exc:  # the package that provides it is broken
        raise UnknownScheme(
            f"the driver for '{scheme}://' cannot be loaded ({exc}) (known: {known.listing()})"
        ) from exc
    return opener(url, options)
