"""The ScienceMode2 personality in-process: in virtual time (Sm2Sim), and in real time behind
an in-process port for the driver (LiveRehaStim), for the hasomed tests."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, cast

from tenssim.device import SimDevice
from tenssim.firmware import Firmware
from tenssim.inprocess import SimPort
from tenssim.personality import PersonalityOptions
from tenssim.scenario import ScenarioEvent
from tenssim.sciencemode2 import ScienceMode2

from tensctl.model.library import find_device
from tensctl.wire.sciencemode2 import (
    ChannelEntry,
    Command,
    DecodeError,
    Deframer,
    FrameError,
    InitAck,
    InitChannelListMode,
    Message,
    OtherCommand,
    Packet,
    StartChannelListMode,
    StimulationMode,
    build_frame,
    decode,
)


class Sm2Sim:
    """A RehaStim2 on a virtual clock: ``send`` bytes at a time, ``replies`` decoded."""

    def __init__(self, lenient: bool = False) -> None:
        profile, _ = find_device("hasomed-rehastim2")
        self.entries: list[dict[str, Any]] = []
        self.now = 0.0
        self.device = SimDevice(
            profile,
            0.0,
            personality="sciencemode2",
            lenient_watchdog=lenient,
            log=self.entries.append,
        )
        self._deframer = Deframer()
        self.number = 0

    def at(self, t: float) -> list[Message | OtherCommand | DecodeError | FrameError]:
        """Advance to ``t`` in 2 ms steps (as the real transport ticks); what came out."""
        out = self._take()
        while self.now < t:
            self.now = min(t, round(self.now + 0.002, 6))
            self.device.advance(self.now)
            out += self._take()
        return out

    def send(self, data: bytes | Message, t: float | None = None) -> list[Any]:
        if t is not None:
            self.at(t)
        # built without the range checks: the device must see (and refuse) bad values too
        raw = (
            build_frame(data.packet_number, data.COMMAND, data.data())
            if isinstance(data, Message)
            else data
        )
        self.device.receive(raw, self.now)
        return self._take()

    def _take(self) -> list[Any]:
        out: list[Any] = []
        for item in self._deframer.feed(self.device.take_output(self.now)):
            out.append(item if isinstance(item, FrameError) else decode(item))
        return out

    def next(self) -> int:
        self.number = (self.number + 1) & 0xFF
        return self.number

    def connect(self) -> None:
        self.send(InitAck(0, 0))

    def start(
        self,
        entries: dict[int, tuple[int, int, int]],
        main_code: int = 98,
        lf_factor: int = 0,
        lf_mask: int = 0,
        ipi_code: int = 13,
    ) -> tuple[list[Any], list[Any]]:
        """Init the list with ``entries``' channels and start it: (init reply, start reply)."""
        mask = sum(1 << (n - 1) for n in entries)
        init = self.send(
            InitChannelListMode(self.next(), lf_factor, mask, lf_mask, ipi_code, main_code, 0)
        )
        start = self.send(
            StartChannelListMode(
                self.next(), tuple(ChannelEntry(*entries[n]) for n in sorted(entries))
            )
        )
        return init, start

    def status(self) -> list[dict[str, Any]]:
        return self.device.status(self.now)

    def inject(self, event: ScenarioEvent) -> list[Any]:
        self.device.inject(event, self.now)
        return self._take()

    def outputs(self) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["event"] == "output"]

    def commands(self) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["event"] == "command"]


# ---- a RehaStim2 in-process in real time, for the driver's concurrency tests -------------


class SlowRehaStim(ScienceMode2):
    """Holds back the reply to the first command numbered ``hold`` (when set) until
    ``release`` is set: a reply that is slow to come, for as long as a test needs."""

    def __init__(self, firmware: Firmware, options: PersonalityOptions) -> None:
        super().__init__(firmware, options)
        self.hold: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._held: list[bytes] = []

    def handle(self, packet: Packet, now_s: float) -> list[bytes]:
        out = super().handle(packet, now_s)
        if packet.command == self.hold and not self.holding.is_set():
            self._held, out = out, []
            self.holding.set()
        return out

    def tick(self, now_s: float) -> list[bytes]:
        out = super().tick(now_s)
        if self.release.is_set() and self._held:
            out, self._held = self._held + out, []
        return out


class StuckRehaStim(SlowRehaStim):
    """Reports it is still stimulating, whatever it was told."""

    def handle(self, packet: Packet, now_s: float) -> list[bytes]:
        if packet.command == Command.GET_STIMULATION_MODE:
            self.mode = StimulationMode.STARTED
        return super().handle(packet, now_s)


class LiveRehaStim:
    """A personality on the simulator's output stage behind an in-process port, in real time
    (the device ticks on its own thread); ``entries`` is its log."""

    def __init__(self, personality: type[SlowRehaStim] = SlowRehaStim) -> None:
        self.profile, _ = find_device("hasomed-rehastim2")
        self.entries: list[dict[str, Any]] = []
        self.device = SimDevice(
            self.profile, time.monotonic(), personality="sciencemode2", log=self.entries.append
        )
        self.device.take_output(math.inf)  # the stock personality's power-up Init
        self.personality = personality(self.device.firmware, PersonalityOptions())
        self.device.personality = cast(Any, self.personality)
        self.port = SimPort(self.device, time.monotonic)
        self.port.start_ticking()

    def close(self) -> None:
        self.port.close()

    def commands(self) -> list[tuple[str, dict[str, Any]]]:
        with self.device.lock:
            return [(e["type"], e["fields"]) for e in self.entries if e["event"] == "command"]

    def outputs(self, channel: int) -> list[tuple[bool, int]]:
        with self.device.lock:
            return [
                (e["running"], e["amplitude_ua"])
                for e in self.entries
                if e["event"] == "output" and e["channel"] == channel
            ]
