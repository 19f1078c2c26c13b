"""Helpers for the ScienceMode4 (P24) tests: an in-process personality with a host that
speaks to it in packets, and a simulator process on a pty."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tenssim.firmware import Firmware
from tenssim.personality import PersonalityOptions
from tenssim.sciencemode4 import ScienceMode4

from tensctl.model.library import find_device
from tensctl.testing import Simulator
from tensctl.wire.sciencemode4 import (
    Deframer,
    Message,
    MessageError,
    MlChannel,
    MlUpdate,
    Packet,
    Point,
    decode_message,
    encode_frame,
)


def biphasic(amplitude_ma: float, width_us: int = 200, period_ms: float = 25.0) -> MlChannel:
    return MlChannel((Point(width_us, amplitude_ma), Point(width_us, -amplitude_ma)), period_ms)


def update(**channels: MlChannel) -> MlUpdate:
    """``update(ch1=biphasic(10))``: an Ml_update with those channels active."""
    entries: list[MlChannel | None] = [None] * 8
    for name, setting in channels.items():
        entries[int(name.removeprefix("ch")) - 1] = setting
    return MlUpdate(tuple(entries))


class Host:
    """A host talking to the personality in-process, on a clock the test moves."""

    def __init__(self, serial: str = "SIM-0001", lenient: bool = False) -> None:
        self.log: list[dict[str, Any]] = []
        profile, _ = find_device("hasomed-p24")
        self.fw = Firmware(profile, 0.0, serial, log=self.log.append)
        self.sim = ScienceMode4(self.fw, PersonalityOptions(lenient))
        self.sim.boot(0.0)
        self.deframer = Deframer()
        self.number = 0

    def raw(self, data: bytes, now_s: float) -> list[Packet]:
        """Bytes in; the packets the device sends back (bad frames get their reply too)."""
        out: list[bytes] = list(self.sim.tick(now_s))
        for item in self.sim.feed(data, now_s):
            if isinstance(item, Packet):
                out += self.sim.handle(item, now_s)
            else:
                out += self.sim.bad_frame(item, now_s)
        replies = self.deframer.feed(b"".join(out))
        assert all(isinstance(r, Packet) for r in replies), replies
        return [r for r in replies if isinstance(r, Packet)]

    def send(self, message: Message, now_s: float, number: int | None = None) -> Packet:
        """One request; asserts exactly one reply and returns it."""
        if number is None:
            number, self.number = self.number, (self.number + 1) % 64
        replies = self.raw(message.encode(number), now_s)
        assert len(replies) == 1, replies
        return replies[0]

    def send_raw(self, command: int, data: bytes = b"", now_s: float = 0.0) -> Packet:
        replies = self.raw(encode_frame(self.number, command, data), now_s)
        self.number = (self.number + 1) % 64
        assert len(replies) == 1, replies
        return replies[0]

    def ask(self, message: Message, now_s: float) -> Any:
        reply = decode_message(self.send(message, now_s))
        assert not isinstance(reply, MessageError), reply
        return reply

    def outputs(self, event: str = "output") -> list[dict[str, Any]]:
        return [e for e in self.log if e["event"] == event]

    def commands(self) -> list[dict[str, Any]]:
        return [e for e in self.log if e["event"] == "command"]


@contextmanager
def sim_process(log: Path, *extra: str) -> Iterator[Simulator]:
    """The simulator as a process speaking ScienceMode4 on a pty; must exit with 0."""
    sim = Simulator(log, personality="sciencemode4", extra=extra)
    try:
        yield sim
    finally:
        assert sim.stop() == 0


def commands(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == "command"]
