"""A session on the in-process simulator in virtual time, and ways to look inside it."""

from __future__ import annotations

from typing import Any

import tensctl
from tensctl.api import Device, RunningSession
from tensctl.engine.events import SessionEvent


def device(url: str = "sim://") -> Device:
    return tensctl.connect(url, virtual=True)


def session(dev: Device, protocol: str = "brief-intense", **kwargs: Any) -> RunningSession:
    kwargs.setdefault("intensity", 15.0)
    kwargs.setdefault("screened", True)
    return dev.session(protocol, **kwargs)


def device_output_ua(dev: Device, channel: int = 1) -> int:
    status = dev.driver.device.status(dev.clock.now())  # type: ignore[attr-defined]
    return int(status[channel - 1]["amplitude_ua"])


def kinds(events: list[SessionEvent], kind: str) -> list[SessionEvent]:
    return [e for e in events if e.kind == kind]
