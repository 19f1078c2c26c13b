"""tensctl: a controller for TENS stimulators.

``tensctl.connect(url)`` opens a device; ``device.session(protocol, …)`` runs a protocol on
it (see :mod:`tensctl.api`). The models are in :mod:`tensctl.model`, the static safety check
in :mod:`tensctl.safety`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tensctl.api import Device, connect

__all__ = ["Device", "__version__", "connect"]


def __getattr__(name: str) -> Any:
    # imported on first use, so `tensctl --help` stays fast
    if name in ("connect", "Device"):
        from tensctl import api

        return getattr(api, name)
    raise AttributeError(name)
