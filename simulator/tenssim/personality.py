"""Personalities: the device protocol the simulator speaks on top of its output stage.

:class:`~tenssim.device.SimDevice` owns what every simulated device shares — the link and
its injected faults, scenario playback, the outbox — and :class:`~tenssim.firmware.Firmware`
owns the output stage (channels, pulse accounting, the load model, the log). A personality
turns the host's bytes into commands on that output stage and its state into bytes for the
host: the native tensctl protocol (:class:`Native`), or a real device's published protocol
(``sciencemode2``: Hasomed RehaStim2; ``sciencemode4``: Hasomed P24).

Because every personality drives the same output stage, the ``--log`` file says what was
delivered in the same words whichever protocol asked for it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

from tensctl.wire import Deframer, FrameError, encode
from tensctl.wire.frame import Frame
from tensctl.wire.messages import Message
from tenssim.firmware import Firmware

P = TypeVar("P")

PERSONALITIES: dict[str, str] = {
    "native": "tenssim.personality:Native",
    "sciencemode2": "tenssim.sciencemode2:ScienceMode2",
    "sciencemode4": "tenssim.sciencemode4:ScienceMode4",
}
DEFAULT_PROFILES: dict[str, str] = {
    "sciencemode2": "hasomed-rehastim2",
    "sciencemode4": "hasomed-p24",
}
"""The device profile a personality runs with unless ``--profile`` says otherwise."""


@dataclass(frozen=True)
class BadFrame:
    """Bytes that did not make a valid frame (bad checksum, bad length, junk)."""

    kind: str


@dataclass(frozen=True)
class PersonalityOptions:
    lenient_watchdog: bool = False
    """Give hosts that feed the watchdog irregularly a longer period (see each personality)."""


class Personality(ABC, Generic[P]):
    """One protocol on the output stage. Every method takes the current time and returns
    the frames (already encoded) the device sends because of it."""

    def __init__(self, firmware: Firmware, options: PersonalityOptions) -> None:
        self.firmware, self.options, self.log = firmware, options, firmware.log

    @abstractmethod
    def feed(self, data: bytes, now_s: float) -> list[P | BadFrame]:
        """Raw bytes from the host → the packets and bad frames they complete."""

    @abstractmethod
    def handle(self, packet: P, now_s: float) -> list[bytes]:
        """One valid packet → its reply (and anything else it makes the device send)."""

    def bad_frame(self, bad: BadFrame, now_s: float) -> list[bytes]:
        """A frame that failed its checks is dropped (and logged)."""
        self.log({"t": now_s, "event": "bad_frame", "kind": bad.kind})
        return []

    @abstractmethod
    def tick(self, now_s: float) -> list[bytes]:
        """Time passes: call ``firmware.tick`` (pulse accounting, load monitor), run the
        device's own watchdog, and send what the device sends on its own."""

    @abstractmethod
    def boot(self, now_s: float) -> list[bytes]:
        """Power-up (the first start, and after a reboot, once ``firmware.boot`` has reset
        the output stage): forget protocol state; what the device sends at power-up."""

    def pushed(self, messages: list[Message], now_s: float) -> list[bytes]:
        """Native messages the output stage raised outside a command (low battery): a
        personality whose protocol has no words for them sends nothing; its ``tick`` sees
        the outputs the output stage stopped."""
        return []


class Native(Personality[Frame]):
    """The native tensctl wire protocol (``docs/wire-protocol.md``)."""

    def __init__(self, firmware: Firmware, options: PersonalityOptions) -> None:
        super().__init__(firmware, options)
        self._deframer = Deframer()
        self._tx_seq = 0

    def encode(self, messages: list[Message]) -> list[bytes]:
        out = []
        for message in messages:
            out.append(encode(message, self._tx_seq, self.firmware.session))
            self._tx_seq = (self._tx_seq + 1) & 0xFFFF
        return out

    def feed(self, data: bytes, now_s: float) -> list[Frame | BadFrame]:
        return [
            BadFrame(item.kind.value) if isinstance(item, FrameError) else item
            for item in self._deframer.feed(data)
        ]

    def handle(self, packet: Frame, now_s: float) -> list[bytes]:
        return self.encode(self.firmware.handle(packet, now_s))

    def bad_frame(self, bad: BadFrame, now_s: float) -> list[bytes]:
        return self.encode(self.firmware.bad_frame(now_s, bad.kind))

    def tick(self, now_s: float) -> list[bytes]:
        return self.encode(self.firmware.tick(now_s))

    def boot(self, now_s: float) -> list[bytes]:
        self._deframer = Deframer()
        return self.encode(self.firmware.greeting)

    def pushed(self, messages: list[Message], now_s: float) -> list[bytes]:
        return self.encode(messages)


def create(name: str, firmware: Firmware, options: PersonalityOptions) -> Personality[object]:
    """The personality called ``name`` (see :data:`PERSONALITIES`) on ``firmware``."""
    if name not in PERSONALITIES:
        known = ", ".join(sorted(PERSONALITIES))
        raise ValueError(f"unknown personality {name!r} (known: {known})")
    module, _, attr = PERSONALITIES[name].partition(":")
    cls: type[Personality[object]] = getattr(importlib.import_module(module), attr)
    return cls(firmware, options)
